"""Small synthetic DAVIS-layout datasets for the evaluator tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from evolve.data.image_io import write_mask

H, W = 48, 64


def moving_squares(n_frames: int, objects: dict[int, tuple[int, int, int]], step: int = 2) -> list[np.ndarray]:
    """Masks (H, W) uint8 where object k is a square (top, left, size) moving ``step`` px right per frame."""
    out = []
    for t in range(n_frames):
        m = np.zeros((H, W), np.uint8)
        for k, (top, left, size) in objects.items():
            m[top : top + size, left + step * t : left + step * t + size] = k
        out.append(m)
    return out


def write_sequence(root: Path, name: str, masks: list[np.ndarray]) -> Path:
    folder = root / name
    for t, m in enumerate(masks):
        write_mask(folder / f"{t:05d}.png", m)
    return folder


@pytest.fixture
def small_dataset(tmp_path: Path) -> tuple[Path, Path, dict]:
    """Two sequences: 'alpha' (6 frames, 2 objects), 'beta' (5 frames, 1 object).

    The prediction is the ground truth with object 1 of 'alpha' shifted 3 px down and
    'beta' shifted 2 px right; object 2 of 'alpha' is perfect. Returns (gt_dir, pred_dir,
    masks) with masks[seq] = (gt list, pred list).
    """
    gt_dir, pred_dir = tmp_path / "gt", tmp_path / "pred"
    masks = {}
    a_gt = moving_squares(6, {1: (4, 4, 12), 2: (25, 30, 15)})
    a_pred = []
    for m in a_gt:
        p = np.where(m == 1, 0, m).astype(np.uint8)
        p[np.roll(m == 1, 3, axis=0)] = 1
        a_pred.append(p)
    b_gt = moving_squares(5, {1: (10, 10, 20)}, step=1)
    b_pred = [np.roll(m, 2, axis=1) for m in b_gt]
    for name, (g, p) in {"alpha": (a_gt, a_pred), "beta": (b_gt, b_pred)}.items():
        write_sequence(gt_dir, name, g)
        write_sequence(pred_dir, name, p)
        masks[name] = (g, p)
    return gt_dir, pred_dir, masks
