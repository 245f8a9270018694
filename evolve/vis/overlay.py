"""Object masks drawn over frames, and voxel grids as one event picture (eval and training views)."""

from __future__ import annotations

import cv2
import numpy as np
import torch

from evolve.data.image_io import davis_palette


def palette_colours(palette: bytes | None = None) -> np.ndarray:
    """uint8 (256, 3) colours of object ids (the DAVIS palette by default)."""
    pal = palette if palette is not None else davis_palette()
    return np.frombuffer(pal[:768], np.uint8).reshape(256, 3)


def overlay_mask(rgb: np.ndarray, ids: np.ndarray, palette: bytes | None = None, alpha: float = 0.5) -> np.ndarray:
    """Blend object colours into a frame and outline every object.

    Args:
        rgb: uint8 (H, W, 3) frame.
        ids: integer (H, W) object ids, 0 = background (left untouched).
        palette: 768-byte palette for the id colours (DAVIS palette when None).
        alpha: opacity of the object colour.

    Returns:
        uint8 (H, W, 3).

    Raises:
        ValueError: size mismatch between ``rgb`` and ``ids``.
    """
    if rgb.shape[:2] != ids.shape:
        raise ValueError(f"frame {rgb.shape[:2]} and mask {ids.shape} differ in size")
    colours = palette_colours(palette)
    out = rgb.astype(np.float32)
    fg = ids > 0
    out[fg] = (1 - alpha) * out[fg] + alpha * colours[ids[fg].astype(np.int64)]
    out = np.ascontiguousarray(out, dtype=np.uint8)  # OpenCV needs a C-ordered image
    for obj in np.unique(ids[fg]):
        contours, _ = cv2.findContours((ids == obj).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(out, contours, -1, tuple(int(c) for c in colours[int(obj)]), 1)
    return out


def voxel_event_picture(voxel: np.ndarray | torch.Tensor, percentile: float = 99.0) -> np.ndarray:
    """One picture of a voxel grid: the sum over bins (net polarity) on a blue-white-red map.

    Args:
        voxel: float (B, H, W) voxel grid.
        percentile: |sum| percentile (over non-zero pixels) mapped to full colour.

    Returns:
        uint8 (H, W, 3): red = net ON events, blue = net OFF, white = none.
    """
    from evolve.vis.events import diverging_colours, voxel_scale

    v = voxel.detach().cpu().float().numpy() if isinstance(voxel, torch.Tensor) else np.asarray(voxel, np.float32)
    net = v.sum(0)  # (H, W)
    return diverging_colours(net / voxel_scale(net[None], percentile))


def side_by_side(*images: np.ndarray, gap: int = 4) -> np.ndarray:
    """Concatenate uint8 (H, W, 3) images of equal height horizontally with white gaps."""
    h = images[0].shape[0]
    parts = []
    for i, im in enumerate(images):
        if im.shape[0] != h:
            raise ValueError("images must have the same height")
        if i:
            parts.append(np.full((h, gap, 3), 255, np.uint8))
        parts.append(im)
    return np.concatenate(parts, axis=1)
