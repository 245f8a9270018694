"""``evolve-jf <gt_dir> <pred_dir>``: DAVIS 2017 semi-supervised J&F of a folder of predictions.

Prints the global and per-sequence tables and writes ``global_results.csv`` and
``per-sequence_results.csv`` into ``pred_dir`` (:mod:`evolve.eval`). Exit status 2 on bad input.
"""

from __future__ import annotations

import argparse
import time
from typing import Optional, Sequence

from evolve.apps.runner import console_entry, run_program
from evolve.eval.evaluator import evaluate_dataset
from evolve.eval.metrics import BOUND_TH
from evolve.eval.report import GLOBAL_CSV, PER_SEQUENCE_CSV, format_global_table, format_per_sequence_table
from evolve.utils.errors import InputError


def jf_program(argv: Optional[Sequence[str]] = None) -> int:
    """Score the predictions; returns the exit code."""
    p = argparse.ArgumentParser(prog="evolve-jf", description="DAVIS 2017 semi-supervised J&F (region J, boundary F; first and last frame excluded).")
    p.add_argument("gt_dir", help="ground-truth masks: <gt_dir>/<sequence>/<frame>.png")
    p.add_argument("pred_dir", help="predicted masks: <pred_dir>/<sequence>/<frame>.png; the CSVs are written here")
    p.add_argument("--sequences", metavar="FILE", help="split file with the sequences to evaluate (default: every folder of gt_dir)")
    p.add_argument("--workers", type=int, default=1, metavar="N", help="processes, one sequence each at a time (default 1)")
    p.add_argument("--bound-th", type=float, default=BOUND_TH, help="boundary tolerance: fraction of the image diagonal, or pixels if >= 1 (default 0.008)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = p.parse_args(argv)
    if args.workers < 1:
        raise InputError(None, f"--workers must be >= 1, got {args.workers}", "pass --workers 1 or more")
    start = time.perf_counter()
    result = evaluate_dataset(args.gt_dir, args.pred_dir, sequences=args.sequences, workers=args.workers,
                              bound_th=args.bound_th, write_csv=True, progress=not args.no_progress)
    print(f"--------------------------- Global results ({len(result.sequences)} sequences, {len(result.objects)} objects) ---------------------------")
    print(format_global_table(result))
    print("\n---------- Per sequence results ----------")
    print(format_per_sequence_table(result))
    print(f"\nGlobal results saved in {args.pred_dir.rstrip('/')}/{GLOBAL_CSV}")
    print(f"Per-sequence results saved in {args.pred_dir.rstrip('/')}/{PER_SEQUENCE_CSV}")
    print(f"Total time: {time.perf_counter() - start:.2f} s")
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run :func:`jf_program` under the project's runner; returns the exit code."""
    return run_program(jf_program, argv)


console = console_entry(jf_program)

if __name__ == "__main__":
    raise SystemExit(main())
