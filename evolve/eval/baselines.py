"""Reference baselines scored with the project's J&F (DESIGN 5).

Copy-first-mask: every frame is predicted with the first frame's ground-truth mask. It is the
floor a trained model must beat; it scores low exactly when objects move.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from evolve.data.image_io import read_mask, write_mask
from evolve.eval.evaluator import evaluate_dataset, resolve_sequences
from evolve.eval.results import EvaluationResult
from evolve.utils.errors import InputError


def copy_first_mask(
    gt_dir: str | os.PathLike, out_dir: str | os.PathLike, sequences: Sequence[str] | str | os.PathLike | None = None,
    workers: int = 1, progress: bool = False,
) -> EvaluationResult:
    """Write the copy-first-mask prediction of every sequence and score it.

    Args:
        gt_dir: ground truth ``<gt_dir>/<seq>/<frame>.png``.
        out_dir: predictions are written to ``<out_dir>/<seq>/<frame>.png`` (first mask's palette),
            and the official CSVs next to them.
        sequences: names, a split file, or None (every sequence folder of ``gt_dir``).
        workers: J&F processes.
    Returns:
        The :class:`EvaluationResult` (``result.global_row()["J&F-Mean"]``).
    Raises:
        InputError: missing folders, empty split, unreadable masks.
    """
    gt_root, out_root = Path(gt_dir), Path(out_dir)
    names = resolve_sequences(gt_root, sequences)
    for seq in names:
        masks = sorted((gt_root / seq).glob("*.png"))
        if not masks:
            raise InputError(gt_root / seq, "no ground-truth masks", "check the sequence name and the ground-truth folder")
        ids, palette = read_mask(masks[0])
        for m in masks:
            write_mask(out_root / seq / m.name, ids, palette)
    return evaluate_dataset(gt_root, out_root, sequences=names, workers=workers, progress=progress)
