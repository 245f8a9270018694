"""Slow, obviously-correct transcriptions of the DAVIS J and F definitions (test oracles).

Written from the definitions in docs/evaluation.md, not from evolve.eval: boundaries by a
per-pixel loop (small masks) or by 2x2 max/min filters (scipy.ndimage), matching by exact
Euclidean nearest-neighbour distance between boundary pixels (scipy.spatial.cKDTree).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree


def loop_boundary(mask: np.ndarray) -> np.ndarray:
    """Boundary by the letter of the rule, one pixel at a time.

    Pixel (y, x) is a boundary pixel when it differs from its east, south or south-east
    neighbour; on the last row only east is compared, on the last column only south; the
    bottom-right pixel never is.
    """
    m = np.asarray(mask, bool)
    h, w = m.shape
    out = np.zeros((h, w), bool)
    for y in range(h):
        for x in range(w):
            last_row, last_col = y == h - 1, x == w - 1
            if last_row and last_col:
                continue
            if last_row:
                out[y, x] = m[y, x] != m[y, x + 1]
            elif last_col:
                out[y, x] = m[y, x] != m[y + 1, x]
            else:
                out[y, x] = m[y, x] != m[y, x + 1] or m[y, x] != m[y + 1, x] or m[y, x] != m[y + 1, x + 1]
    return out


def filter_boundary(mask: np.ndarray) -> np.ndarray:
    """The same rule with 2x2 forward-looking max/min filters; edge pixels are replicated,
    which turns the south/south-east comparisons of the last row (east/south-east of the
    last column) into no-ops. Checked against :func:`loop_boundary` in the tests."""
    m = np.asarray(mask, bool)
    hi = ndimage.maximum_filter(m, size=2, mode="nearest", origin=-1)
    lo = ndimage.minimum_filter(m, size=2, mode="nearest", origin=-1)
    return hi != lo


def tolerance(h: int, w: int) -> int:
    return math.ceil(0.008 * math.sqrt(h * h + w * w))


def matched_fraction(points: np.ndarray, other: np.ndarray, radius: int) -> float:
    """Fraction of ``points`` (K, 2) with a point of ``other`` at Euclidean distance <= radius."""
    d, _ = cKDTree(other).query(points, k=1)
    return float(np.count_nonzero(d <= radius + 1e-9)) / len(points)


def jf(gt: np.ndarray, pred: np.ndarray, boundary=filter_boundary) -> tuple[float, float]:
    """(J, F) of one object mask pair."""
    g, p = np.asarray(gt, bool), np.asarray(pred, bool)
    union = np.logical_or(g, p).sum()
    j = 1.0 if union == 0 else np.logical_and(g, p).sum() / union
    gb, pb = np.argwhere(boundary(g)), np.argwhere(boundary(p))
    r = tolerance(*g.shape)
    if len(gb) == 0 and len(pb) == 0:
        precision, recall = 1.0, 1.0
    elif len(pb) == 0:
        precision, recall = 1.0, 0.0
    elif len(gb) == 0:
        precision, recall = 0.0, 1.0
    else:
        precision = matched_fraction(pb, gb, r)
        recall = matched_fraction(gb, pb, r)
    f = 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)
    return float(j), float(f)


def decay_loop(values) -> float:
    """Decay: split positions 1 + k (n - 1) / 4 (k = 0..4) rounded half up, 1-based ->
    0-based; bin i spans positions e_i..e_{i+1} inclusive; first-bin mean minus last-bin mean."""
    v = [float(x) for x in values]
    n = len(v)
    edges = [math.floor(1 + k * (n - 1) / 4 + 0.5) - 1 for k in range(5)]
    first = v[edges[0] : edges[1] + 1]
    last = v[edges[3] : edges[4] + 1]
    return sum(first) / len(first) - sum(last) / len(last)
