"""The DAVIS interactive protocol over a dataset (re-implemented; docs/interactive.md).

For every sequence and every scribble set (the released first-round sets in
``<scribbles_root>/Scribbles/<seq>/*.json`` when given, else one set whose first round the robot
makes from an all-background prediction), a *sample* runs up to ``max_interactions`` rounds:

1. round 1 takes the set's scribbles; later rounds ask the robot (:mod:`evolve.eval.interactive.robot`)
   for scribbles on the worst frame of the current prediction;
2. the session runs the round (interaction network + propagation, :mod:`evolve.inference.interactive`);
   its wall time is the round's time;
3. the prediction (upsampled to the ground truth's size) is scored: J and F of every object
   on every frame (DAVIS's interactive track scores all frames), J&F per object = the mean
   over frames of (J + F) / 2.

The session timeout is ``objects x max_time_per_object`` seconds; with ``stop_at_timeout``
a sample that has used it stops, and its remaining rounds repeat the last result at zero time
(DAVIS). Summary: :func:`evolve.eval.interactive.curve.interactive_curve` over the per-round
means (J&F over samples and objects, time over samples).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import cv2
import numpy as np

from evolve.data.image_io import read_mask, write_mask
from evolve.data.scribble_json import ScribbleSet, list_scribble_files, read_scribble_json, write_scribble_json
from evolve.data.scribbles import Stroke
from evolve.eval.interactive.curve import InteractiveCurve, interactive_curve
from evolve.eval.interactive.robot import RobotConfig, ScribbleRobot
from evolve.eval.metrics import boundary_tolerance, frame_scores
from evolve.utils.atomic import atomic_open

log = logging.getLogger("evolve.eval.interactive")


@dataclass
class ProtocolConfig:
    """Protocol settings.

    Attributes:
        max_interactions: rounds per sample (DAVIS/GLTM: 8).
        max_time_per_object: session time budget per object in seconds (GLTM: 8 x 30 = 240).
        stop_at_timeout: stop a sample once it has used its budget (DAVIS); False runs every
            round (slow machines) and the curve simply extends past the budget.
        metric: ``"J_AND_F"`` or ``"J"``: the robot's worst-frame metric.
        min_nb_nodes: the robot's smallest scribble (DAVIS default 4; GLTM evaluated with 2).
        threshold: seconds of the "@" number (60).
        scribbles_root: folder with ``Scribbles/<seq>/*.json`` released first rounds, or None.
    """

    max_interactions: int = 8
    max_time_per_object: float = 240.0
    stop_at_timeout: bool = False
    metric: str = "J_AND_F"
    min_nb_nodes: int = 4
    threshold: float = 60.0
    scribbles_root: Optional[str] = None


@dataclass
class RoundScores:
    """One round of one sample.

    Attributes:
        round: 1-based round index.
        frame: the annotated frame.
        strokes: how many strokes the round got.
        seconds: wall time of the round (0 for rounds after a timeout).
        j, f: per object, mean over frames.
        ran: False when the round repeats the last result (after a timeout).
    """

    round: int
    frame: int
    strokes: int
    seconds: float
    j: list[float]
    f: list[float]
    ran: bool = True

    @property
    def jf(self) -> list[float]:
        """Per-object J&F = (J + F) / 2."""
        return [0.5 * (a + b) for a, b in zip(self.j, self.f)]


@dataclass
class SampleResult:
    """All rounds of one (sequence, scribble set)."""

    sequence: str
    scribble_set: str
    object_ids: list[int]
    rounds: list[RoundScores] = field(default_factory=list)


def score_prediction(pred: np.ndarray, gt: np.ndarray, object_ids: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """J and F of every object on every frame.

    Args:
        pred, gt: int (T, H, W) object ids (same shape).
    Returns:
        ``(J, F)``: float64 (T, N) each.
    """
    radius = boundary_tolerance(*gt.shape[1:])
    j = np.empty((len(gt), len(object_ids)))
    f = np.empty_like(j)
    for t in range(len(gt)):
        j[t], f[t] = frame_scores(gt[t], pred[t], list(object_ids), radius)
    return j, f


def upsample_ids(masks: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(T, h, w) uint8 ids -> (T, H, W) by nearest-neighbour resizing (a no-op at the same size)."""
    if masks.shape[1:] == tuple(size):
        return masks
    return np.stack([cv2.resize(m, (size[1], size[0]), interpolation=cv2.INTER_NEAREST) for m in masks])


def run_sample(
    session: Any, gt: np.ndarray, object_ids: Sequence[int], first: Optional[tuple[int, list[Stroke]]], config: ProtocolConfig,
    sequence: str = "", scribble_set: str = "robot", save_dir: Optional[Path] = None, palette: Optional[bytes] = None,
) -> SampleResult:
    """Run the rounds of one sample (module docstring).

    Args:
        session: a fresh :class:`~evolve.inference.interactive.session.InteractiveSession` of the
            sequence with ``object_ids`` added.
        gt: uint8 (T, H, W) ground-truth ids at the evaluation size.
        object_ids: the objects scored.
        first: ``(frame, strokes)`` of the released first round, or None (the robot's).
        save_dir: when given, ``round_XX.json`` (the round's scribbles, DAVIS layout) and
            ``round_XX_mask.png`` (the annotated frame's mask after the round) go there.
    Returns:
        :class:`SampleResult`.
    """
    robot = ScribbleRobot(RobotConfig(min_nb_nodes=config.min_nb_nodes, metric=config.metric))
    result = SampleResult(sequence, scribble_set, [int(o) for o in object_ids])
    budget = config.max_time_per_object * len(object_ids)
    pred = np.zeros_like(gt)
    scores: Optional[np.ndarray] = None
    used = 0.0
    for r in range(1, config.max_interactions + 1):
        if config.stop_at_timeout and used >= budget and result.rounds:
            last = result.rounds[-1]
            result.rounds.append(RoundScores(r, last.frame, 0, 0.0, list(last.j), list(last.f), ran=False))
            continue
        if r == 1 and first is not None:
            frame, strokes = first
        else:
            frame, strokes = robot.interact(pred, gt, object_ids, scores)
        seconds = 0.0
        if strokes:
            res = session.run_round(frame, strokes)
            seconds = res.seconds
            pred = upsample_ids(session.masks(), gt.shape[1:])
        used += seconds
        j, f = score_prediction(pred, gt, object_ids)
        per_frame = j.mean(1) if config.metric == "J" else 0.5 * (j.mean(1) + f.mean(1))
        scores = per_frame
        result.rounds.append(RoundScores(r, int(frame), len(strokes), seconds, j.mean(0).tolist(), f.mean(0).tolist()))
        log.info("%s/%s round %d: frame %d, %d strokes, %.1f s, J&F %.3f", sequence, scribble_set, r, frame, len(strokes), seconds,
                 float(np.mean(result.rounds[-1].jf)))
        if save_dir is not None:
            write_scribble_json(save_dir / f"round_{r:02d}.json", ScribbleSet.single_frame(sequence, len(gt), int(frame), list(strokes)))
            write_mask(save_dir / f"round_{r:02d}_mask.png", pred[frame].astype(np.uint8), palette)
    return result


def first_rounds(scribbles_root: Optional[str], sequence: str) -> list[tuple[str, Optional[tuple[int, list[Stroke]]]]]:
    """The scribble sets of a sequence: ``[(name, (frame, strokes))]`` from released files, or
    ``[("robot", None)]`` when there are none (the robot makes round 1)."""
    files = list_scribble_files(scribbles_root, sequence) if scribbles_root else []
    out: list[tuple[str, Optional[tuple[int, list[Stroke]]]]] = []
    for path in files:
        s = read_scribble_json(path)
        frames = s.annotated_frames
        frame = s.annotated_frame if s.annotated_frame is not None else (frames[0] if frames else 0)
        out.append((path.stem, (frame, s.frames[frame])))
    return out or [("robot", None)]


def summarize(samples: Sequence[SampleResult], config: ProtocolConfig) -> InteractiveCurve:
    """The DAVIS summary curve of a run (:func:`evolve.eval.interactive.curve.interactive_curve`).

    Per round: J&F averaged over every (sample, object); time averaged over samples. The
    timeout is the mean number of objects per sample x ``max_time_per_object``.
    """
    rounds = config.max_interactions
    metric = [float(np.mean([v for s in samples for v in s.rounds[r].jf])) for r in range(rounds)]
    times = [float(np.mean([s.rounds[r].seconds for s in samples])) for r in range(rounds)]
    max_time = float(np.mean([len(s.object_ids) for s in samples])) * config.max_time_per_object
    return interactive_curve(times, metric, max_time, config.threshold)


def rounds_csv_text(samples: Sequence[SampleResult]) -> str:
    """One row per (sequence, scribble set, object, round): the per-round CSV."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["sequence", "scribble_set", "object_id", "round", "annotated_frame", "strokes", "J", "F", "J&F", "round_seconds", "cumulative_seconds", "ran"])
    for s in samples:
        cum = 0.0
        for r in s.rounds:
            cum += r.seconds
            for k, obj in enumerate(s.object_ids):
                w.writerow([s.sequence, s.scribble_set, obj, r.round, r.frame, r.strokes, f"{r.j[k]:.6f}", f"{r.f[k]:.6f}",
                            f"{r.jf[k]:.6f}", f"{r.seconds:.4f}", f"{cum:.4f}", int(r.ran)])
    return buf.getvalue()


def write_outputs(out_dir: Path, samples: Sequence[SampleResult], config: ProtocolConfig, extra: Optional[dict] = None) -> dict:
    """Write ``rounds.csv``, ``summary.json``, ``jf_vs_round.png`` and ``jf_vs_time.png`` (atomically).

    Returns:
        the summary dict written to ``summary.json``.
    """
    from evolve.vis.interactive import plot_curves

    curve = summarize(samples, config)
    summary = curve.to_dict("J_AND_F")
    summary["max_time"] = float(curve.time[-1])
    summary["samples"] = len(samples)
    summary["objects"] = int(sum(len(s.object_ids) for s in samples))
    summary["protocol"] = asdict(config)
    summary.update(extra or {})
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_open(out_dir / "rounds.csv", "w") as f:
        f.write(rounds_csv_text(samples))
    with atomic_open(out_dir / "summary.json", "w") as f:
        json.dump(summary, f, indent=2)
    plot_curves(curve, out_dir / "jf_vs_round.png", out_dir / "jf_vs_time.png", label=str((extra or {}).get("method", "")))
    return summary


def run_protocol(
    dataset: Any, make_session: Callable[[Any, list[int]], Any], out_dir: Path, config: ProtocolConfig,
    extra: Optional[dict] = None, save_rounds: bool = True, progress: bool = True,
) -> dict:
    """Run the protocol over every sequence of ``dataset`` and write the outputs.

    Args:
        dataset: a :class:`~evolve.data.video_reader.VOSTestDataset` (frames at the working size).
        make_session: ``make_session(reader, object_ids)`` -> a fresh session of the sequence.
        out_dir: output folder (``rounds.csv``, ``summary.json``, plots, ``rounds/<seq>/<set>/``).
        config: :class:`ProtocolConfig`.
        extra: more keys for ``summary.json`` (method, weights, machine ...).
        save_rounds: write each round's scribbles and annotated-frame mask.
    Returns:
        the summary dict.
    Raises:
        InputError: data problems (the readers name the file).
    """
    from tqdm import tqdm

    samples: list[SampleResult] = []
    t0 = time.perf_counter()
    for reader in tqdm(dataset, total=len(dataset), desc="interactive", disable=not progress, dynamic_ncols=True):
        gt = np.stack([read_mask(reader.files.mask_files[stem])[0] for stem in reader.frame_names])  # (T, H, W) uint8
        object_ids = [int(v) for v in np.unique(gt) if v != 0]
        for set_name, first in first_rounds(config.scribbles_root, reader.name):
            session = make_session(reader, object_ids)
            save_dir = out_dir / "rounds" / reader.name / set_name if save_rounds else None
            samples.append(run_sample(session, gt, object_ids, first, config, reader.name, set_name, save_dir, reader.palette))
    extra = dict(extra or {})
    extra["wall_seconds"] = time.perf_counter() - t0
    return write_outputs(out_dir, samples, config, extra)


def score_folder(gt_dir: Path, pred_dir: Path, sequences: Sequence[str]) -> dict[str, list[float]]:
    """Score ``<pred_dir>/<seq>/<frame>.png`` as the protocol scores a round (every frame, J&F
    per object = mean over frames of (J + F) / 2), e.g. for the copy-first-mask baseline.

    Returns:
        ``{sequence: [J&F per object]}``.
    Raises:
        InputError: a missing or unreadable prediction (named).
    """
    out = {}
    for seq in sequences:
        stems = sorted(p.stem for p in (Path(gt_dir) / seq).glob("*.png"))
        gt = np.stack([read_mask(Path(gt_dir) / seq / f"{s}.png")[0] for s in stems])
        pred = np.stack([read_mask(Path(pred_dir) / seq / f"{s}.png")[0] for s in stems])
        ids = [int(v) for v in np.unique(gt) if v != 0]
        j, f = score_prediction(pred, gt, ids)
        out[seq] = (0.5 * (j.mean(0) + f.mean(0))).tolist()
    return out
