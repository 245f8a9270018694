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


def round_rows(root: str | Path, run_dirs: dict[str, Path], sequence: str, rounds: Sequence[int] = (1, 2, 3),
               scribble_set: str = "robot", height: int = 180) -> np.ndarray:
    """Rows of a protocol run's rounds on one sequence: for each method and round, the brightened
    low-light annotated frame with the round's scribbles | the mask of that frame after the round
    | the ground truth (labelled with the round, the frame and the sequence's J&F after it).

    Args:
        root: the LLE-format dataset.
        run_dirs: method label -> protocol output folder (``rounds/<seq>/<set>/round_XX.json``,
            ``round_XX_mask.png``, ``rounds.csv``).
        sequence, rounds, scribble_set: what to draw.
        height: tile height in pixels.
    Returns:
        uint8 (rows * height, W, 3).
    Raises:
        InputError: a missing round file or frame.
    """
    import csv

    from evolve.data.image_io import read_frame, read_mask
    from evolve.data.layout import detect_layout, index_sequence
    from evolve.data.scribble_json import read_scribble_json
    from evolve.utils.errors import InputError
    from evolve.vis.compare import _label
    from evolve.vis.events import brighten
    from evolve.vis.overlay import overlay_mask, side_by_side

    files = index_sequence(detect_layout(root), sequence)
    rows = []
    for method, run in run_dirs.items():
        scores: dict[int, list[float]] = {}
        csv_path = Path(run) / "rounds.csv"
        if csv_path.is_file():
            for row in csv.DictReader(csv_path.open()):
                if row["sequence"] == sequence and row["scribble_set"] == scribble_set:
                    scores.setdefault(int(row["round"]), []).append(float(row["J&F"]))
        for r in rounds:
            folder = Path(run) / "rounds" / sequence / scribble_set
            json_path, mask_path = folder / f"round_{r:02d}.json", folder / f"round_{r:02d}_mask.png"
            if not json_path.is_file() or not mask_path.is_file():
                raise InputError(json_path, f"round {r} of {sequence} was not saved", "run evolve-eval-interactive with save_rounds=true")
            s = read_scribble_json(json_path)
            frame = s.annotated_frame if s.annotated_frame is not None else 0
            bright, _ = brighten(read_frame(files.frame_files[frame]))
            pred, _ = read_mask(mask_path)
            gt, palette = read_mask(files.mask_files[files.frames[frame]])
            jf = f", J&F {np.mean(scores[r]):.3f}" if r in scores else ""
            scale = height / bright.shape[0]
            size = (int(round(bright.shape[1] * scale)), height)
            small = lambda im: cv2.resize(im, size, interpolation=cv2.INTER_AREA)  # noqa: E731
            thickness = max(2, int(round(3 / scale)))
            tiles = [
                _label(small(draw_strokes(bright, s.frames[frame], palette, thickness)), f"{method}: round {r}, frame {frame}"),
                _label(small(overlay_mask(bright, pred, palette)), f"after round {r}{jf}"),
                _label(small(overlay_mask(bright, gt, palette)), "ground truth"),
            ]
            rows.append(side_by_side(*tiles))
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 4), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    return np.concatenate(rows, axis=0)
