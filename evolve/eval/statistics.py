"""Per-object statistics of a per-frame measure: Mean, Recall and Decay (DAVIS).

Source: ``davis2017-evaluation``, ``davis2017/utils.py::db_statistics``; DESIGN section 5.
The values are the per-frame J (or F) of one object over the evaluated frames (first and
last frame already dropped).

- Mean   = mean of the values.
- Recall = fraction of values > 0.5.
- Decay  = mean of the first quarter-bin minus mean of the last quarter-bin. With n values,
  bin edges are ``e_k = round_half_up(1 + k (n - 1) / 4) - 1`` for k = 0..4 and bin i is
  ``values[e_i : e_{i+1} + 1]`` (inclusive of the right edge, so neighbouring bins share
  a frame).

Difference from the official code: it stores the edges as ``uint8``, so for n > 256 they
wrap modulo 256 and its Decay is wrong. Here the edges are exact integers for any n.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

N_DECAY_BINS = 4


@dataclass(frozen=True)
class Statistics:
    """Mean, Recall and Decay of one measure (J or F) for one object; floats in [0, 1]
    (Decay in [-1, 1])."""

    mean: float
    recall: float
    decay: float


def decay_bin_edges(n: int) -> np.ndarray:
    """Decay bin edges for ``n`` per-frame values.

    Returns:
        int64 (5,): ``(k (n - 1) + 2) // 4`` for k = 0..4, which is the official
        ``round(linspace(1, n, 5) + 1e-10) - 1`` (round half up) in exact integer arithmetic.

    Raises:
        ValueError: ``n < 1``.
    """
    if n < 1:
        raise ValueError(f"need at least one value, got n = {n}")
    k = np.arange(N_DECAY_BINS + 1, dtype=np.int64)
    return (k * (n - 1) + 2) // N_DECAY_BINS


def decay(values: np.ndarray) -> float:
    """Decay of a 1-D series of per-frame values (float64 (n,), n >= 1): first-bin mean
    minus last-bin mean (module docstring).

    Raises:
        ValueError: empty or not 1-D.
    """
    v = _as_series(values)
    e = decay_bin_edges(v.size)
    first = v[e[0] : e[1] + 1]
    last = v[e[N_DECAY_BINS - 1] : e[N_DECAY_BINS] + 1]
    return float(first.mean() - last.mean())


def statistics(values: np.ndarray) -> Statistics:
    """Mean, Recall (> 0.5) and Decay of a 1-D series of per-frame values (n >= 1).

    Raises:
        ValueError: empty or not 1-D.
    """
    v = _as_series(values)
    return Statistics(mean=float(v.mean()), recall=float(np.mean(v > 0.5)), decay=decay(v))


def _as_series(values: np.ndarray) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 1 or v.size == 0:
        raise ValueError(f"per-frame values must be a non-empty 1-D array, got shape {v.shape}")
    return v
