"""``python -m evolve.eval <gt_dir> <pred_dir> [--sequences FILE] [--workers N]``: DAVIS 2017
semi-supervised J&F; prints the global and per-sequence tables and writes
``global_results.csv`` and ``per-sequence_results.csv`` into ``pred_dir``.

Exit status: 0 on success, 2 on bad input (the message names the file and the fix).
"""

from __future__ import annotations

import argparse
import sys
import time

from evolve.eval.evaluator import evaluate_dataset, read_sequence_list
from evolve.eval.metrics import BOUND_TH
from evolve.eval.report import GLOBAL_CSV, PER_SEQUENCE_CSV, format_global_table, format_per_sequence_table
from evolve.utils.errors import InputError


def build_parser() -> argparse.ArgumentParser:
    """The command-line parser."""
    p = argparse.ArgumentParser(
        prog="python -m evolve.eval",
        description="DAVIS 2017 semi-supervised J&F (region J, boundary F; first and last frame excluded).",
    )
    p.add_argument("gt_dir", help="ground-truth masks: <gt_dir>/<sequence>/<frame>.png")
    p.add_argument("pred_dir", help="predicted masks: <pred_dir>/<sequence>/<frame>.png; the CSVs are written here")
    p.add_argument("--sequences", metavar="FILE", help="text file with the sequences to evaluate, one per line (default: every folder of gt_dir)")
    p.add_argument("--workers", type=int, default=1, metavar="N", help="processes, one sequence each at a time (default 1)")
    p.add_argument("--bound-th", type=float, default=BOUND_TH, help="boundary tolerance: fraction of the image diagonal, or pixels if >= 1 (default 0.008)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the evaluator; returns the exit status."""
    args = build_parser().parse_args(argv)
    if args.workers < 1:
        print(f"error: --workers must be >= 1, got {args.workers}", file=sys.stderr)
        return 2
    start = time.perf_counter()
    try:
        sequences = read_sequence_list(args.sequences) if args.sequences else None
        result = evaluate_dataset(
            args.gt_dir,
            args.pred_dir,
            sequences=sequences,
            workers=args.workers,
            bound_th=args.bound_th,
            write_csv=True,
            progress=not args.no_progress,
        )
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    n_obj = len(result.objects)
    print(f"--------------------------- Global results ({len(result.sequences)} sequences, {n_obj} objects) ---------------------------")
    print(format_global_table(result))
    print("\n---------- Per sequence results ----------")
    print(format_per_sequence_table(result))
    print(f"\nGlobal results saved in {args.pred_dir.rstrip('/')}/{GLOBAL_CSV}")
    print(f"Per-sequence results saved in {args.pred_dir.rstrip('/')}/{PER_SEQUENCE_CSV}")
    print(f"Total time: {time.perf_counter() - start:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
