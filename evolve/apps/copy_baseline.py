"""``evolve-copy-baseline <gt_dir> <out_dir>``: the copy-first-mask baseline (:mod:`evolve.eval.baselines`).

Predicts every frame with the first frame's ground-truth mask, writes palette PNGs and the
official CSVs into ``out_dir``, prints the J&F table. Exit status 2 on bad input.
"""

from __future__ import annotations

import argparse
from typing import Optional, Sequence

from evolve.apps.runner import console_entry, run_program
from evolve.eval.baselines import copy_first_mask
from evolve.eval.report import format_global_table


def copy_baseline_program(argv: Optional[Sequence[str]] = None) -> int:
    """Write and score the baseline; returns the exit code."""
    p = argparse.ArgumentParser(prog="evolve-copy-baseline", description="Copy-first-mask baseline: every frame predicted with the first frame's mask, then J&F.")
    p.add_argument("gt_dir", help="<seq>/<frame>.png ground truth")
    p.add_argument("out_dir", help="where the copied predictions and CSVs go")
    p.add_argument("--sequences", default=None, help="split file of the sequences (default: every sequence folder)")
    p.add_argument("--workers", type=int, default=1, help="J&F processes")
    args = p.parse_args(argv)
    result = copy_first_mask(args.gt_dir, args.out_dir, args.sequences, workers=args.workers)
    print(format_global_table(result))
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run :func:`copy_baseline_program` under the project's runner; returns the exit code."""
    return run_program(copy_baseline_program, argv)


console = console_entry(copy_baseline_program)

if __name__ == "__main__":
    raise SystemExit(main())
