"""Shared helpers for the model and inference tests: tiny networks and clips."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from evolve.model.evolve import EVOLVE, load_model_config


def build(name: str = "small", overrides: tuple[str, ...] = (), single_object: bool = False, seed: int = 0) -> EVOLVE:
    """A freshly initialised network (seeded), in eval mode."""
    torch.manual_seed(seed)
    return EVOLVE(load_model_config(name, list(overrides)), single_object=single_object).eval()


def object_masks(height: int, width: int, num_objects: int) -> torch.Tensor:
    """(H, W) int64 id mask with ``num_objects`` disjoint rectangles (ids 1..N)."""
    ids = torch.zeros(height, width, dtype=torch.long)
    for k in range(num_objects):
        top = (k * height) // max(num_objects, 1)
        ids[top + 2 : top + height // max(num_objects, 1) - 2, 4 + 3 * k : width - 4 - 3 * k] = k + 1
    return ids


def make_clip(batch: int = 1, frames: int = 4, num_objects: int = 2, height: int = 64, width: int = 64, seed: int = 0, bins: int = 5) -> dict:
    """A training-clip dict as in docs/architecture.md, with objects that drift by one pixel per frame."""
    g = torch.Generator().manual_seed(seed)
    ids = object_masks(height, width, num_objects)
    cls = torch.stack([torch.roll(ids, shifts=t, dims=1) for t in range(frames)])  # (T, H, W)
    cls = cls[None, :, None].expand(batch, frames, 1, height, width).clone()
    first = F.one_hot(cls[:, 0, 0], num_objects + 1).permute(0, 3, 1, 2)[:, 1:].float()
    return {
        "rgb": torch.rand(batch, frames, 3, height, width, generator=g),
        "voxel": torch.randn(batch, frames, bins, height, width, generator=g),
        "cls_gt": cls,
        "first_frame_gt": first.unsqueeze(1),
        "selector": torch.ones(batch, num_objects),
        "info": {"num_objects": torch.full((batch,), num_objects)},
    }
