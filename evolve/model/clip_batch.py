"""What every training wrapper first reads from a collated clip batch (docs/training.md: the
batch keys of the semi-supervised datasets): its size, the real object count of each clip, the
object selector and the voxel grids, with the same checks for every network."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from torch import Tensor


@dataclass
class ClipBatchView:
    """The shared part of a clip batch, objects trimmed to the largest count in the batch.

    Fields:
        batch_size: B clips.
        seq_len: T frames per clip (>= 2).
        num_objects: list[int] of B real object counts (>= 1 each).
        selector: (B, N) float32, 1 for the real objects of each clip, N = max(num_objects).
        voxel: (B, T, C, H, W) float32 voxel grids, or None when the network has events off.
    """

    batch_size: int
    seq_len: int
    num_objects: list[int]
    selector: Tensor
    voxel: Optional[Tensor]


def read_clip_batch(batch: dict[str, Any], events: bool) -> ClipBatchView:
    """Read the clip size, object counts, selector and voxel grids of a collated batch.

    The object counts come from each clip's ``info["num_objects"]`` written by the sampler (no
    device-to-host read); a batch without them (hand-made in tests) falls back to the selector's
    row sums.

    Args:
        batch: ``rgb`` (B, T, 3, H, W), ``selector`` (B, N_max), optional ``info`` (list of B dicts)
            and ``voxel`` (B, T, C, H, W).
        events: whether the network reads voxel grids.
    Returns:
        a :class:`ClipBatchView`.
    Raises:
        ValueError: T < 2, a clip without objects, or ``events`` with no ``voxel`` in the batch.
    """
    b, seq_len = batch["rgb"].shape[:2]
    if seq_len < 2:
        raise ValueError(f"a training clip needs at least 2 frames, got {seq_len}")
    selector_full = batch["selector"].float()  # (B, N_max)
    infos = batch.get("info")
    if isinstance(infos, list) and len(infos) == b and all(isinstance(i, dict) and "num_objects" in i for i in infos):
        num_objects = [int(i["num_objects"]) for i in infos]
    else:
        num_objects = [int(round(float(s))) for s in selector_full.sum(dim=1)]
    if min(num_objects) < 1:
        raise ValueError(f"every clip needs at least one object; selector sums are {num_objects}")
    voxel = batch.get("voxel") if events else None
    if events and voxel is None:
        raise ValueError("the network has events on but the batch has no 'voxel'")
    return ClipBatchView(b, seq_len, num_objects, selector_full[:, : max(num_objects)], voxel)
