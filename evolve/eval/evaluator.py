"""DAVIS 2017 semi-supervised J&F of predicted masks against ground truth (DESIGN section 5).

Layout: ``<gt_dir>/<sequence>/<frame>.png`` and ``<pred_dir>/<sequence>/<frame>.png``, object-id
masks (palette or grayscale PNGs; DAVIS 2016 {0, 255} masks read as id 1). Frames pair by
name. For each sequence the objects are ids ``1..N``, N = the largest id in the first
ground-truth frame; the first and the last ground-truth frame are not scored. Ground-truth
id 255 is void and counts as background, as in the official reader.

:func:`evaluate_sequence` scores one sequence, :func:`evaluate_dataset` a folder of them
(processes over sequences) and writes the official CSVs.
"""

from __future__ import annotations

import os
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Iterable

import numpy as np
from tqdm import tqdm

from evolve.data.image_io import read_mask
from evolve.data.splits import list_sequence_folders, read_split_file
from evolve.eval.metrics import BOUND_TH, boundary_tolerance, frame_scores
from evolve.eval.results import EvaluationResult, SequenceScores
from evolve.utils.errors import InputError

VOID_ID = 255
MASK_SUFFIX = ".png"
_NAMING_FIX = "write one mask PNG per ground-truth frame, named like the ground truth (<sequence>/<frame>.png)"


@dataclass(frozen=True)
class _SequencePlan:
    name: str
    gt_frames: tuple[Path, ...]  # every ground-truth frame, sorted by name
    pred_dir: Path


def resolve_sequences(gt_dir: str | os.PathLike, sequences: Iterable[str] | str | os.PathLike | None) -> list[str]:
    """The sequence names to evaluate: every sub-folder of ``gt_dir`` (None), a split file, or names.

    Raises:
        InputError: a missing or empty ground-truth folder or split file.
    """
    if sequences is None:
        return list_sequence_folders(gt_dir, "ground-truth folder")
    if isinstance(sequences, (str, os.PathLike)):
        return read_split_file(sequences)
    return list(sequences)


def _plan(gt_seq: Path, pred_seq: Path) -> _SequencePlan:
    """Check the files of one sequence exist before any is read."""
    if not gt_seq.is_dir():
        raise InputError(gt_seq, "ground-truth sequence folder does not exist", "check the sequence name (and the --sequences list) against the ground-truth folder")
    gt_frames = tuple(sorted(p for p in gt_seq.iterdir() if p.suffix.lower() == MASK_SUFFIX and p.is_file()))
    if len(gt_frames) < 3:
        raise InputError(
            gt_seq,
            f"ground truth has {len(gt_frames)} mask PNG(s); semi-supervised J&F drops the first and last frame and needs at least 3",
            "give every frame's ground-truth mask as <frame>.png, or leave this sequence out of the list",
        )
    if not pred_seq.is_dir():
        raise InputError(pred_seq, "prediction folder for this sequence does not exist", f"write the predicted masks of '{gt_seq.name}' to {pred_seq}/<frame>.png")
    missing = [p.stem for p in gt_frames[1:-1] if not (pred_seq / f"{p.stem}{MASK_SUFFIX}").is_file()]
    if missing:
        shown = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
        raise InputError(
            pred_seq / f"{missing[0]}{MASK_SUFFIX}",
            f"{len(missing)} of the {len(gt_frames) - 2} scored frames have no predicted mask ({shown})",
            _NAMING_FIX,
        )
    return _SequencePlan(gt_seq.name, gt_frames, pred_seq)


def _read_gt(path: Path) -> np.ndarray:
    ids, _ = read_mask(path)
    ids[ids == VOID_ID] = 0  # void -> background (official reader)
    return ids


def _score(plan: _SequencePlan, bound_th: float) -> SequenceScores:
    first = _read_gt(plan.gt_frames[0])
    n_objects = int(first.max(initial=0))
    if n_objects == 0:
        raise InputError(plan.gt_frames[0], "first ground-truth frame has no object", "semi-supervised evaluation needs the objects in the first frame's mask")
    object_ids = tuple(range(1, n_objects + 1))
    size = first.shape
    radius = boundary_tolerance(size[0], size[1], bound_th)
    scored = plan.gt_frames[1:-1]
    j = np.empty((n_objects, len(scored)), dtype=np.float64)  # (N, T)
    f = np.empty((n_objects, len(scored)), dtype=np.float64)  # (N, T)
    for t, gt_path in enumerate(scored):
        gt = _read_gt(gt_path)
        if gt.shape != size:
            raise InputError(gt_path, f"mask is {gt.shape[1]}x{gt.shape[0]} but the sequence's first mask is {size[1]}x{size[0]}", "give every ground-truth frame of a sequence the same size")
        pred_path = plan.pred_dir / f"{gt_path.stem}{MASK_SUFFIX}"
        pred, _ = read_mask(pred_path)
        if pred.shape != size:
            raise InputError(
                pred_path,
                f"predicted mask is {pred.shape[1]}x{pred.shape[0]} but the ground truth {gt_path} is {size[1]}x{size[0]}",
                "save predictions at the ground-truth resolution (resize back to the original size before writing)",
            )
        extra = np.unique(pred[pred > n_objects])
        if extra.size:
            raise InputError(
                pred_path,
                f"object id(s) {extra.tolist()} are not objects of this sequence (its first ground-truth frame {plan.gt_frames[0].name} has ids 1..{n_objects})",
                "predict only the ids of the first-frame mask; write background as 0",
            )
        j[:, t], f[:, t] = frame_scores(gt, pred, object_ids, radius)
    return SequenceScores(plan.name, object_ids, tuple(p.stem for p in scored), j, f, (int(size[0]), int(size[1])), radius)


def evaluate_sequence(gt_seq_dir: str | os.PathLike, pred_seq_dir: str | os.PathLike, bound_th: float = BOUND_TH) -> SequenceScores:
    """Per-frame J and F of every object of one sequence.

    Args:
        gt_seq_dir: folder of ground-truth masks ``<frame>.png`` (at least 3).
        pred_seq_dir: folder of predicted masks with the same frame names (the first and
            last frame may be absent: they are not scored).
        bound_th: boundary tolerance, fraction of the image diagonal (or pixels if >= 1).

    Returns:
        :class:`SequenceScores` with ``j`` and ``f`` float64 (N objects, T = frames - 2).

    Raises:
        InputError: missing folders or frames, fewer than 3 ground-truth frames, an empty
            first ground-truth frame, unreadable or RGB masks, size mismatches, predicted
            ids that are not objects of the sequence.
    """
    return _score(_plan(Path(gt_seq_dir), Path(pred_seq_dir)), bound_th)


def _job(plan: _SequencePlan, bound_th: float) -> tuple:
    # InputError does not survive pickling (its __init__ takes three arguments), so a
    # worker hands back its fields and the parent raises it again.
    try:
        return ("ok", _score(plan, bound_th))
    except InputError as e:
        return ("error", e.path, e.problem, e.fix)


def _init_worker() -> None:
    import cv2

    cv2.setNumThreads(1)  # parallelism is over sequences


def _unwrap(outcome: tuple) -> SequenceScores:
    if outcome[0] == "error":
        raise InputError(outcome[1], outcome[2], outcome[3])
    return outcome[1]


def evaluate_dataset(
    gt_dir: str | os.PathLike,
    pred_dir: str | os.PathLike,
    sequences: Iterable[str] | str | os.PathLike | None = None,
    workers: int = 1,
    bound_th: float = BOUND_TH,
    write_csv: bool = True,
    progress: bool = True,
) -> EvaluationResult:
    """DAVIS 2017 semi-supervised J&F of a folder of predictions.

    Args:
        gt_dir: ``<sequence>/<frame>.png`` ground-truth masks.
        pred_dir: ``<sequence>/<frame>.png`` predicted masks; the CSVs are written here.
        sequences: names to evaluate, or a text file listing them one per line (str or
            PathLike); all sub-folders of ``gt_dir`` when ``None``.
        workers: processes (one sequence each at a time); 1 = in this process.
        bound_th: boundary tolerance (fraction of the diagonal, or pixels if >= 1).
        write_csv: write ``global_results.csv`` and ``per-sequence_results.csv`` to
            ``pred_dir`` (atomically, only after every sequence was scored).
        progress: show a tqdm bar on stderr.

    Returns:
        :class:`EvaluationResult`: per-frame scores, per-object statistics and the global
        (object-weighted) J, F and J&F.

    Raises:
        InputError: bad folders, lists or masks (see :func:`evaluate_sequence`); nothing
            is written then.
        ValueError: ``workers < 1``.
        RuntimeError: a worker process died (e.g. the caller cannot be re-imported by the
            'spawn' start method).
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    gt_root, pred_root = Path(gt_dir), Path(pred_dir)
    names = resolve_sequences(gt_root, sequences)
    if not names:
        raise InputError(gt_root, "no sequence to evaluate", "give at least one sequence name")
    if len(set(names)) != len(names):
        raise InputError(None, f"sequences {sorted({n for n in names if names.count(n) > 1})} are listed more than once", "list every sequence once")
    if not pred_root.is_dir():
        raise InputError(pred_root, "prediction folder does not exist", "pass the folder that holds <sequence>/<frame>.png predicted masks")
    plans = [_plan(gt_root / n, pred_root / n) for n in names]  # all file checks before any scoring

    bar = tqdm(total=len(plans), desc="J&F", unit="seq", disable=not progress)
    scores: dict[str, SequenceScores] = {}
    try:
        if workers == 1 or len(plans) == 1:
            for plan in plans:
                scores[plan.name] = _score(plan, bound_th)
                bar.update()
        else:
            ctx = get_context("spawn")  # no fork of a parent that may hold torch/OpenCV threads
            with ProcessPoolExecutor(min(workers, len(plans)), mp_context=ctx, initializer=_init_worker) as pool:
                longest_first = sorted(plans, key=lambda p: -len(p.gt_frames))  # better load balance
                pending = {pool.submit(_job, plan, bound_th): plan.name for plan in longest_first}
                try:
                    while pending:
                        done, _ = wait(pending, return_when=FIRST_COMPLETED)
                        for fut in done:
                            scores[pending.pop(fut)] = _unwrap(fut.result())
                            bar.update()
                except BrokenProcessPool as e:
                    raise RuntimeError(
                        "a J&F worker process died; with workers > 1 the caller must be importable by the "
                        "'spawn' start method (a script file with an `if __name__ == '__main__':` guard, "
                        "not code piped to stdin), or use workers=1"
                    ) from e
                except BaseException:
                    for fut in pending:
                        fut.cancel()
                    raise
    finally:
        bar.close()

    result = EvaluationResult.from_sequences([scores[n] for n in names])
    if write_csv:
        from evolve.eval.report import write_csvs

        write_csvs(result, pred_root)
    return result
