"""A picture of one few-shot episode: each way's support clip with its masks, then the query
frames with the ground truth and the prediction (way ``n`` drawn in palette colour ``n + 1``)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

import cv2
import numpy as np

from evolve.vis.events import brighten
from evolve.vis.overlay import overlay_mask, side_by_side, voxel_event_picture


def _tile(rgb, scale: int) -> np.ndarray:
    img = (rgb.permute(1, 2, 0).clamp(0, 1).numpy() * 255).astype(np.uint8)
    img, _ = brighten(img)  # low-light frames: stretch for viewing
    return cv2.resize(img, (img.shape[1] * scale, img.shape[0] * scale), interpolation=cv2.INTER_NEAREST)


def _up(ids: np.ndarray, scale: int) -> np.ndarray:
    return np.kron(ids, np.ones((scale, scale), dtype=ids.dtype))


def _label(tile: np.ndarray, text: str) -> np.ndarray:
    out = tile.copy()
    cv2.rectangle(out, (0, 0), (min(out.shape[1], 7 * len(text) + 6), 14), (0, 0, 0), -1)
    cv2.putText(out, text, (3, 10), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def _stack(rows: list[np.ndarray], gap: int = 6) -> np.ndarray:
    width = max(r.shape[1] for r in rows)
    out = []
    for i, r in enumerate(rows):
        if r.shape[1] < width:
            r = np.concatenate([r, np.full((r.shape[0], width - r.shape[1], 3), 255, np.uint8)], 1)
        if i:
            out.append(np.full((gap, width, 3), 255, np.uint8))
        out.append(r)
    return np.concatenate(out, 0)


def episode_picture(episode, labels: np.ndarray, title: str = "", max_query_frames: int = 6, scale: int = 2,
                    query_frames: Optional[Sequence[int]] = None) -> np.ndarray:
    """The picture (uint8 (H, W, 3)).

    Rows: per way, the first shot's support frames with its mask (colour of the way); then the
    query frames (brightened low-light frame, events, ground truth, prediction) for up to
    ``max_query_frames`` frames spread over the clip.

    Args:
        episode: a loaded :class:`~evolve.data.episodes.Episode`.
        labels: int (T, H, W) predicted labels (0 background, ``n + 1`` way n).
        title: text on the first tile.
        scale: integer upscaling of every tile (pixels are small).
        query_frames: which query positions to show (default: spread).
    """
    n, _, s = episode.support_rgb.shape[:3]
    rows = []
    for w in range(n):
        tiles = []
        for f in range(s):
            ids = (episode.support_masks[w, 0, f].numpy() > 0.5).astype(np.int64) * (w + 1)
            tile = overlay_mask(_tile(episode.support_rgb[w, 0, f], scale), _up(ids, scale))
            tiles.append(_label(tile, f"way {w}: {episode.spec.ways[w]}"[:28]) if f == 0 else tile)
        rows.append(side_by_side(*tiles))
    T = episode.query_rgb.shape[0]
    picks = list(query_frames) if query_frames is not None else sorted(set(np.linspace(0, T - 1, min(max_query_frames, T)).round().astype(int).tolist()))
    gt = np.zeros((T, *episode.query_masks.shape[-2:]), np.int64)
    for w in range(n):
        gt[episode.query_masks[w].numpy() > 0.5] = w + 1
    for kind in ("frame", "events", "truth", "prediction"):
        tiles = []
        for t in picks:
            base = _tile(episode.query_rgb[t], scale)
            if kind == "events":
                ev = voxel_event_picture(episode.query_voxel[t])
                tile = cv2.resize(ev, (base.shape[1], base.shape[0]), interpolation=cv2.INTER_NEAREST)
            elif kind == "truth":
                tile = overlay_mask(base, _up(gt[t], scale))
            elif kind == "prediction":
                tile = overlay_mask(base, _up(np.asarray(labels[t], np.int64), scale))
            else:
                tile = base
            tiles.append(_label(tile, f"query {kind}" + (f" ({title})" if title and kind == "prediction" else "")) if t == picks[0] else tile)
        rows.append(side_by_side(*tiles))
    return _stack(rows)


def write_picture(path: str | Path, image: np.ndarray) -> None:
    """Write an RGB uint8 picture (PNG) atomically."""
    from evolve.data.image_io import write_frame

    write_frame(Path(path), image)
