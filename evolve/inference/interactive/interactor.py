"""Running the interaction network on one frame for every object (GLTM's A-Net step)."""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import torch
from torch import Tensor

from evolve.data.scribbles import Stroke, interaction_maps
from evolve.model.interaction.network import InteractionNet
from evolve.model.layers import aggregate_probabilities


class Interactor:
    """Scribbles on a frame -> per-object probabilities and indicator features.

    Args:
        network: an :class:`~evolve.model.interaction.network.InteractionNet` (``GLTM.anet`` for
            GLTM) in eval mode on ``device``.
        device: where it runs.
    """

    def __init__(self, network: InteractionNet, device: torch.device | str = "cpu") -> None:
        self.network = network
        self.device = torch.device(device)

    @torch.no_grad()
    def run(
        self, rgb: Tensor, voxel: Optional[Tensor], strokes: Sequence[Stroke], object_ids: Sequence[int], prev_ids: Optional[np.ndarray],
    ) -> tuple[Tensor, Tensor]:
        """Segment every object of ``object_ids`` on one frame.

        Args:
            rgb: float (3, H, W) in [0, 1]; voxel: float (B, H, W) or None.
            strokes: the frame's strokes (all objects).
            object_ids: objects to segment (batch order).
            prev_ids: int (H, W) object ids of the previous round on this frame, or None (first
                interaction on it: previous mask 0.5 everywhere, no negative map; GLTM).
        Returns:
            ``(prob, indicator)``: float32 (N, H, W) sigmoid probabilities and (N, C_z, h, w)
            indicator features, on the CPU.
        """
        h, w = rgb.shape[-2:]
        prev, pos, neg = [], [], []
        for obj in object_ids:
            p, n = interaction_maps(strokes, int(obj), h, w, prev_ids)
            pos.append(p)
            neg.append(n)
            prev.append(np.full((h, w), 0.5, np.float32) if prev_ids is None else (prev_ids == obj).astype(np.float32))
        k = len(object_ids)
        to = lambda xs: torch.from_numpy(np.stack(xs))[:, None].to(self.device)  # noqa: E731
        image = rgb.to(self.device, torch.float32)[None].expand(k, -1, -1, -1)
        vox = voxel.to(self.device, torch.float32)[None].expand(k, -1, -1, -1) if (voxel is not None and self.network.events) else None
        out = self.network(image, to(prev), to(pos), to(neg), vox)
        return torch.sigmoid(out.logits[:, 0]).float().cpu(), out.indicator.float().cpu()


def to_distribution(object_probs: Tensor) -> Tensor:
    """(N, H, W) independent object probabilities -> (1+N, H, W) distribution (background
    first) by soft aggregation (:func:`evolve.model.layers.aggregate_probabilities`)."""
    if object_probs.shape[0] == 0:
        return torch.ones(1, *object_probs.shape[-2:])
    return torch.softmax(aggregate_probabilities(object_probs[None].float(), dim=1), dim=1)[0]
