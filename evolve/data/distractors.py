"""Swap-and-attach: paste another clip's objects into a clip as distractors (EMVOS's training
augmentation, Cho et al. 2022, arXiv 2209.03139; docs/emvos.md).

Batch level: clip b receives the objects of clip b-1 (cyclically) on every frame, pixels and
voxel grid (a pasted object carries its own events), and its own objects lose the pixels the
pasted objects cover (they are occluded). A clip whose target would vanish on frame 0 is left
unchanged (the first-frame mask must show every object).
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor


def swap_and_attach(
    rgb: Tensor, voxel: Optional[Tensor], objects: Tensor, selector: Optional[Tensor] = None
) -> tuple[Tensor, Optional[Tensor], Tensor, Tensor]:
    """Paste the objects of clip b-1 into clip b, for every clip of the batch.

    Args:
        rgb: (B, T, 3, H, W) frames.
        voxel: (B, T, bins, H, W) voxel grids, or None.
        objects: (B, T, N, H, W) float masks in {0, 1} of each clip's objects.
        selector: (B, N) 1 for real objects (None = all real).
    Returns:
        rgb, voxel (or None), objects after pasting, and a bool (B,) tensor saying which clips
        received the pasted objects (False: left unchanged because a real object would have
        vanished on frame 0). With B = 1 nothing changes (a clip cannot be its own distractor).
    """
    b = rgb.shape[0]
    if b < 2:
        return rgb, voxel, objects, torch.zeros(b, dtype=torch.bool, device=rgb.device)
    sel = torch.ones(objects.shape[0], objects.shape[2], device=objects.device) if selector is None else selector.float()
    union = (objects * sel[:, None, :, None, None]).amax(dim=2, keepdim=True)  # (B, T, 1, H, W)
    pasted = torch.roll(union, shifts=1, dims=0)  # clip b gets clip b-1's objects
    new_objects = objects * (1 - pasted)
    # keep a clip unchanged if a real object would have no pixel left on frame 0
    left = new_objects[:, 0].flatten(2).amax(dim=2)  # (B, N)
    ok = ((left > 0) | (sel == 0)).all(dim=1)  # (B,)
    gate = pasted * ok.view(b, 1, 1, 1, 1).to(pasted.dtype)  # (B, T, 1, H, W)
    rgb = rgb * (1 - gate) + torch.roll(rgb, shifts=1, dims=0) * gate
    if voxel is not None:
        voxel = voxel * (1 - gate) + torch.roll(voxel, shifts=1, dims=0) * gate
    objects = objects * (1 - gate)
    return rgb, voxel, objects, ok
