"""Pad to a multiple of the network stride and undo it (DESIGN 5: input padded to /16), and the
resize-and-pad of one frame's inputs that every streaming core does before its network."""

from __future__ import annotations

import torch
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


def reflect_pad_to_multiple(x: Tensor, multiple: int = 16) -> tuple[Tensor, tuple[int, int, int, int]]:
    """Reflect-pad the last two axes of ``x`` to multiples of ``multiple`` (the extra pixel at the
    bottom/right; replicate padding where the side is too short to reflect).

    Args:
        x: (B, C, H, W) float.
    Returns:
        padded (B, C, H', W') and pads (left, right, top, bottom) for
        :func:`unpad`.
    """
    h, w = x.shape[-2:]
    ph = (multiple - h % multiple) % multiple
    pw = (multiple - w % multiple) % multiple
    pads = (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2)
    if ph == 0 and pw == 0:
        return x, pads
    mode = "reflect" if max(pads[0], pads[1]) < w and max(pads[2], pads[3]) < h else "replicate"
    return F.pad(x, pads, mode=mode), pads


def prepare_step_inputs(
    frame: Tensor,
    voxel_grid: Tensor | None,
    mask: Tensor | None,
    size: tuple[int, int],
    device: torch.device,
    pad: str = "zeros",
) -> tuple[Tensor, Tensor | None, Tensor | None, tuple[int, int, int, int]]:
    """One frame's network inputs at the working size, padded to a multiple of 16.

    The image is resized bilinearly with antialiasing, the voxel grid and the id mask with
    nearest neighbours (event counts and ids are not blended); then all three get the same pads.

    Args:
        frame: (3, H, W) float in [0, 1].
        voxel_grid: (B, H, W) float or None (frames only).
        mask: (H, W) integer id mask or None.
        size: the working (height, width), from :func:`evolve.data.video_reader.resized_size`.
        device: where the inputs go.
        pad: ``zeros`` (:func:`pad_to_multiple`, Cutie/EVOLVE) or ``reflect``
            (:func:`reflect_pad_to_multiple`, EMVOS).
    Returns:
        image (1, 3, H', W') float32, voxel (1, B, H', W') float32 or None, id mask (H', W') int64
        or None, and the pads (left, right, top, bottom) for :func:`unpad`.
    Raises:
        ValueError: an unknown ``pad``.
    """
    if pad not in ("zeros", "reflect"):
        raise ValueError(f"pad must be 'zeros' or 'reflect', got {pad!r}")
    pad_fn = pad_to_multiple if pad == "zeros" else reflect_pad_to_multiple
    height, width = frame.shape[-2:]
    image = frame.to(device, torch.float32)[None]  # (1, 3, H, W)
    voxel = voxel_grid.to(device, torch.float32)[None] if voxel_grid is not None else None  # (1, B, H, W)
    id_mask = mask.to(device, torch.int64) if mask is not None else None  # (H, W)
    if tuple(size) != (height, width):
        image = F.interpolate(image, size=size, mode="bilinear", align_corners=False, antialias=True)
        if voxel is not None:
            voxel = F.interpolate(voxel, size=size, mode="nearest")
        if id_mask is not None:
            id_mask = F.interpolate(id_mask[None, None].float(), size=size, mode="nearest")[0, 0].long()
    image, pads = pad_fn(image, 16)  # (1, 3, H', W')
    if voxel is not None:
        voxel, _ = pad_fn(voxel, 16)
    if id_mask is not None:
        id_mask = pad_fn(id_mask[None, None].float(), 16)[0][0, 0].long()  # (H', W')
    return image, voxel, id_mask, pads
