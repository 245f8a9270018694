"""Colour pictures of events and voxel grids (reused by the synthesis previews and eval overlays).

- :func:`event_image`: per pixel, the sign of (ON count - OFF count): ON-dominated pixels red,
  OFF-dominated blue, pixels with as many ON as OFF events purple, no event = background
  (black or white).
- :func:`voxel_to_rgb`: each voxel bin through a diverging map, blue (negative) - white (0) -
  red (positive), scaled symmetrically by ``vmax`` (default: the 99th percentile of |V| over
  non-zero cells, so a few hot pixels do not wash the picture out).
"""

from __future__ import annotations

import numpy as np
import torch

from evolve.data.events import EventChunk

ON_COLOUR = (255, 0, 0)
OFF_COLOUR = (0, 0, 255)
MIXED_COLOUR = (160, 0, 160)


def event_image(
    x: np.ndarray, y: np.ndarray, p: np.ndarray, height: int, width: int, background: str = "black"
) -> np.ndarray:
    """Render events as an RGB image.

    Args:
        x, y: integer (N,) pixel columns / rows inside the frame.
        p: (N,) polarity, > 0 ON, otherwise OFF ({-1, +1} or {0, 1}).
        height, width: image size in pixels.
        background: ``black`` or ``white``.

    Returns:
        uint8 (H, W, 3) RGB.

    Raises:
        ValueError: unknown background or coordinates outside the image.
    """
    if background not in ("black", "white"):
        raise ValueError(f"background must be black or white, got {background!r}")
    x, y, p = (np.asarray(a) for a in (x, y, p))
    img = np.full((height, width, 3), 0 if background == "black" else 255, np.uint8)
    if x.size == 0:
        return img
    if x.min() < 0 or y.min() < 0 or x.max() >= width or y.max() >= height:
        raise ValueError(f"event coordinates outside the {width}x{height} image")
    flat = y.astype(np.int64) * width + x.astype(np.int64)
    sign = np.where(p > 0, 1, -1)
    net = np.bincount(flat, weights=sign, minlength=height * width).reshape(height, width)
    hit = np.bincount(flat, minlength=height * width).reshape(height, width) > 0
    img[hit & (net > 0)] = ON_COLOUR
    img[hit & (net < 0)] = OFF_COLOUR
    img[hit & (net == 0)] = MIXED_COLOUR
    return img


def chunk_event_image(chunk: EventChunk, height: int, width: int, background: str = "black") -> np.ndarray:
    """:func:`event_image` of an :class:`EventChunk`: uint8 (H, W, 3)."""
    return event_image(chunk.x, chunk.y, chunk.p, height, width, background)


def diverging_colours(values: np.ndarray) -> np.ndarray:
    """Map values in [-1, 1] to RGB: -1 blue (0, 0, 255), 0 white, +1 red (255, 0, 0).

    Args:
        values: float array of any shape (clipped to [-1, 1]).

    Returns:
        uint8 array of shape ``values.shape + (3,)``.
    """
    v = np.clip(np.asarray(values, np.float32), -1.0, 1.0)
    pos, neg = np.clip(v, 0, 1), np.clip(-v, 0, 1)
    r = 1.0 - neg
    g = 1.0 - pos - neg
    b = 1.0 - pos
    return (np.stack([r, g, b], -1) * 255.0 + 0.5).astype(np.uint8)


def voxel_scale(voxel: np.ndarray | torch.Tensor, percentile: float = 99.0) -> float:
    """Symmetric colour scale of a voxel grid: the ``percentile`` of |V| over non-zero cells (>= 1e-6)."""
    v = voxel.detach().cpu().numpy() if isinstance(voxel, torch.Tensor) else np.asarray(voxel)
    nz = np.abs(v[v != 0])
    return float(max(np.percentile(nz, percentile), 1e-6)) if nz.size else 1.0


def voxel_to_rgb(voxel: np.ndarray | torch.Tensor, vmax: float | None = None) -> np.ndarray:
    """Colour every bin of a voxel grid with the blue-white-red diverging map.

    Args:
        voxel: float (B, H, W) voxel grid (numpy or tensor).
        vmax: value mapped to full red/blue; default :func:`voxel_scale`.

    Returns:
        uint8 (B, H, W, 3) RGB, one picture per bin.

    Raises:
        ValueError: ``voxel`` is not 3-D.
    """
    v = voxel.detach().cpu().float().numpy() if isinstance(voxel, torch.Tensor) else np.asarray(voxel, np.float32)
    if v.ndim != 3:
        raise ValueError(f"voxel grid must be (B, H, W), got shape {v.shape}")
    scale = voxel_scale(v) if vmax is None else float(vmax)
    return diverging_colours(v / max(scale, 1e-12))


def brighten(rgb: np.ndarray, percentile: float = 99.0) -> tuple[np.ndarray, float]:
    """Scale a dark uint8 RGB frame so its ``percentile`` reaches 255.

    Returns:
        ``(uint8 (H, W, 3), gain)``.
    """
    top = float(np.percentile(rgb, percentile))
    gain = 255.0 / max(top, 1.0)
    return np.clip(rgb.astype(np.float32) * gain + 0.5, 0, 255).astype(np.uint8), gain
