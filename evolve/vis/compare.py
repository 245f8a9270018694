"""Side-by-side pictures of several runs' predictions on an LLE-format dataset.

    evolve-compare <lle root> --out fig.png --sequences blackswan car-shadow \\
        --frames 10 30 --pred events=output/a/lle-davis --pred frames=output/b/lle-davis

One row per (sequence, frame): the brightened low-light frame | its event picture (voxel grid
summed over bins) | ground truth | each prediction, every mask drawn over the frame. Columns are
labelled; the picture is written atomically as PNG.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from evolve.data.image_io import read_mask
from evolve.data.layout import detect_layout, index_sequence
from evolve.data.voxel import frame_voxel_grid
from evolve.utils.errors import InputError
from evolve.vis.events import brighten
from evolve.vis.overlay import overlay_mask, side_by_side, voxel_event_picture


def _label(tile: np.ndarray, text: str) -> np.ndarray:
    out = tile.copy()
    cv2.rectangle(out, (0, 0), (min(out.shape[1], 9 * len(text) + 8), 18), (0, 0, 0), -1)
    cv2.putText(out, text, (4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def comparison_row(root: str | Path, seq: str, index: int, preds: dict[str, Path], height: int = 240) -> np.ndarray:
    """One labelled row for frame ``index`` of ``seq``: uint8 (height, W, 3).

    Raises:
        InputError: missing frame, ground truth or prediction file.
    """
    layout = detect_layout(root)
    files = index_sequence(layout, seq)
    if not 0 <= index < len(files.frames):
        raise InputError(layout.image_folder(seq), f"no frame {index} (the sequence has {len(files.frames)})", "pick another frame index")
    from evolve.data.image_io import read_frame

    stem = files.frames[index]
    rgb = read_frame(files.frame_files[index])  # (H, W, 3) uint8
    h, w = rgb.shape[:2]
    bright, _ = brighten(rgb)
    tiles = [_label(bright, "low-light")]
    if files.has_events:
        tiles.append(_label(voxel_event_picture(frame_voxel_grid(files, index, (h, w))), "events"))
    if stem in files.mask_files:
        gt, palette = read_mask(files.mask_files[stem])
        tiles.append(_label(overlay_mask(bright, gt, palette), "ground truth"))
    else:
        palette = None
    for name, folder in preds.items():
        ids, _ = read_mask(Path(folder) / seq / f"{stem}.png")
        if ids.shape != (h, w):
            raise InputError(Path(folder) / seq / f"{stem}.png", f"prediction is {ids.shape[1]}x{ids.shape[0]}, frame {w}x{h}", "compare predictions made on this dataset")
        tiles.append(_label(overlay_mask(bright, ids, palette), name))
    scale = height / h
    tiles = [cv2.resize(t, (round(w * scale), height), interpolation=cv2.INTER_AREA) for t in tiles]
    return side_by_side(*tiles)
