"""The DAVIS 2017 semi-supervised J&F evaluator (DESIGN section 5, docs/evaluation.md).

Command line: ``evolve-jf <gt_dir> <pred_dir> [--sequences FILE] [--workers N]`` (:mod:`evolve.apps.jf`).

Python::

    from evolve.eval import evaluate_dataset, evaluate_sequence
    result = evaluate_dataset(gt_dir, pred_dir, workers=4)   # writes the two CSVs into pred_dir
    print(result.jf_mean, result.j.mean, result.f.mean)
"""

from evolve.eval.evaluator import evaluate_dataset, evaluate_sequence
from evolve.eval.metrics import (
    boundary_f_measure,
    boundary_map,
    boundary_tolerance,
    disk_footprint,
    frame_scores,
    region_similarity,
)
from evolve.eval.report import GLOBAL_CSV, PER_SEQUENCE_CSV, write_csvs
from evolve.eval.results import (
    GLOBAL_COLUMNS,
    PER_SEQUENCE_COLUMNS,
    EvaluationResult,
    ObjectResult,
    SequenceScores,
)
from evolve.eval.statistics import Statistics, decay, decay_bin_edges, statistics

__all__ = [
    "evaluate_dataset",
    "evaluate_sequence",
    "boundary_f_measure",
    "boundary_map",
    "boundary_tolerance",
    "disk_footprint",
    "frame_scores",
    "region_similarity",
    "GLOBAL_CSV",
    "PER_SEQUENCE_CSV",
    "write_csvs",
    "GLOBAL_COLUMNS",
    "PER_SEQUENCE_COLUMNS",
    "EvaluationResult",
    "ObjectResult",
    "SequenceScores",
    "Statistics",
    "decay",
    "decay_bin_edges",
    "statistics",
]
