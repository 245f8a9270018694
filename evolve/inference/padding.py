"""Pad to a multiple of the network stride and undo it (DESIGN 5: input padded to /16)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


def pad_to_multiple(x: Tensor, multiple: int = 16) -> tuple[Tensor, tuple[int, int, int, int]]:
    """Zero-pad the last two axes of ``x`` to multiples of ``multiple``, split evenly (extra pixel
    at the bottom/right).

    Args:
        x: (..., H, W).
    Returns:
        padded (..., H', W') and pads (left, right, top, bottom) in pixels.
    """
    h, w = x.shape[-2:]
    ph = (multiple - h % multiple) % multiple
    pw = (multiple - w % multiple) % multiple
    pads = (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2)
    if ph == 0 and pw == 0:
        return x, pads
    return F.pad(x, pads), pads


def unpad(x: Tensor, pads: tuple[int, int, int, int]) -> Tensor:
    """Crop what :func:`pad_to_multiple` added: (..., H', W') -> (..., H, W)."""
    left, right, top, bottom = pads
    h, w = x.shape[-2:]
    return x[..., top : h - bottom, left : w - right]
