"""Referring pictures: each expression beside its predicted masks on the (low-light) frames."""

from __future__ import annotations

import textwrap
from typing import Sequence

import cv2
import numpy as np

from evolve.vis.overlay import overlay_mask, side_by_side


def text_panel(text: str, height: int, width: int, scale: float = 0.4) -> np.ndarray:
    """uint8 (height, width, 3) white panel with ``text`` wrapped in black (OpenCV Hershey font)."""
    panel = np.full((height, width, 3), 255, np.uint8)
    chars = max(8, int(width / (14 * scale)))
    lines = textwrap.wrap(text, chars) or [""]
    step = int(28 * scale) + 4
    y = max(step, (height - step * len(lines)) // 2 + step)
    for line in lines:
        cv2.putText(panel, line, (4, y), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 1, cv2.LINE_AA)
        y += step
    return panel


def referring_grid(
    frames: Sequence[np.ndarray], rows: Sequence[tuple[str, Sequence[np.ndarray]]], gain: float = 1.0, text_width: int = 160,
    colour_id: int = 1, gap: int = 4, scale: int = 1,
) -> np.ndarray:
    """One row per expression: the sentence, then each frame with its predicted mask.

    Args:
        frames: uint8 (H, W, 3) frames shown in every row.
        rows: ``(expression, masks)`` with one bool (H, W) mask per frame.
        gain: display brightening of the frames (``clip(frame * gain)``; 1 = as recorded).
        text_width: width of the sentence panel in pixels.
        colour_id: palette entry of the mask colour (DAVIS palette).
        scale: integer upscaling of frames and masks (nearest neighbour) for small videos.
    Returns:
        uint8 (rows * (s H + gap), text_width + frames * (s W + gap), 3) picture, s = ``scale``.
    Raises:
        ValueError: a row with another number of masks than frames.
    """
    shown = [np.clip(f.astype(np.float32) * gain, 0, 255).astype(np.uint8).repeat(scale, 0).repeat(scale, 1) for f in frames]
    h = shown[0].shape[0]
    out_rows = []
    for text, masks in rows:
        if len(masks) != len(shown):
            raise ValueError(f"{len(masks)} masks for {len(shown)} frames")
        tiles = [text_panel(text, h, text_width)] + [
            overlay_mask(f, np.asarray(m).astype(np.uint8).repeat(scale, 0).repeat(scale, 1) * colour_id) for f, m in zip(shown, masks)
        ]
        out_rows.append(side_by_side(*tiles, gap=gap))
    w = out_rows[0].shape[1]
    parts = []
    for i, r in enumerate(out_rows):
        if i:
            parts.append(np.full((gap, w, 3), 255, np.uint8))
        parts.append(r)
    return np.concatenate(parts, axis=0)
