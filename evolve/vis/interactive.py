"""Pictures of interactive VOS: the J&F curves of a protocol run and scribbles drawn on frames."""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

import cv2
import numpy as np

from evolve.data.scribbles import Stroke
from evolve.utils.atomic import atomic_path
from evolve.vis.overlay import palette_colours


def plot_curves(curve, round_path: Path, time_path: Path, label: str = "") -> None:
    """Write the J&F-vs-round and J&F-vs-time plots (PNG, matplotlib's Agg backend).

    Args:
        curve: an :class:`~evolve.eval.interactive.curve.InteractiveCurve`.
        round_path, time_path: output files.
        label: legend text (method name).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rounds = np.arange(1, len(curve.per_round) + 1)
    fig, ax = plt.subplots(figsize=(4.5, 3.2), dpi=120)
    ax.plot(rounds, curve.per_round, marker="o", label=label or None)
    ax.set_xlabel("interaction round")
    ax.set_ylabel("J&F")
    ax.set_xticks(rounds)
    ax.grid(alpha=0.3)
    if label:
        ax.legend()
    fig.tight_layout()
    with atomic_path(round_path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(4.5, 3.2), dpi=120)
    ax.plot(curve.time, curve.metric, marker=".", label=label or None)
    ax.axvline(curve.threshold, color="grey", linestyle="--", linewidth=0.8)
    ax.set_xlabel("cumulative time (s)")
    ax.set_ylabel("J&F")
    ax.set_title(f"AUC {curve.auc:.3f}, J&F@{curve.threshold:.0f}s {curve.at_threshold:.3f}", fontsize=9)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    with atomic_path(time_path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def draw_strokes(rgb: np.ndarray, strokes: Sequence[Stroke], palette: Optional[bytes] = None, thickness: int = 3) -> np.ndarray:
    """Scribbles over an image: object strokes in their palette colour, background strokes white,
    negative strokes dashed-looking (drawn thin in black under the colour).

    Args:
        rgb: uint8 (H, W, 3).
        strokes: normalised strokes.
    Returns:
        uint8 (H, W, 3) copy with the strokes drawn.
    """
    out = np.ascontiguousarray(rgb.copy())
    h, w = out.shape[:2]
    colours = palette_colours(palette)
    for s in strokes:
        pts = s.pixels(h, w)[:, ::-1].astype(np.int32).reshape(-1, 1, 2)  # (x, y)
        colour = (255, 255, 255) if s.object_id == 0 else tuple(int(c) for c in colours[s.object_id % len(colours)])
        cv2.polylines(out, [pts], False, (0, 0, 0), thickness + 2, lineType=cv2.LINE_AA)
        cv2.polylines(out, [pts], False, colour, thickness, lineType=cv2.LINE_AA)
        if len(pts) == 1:
            cv2.circle(out, tuple(int(v) for v in pts[0, 0]), thickness + 1, colour, -1)
    return out
