"""The DAVIS interactive summary: the J&F-vs-time curve, its AUC and J&F@60s.

Definitions (DAVIS interactive benchmark, Caelles et al. 2018; docs/interactive.md):

- per interaction round r, ``metric[r]`` = the mean J&F after round r over every (sequence,
  scribble set, object), and ``time[r]`` = the cumulative mean time: the mean over samples
  (sequence, scribble set) of the seconds spent in rounds 1..r;
- the curve is ``(0, 0), (time[1], metric[1]), ..., (time[R], metric[R])`` extended flat to
  ``(max_time, metric[R])``, where ``max_time`` is the session timeout (mean objects per sample
  x the time budget per object; GLTM: 8 x 30 s per object) or the last time when that is larger;
- **AUC** = trapezoid area under the curve / the largest time of the curve;
- **J&F@60s** = the curve linearly interpolated at 60 s (the last value beyond the last point).

The published GLTM summary (AUC 0.8150, J&F@60s 0.8271 on DAVIS 2017 val) follows from its
curve with exactly these rules (tests/interactive/test_curve.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np


@dataclass
class InteractiveCurve:
    """A J&F-vs-time curve and its summary numbers.

    Attributes:
        time: seconds, (R + 2,) float64: 0, the cumulative mean time after each round, max time.
        metric: (R + 2,) float64: 0, the mean metric after each round, the last value again.
        auc: area under the curve / max time.
        at_threshold: the curve at ``threshold`` seconds.
        threshold: seconds (60).
        per_round: (R,) metric after each round (the time-independent curve).
    """

    time: np.ndarray
    metric: np.ndarray
    auc: float
    at_threshold: float
    threshold: float = 60.0
    per_round: list[float] = field(default_factory=list)

    def to_dict(self, metric_name: str = "J_AND_F") -> dict:
        """The summary in DAVIS's ``summary.json`` layout plus the per-round curve."""
        return {
            "auc": self.auc,
            "metric_at_threshold": {"threshold": self.threshold, metric_name: self.at_threshold},
            "curve": {"time": [float(t) for t in self.time], metric_name: [float(m) for m in self.metric]},
            "per_round": {metric_name: [float(m) for m in self.per_round]},
        }


def interactive_curve(round_times: Sequence[float], round_metric: Sequence[float], max_time: float, threshold: float = 60.0) -> InteractiveCurve:
    """The summary curve from per-round numbers.

    Args:
        round_times: (R,) mean seconds spent in each round (not cumulative), >= 0.
        round_metric: (R,) mean metric after each round.
        max_time: session timeout in seconds (the curve is extended to it).
        threshold: the time of the "@" number (60 s).
    Returns:
        :class:`InteractiveCurve`.
    Raises:
        ValueError: lengths differ, no round, a negative time, or a non-positive max_time.
    """
    times = np.asarray(round_times, dtype=np.float64)
    metric = np.asarray(round_metric, dtype=np.float64)
    if times.shape != metric.shape or times.ndim != 1 or len(times) == 0:
        raise ValueError(f"round_times and round_metric must be equal-length 1-D, got {times.shape} and {metric.shape}")
    if (times < 0).any() or not max_time > 0:
        raise ValueError("round times must be >= 0 and max_time > 0")
    cum = np.cumsum(times)
    t = np.concatenate([[0.0], cum, [max(float(max_time), float(cum[-1]))]])
    m = np.concatenate([[0.0], metric, [metric[-1]]])
    area = float(np.sum((t[1:] - t[:-1]) * (m[1:] + m[:-1]) * 0.5))  # trapezoid rule
    auc = area / float(t.max())
    at = float(np.interp(threshold, t, m))
    return InteractiveCurve(time=t, metric=m, auc=auc, at_threshold=at, threshold=threshold, per_round=[float(v) for v in metric])


def mean_over_samples(values: np.ndarray) -> np.ndarray:
    """(S, R) per-sample numbers -> (R,) means, ignoring NaN (rounds a timed-out sample did not
    run reuse its last result in :mod:`evolve.eval.interactive.protocol`, so NaN never occurs there)."""
    return np.nanmean(np.asarray(values, dtype=np.float64), axis=0)
