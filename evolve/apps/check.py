"""``evolve-check <root>``: validate a dataset folder and list every problem (:mod:`evolve.data.check`).

Exit status: 0 no problem, 1 problems found (each printed with its file and fix), 2 bad usage.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Optional, Sequence

from evolve.apps.cli_args import add_layout_arguments, layout_from_args
from evolve.apps.runner import console_entry, run_program
from evolve.data.check import check_dataset
from evolve.data.voxel import DEFAULT_NUM_BINS


def check_program(argv: Optional[Sequence[str]] = None) -> int:
    """Check the dataset; returns 1 when problems were found."""
    parser = argparse.ArgumentParser(prog="evolve-check", description="Validate a dataset folder and list every problem with its file and fix.")
    add_layout_arguments(parser)
    parser.add_argument("--split", help="check only this split (name or file); default: everything")
    parser.add_argument("--quick", action="store_true", help="names, image headers, masks and event-file completeness only (what training checks before it starts)")
    parser.add_argument("--sparse-masks", action="store_true", help="only the first frame of a sequence needs a mask")
    parser.add_argument("--num-bins", type=int, default=DEFAULT_NUM_BINS, help="expected bins of cached voxel grids")
    parser.add_argument("--workers", type=int, default=min(4, os.cpu_count() or 1), help="parallel processes (0 = none)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    layout = layout_from_args(args)
    print(f"checking {layout.root} as {layout.name}", file=sys.stderr)
    rep = check_dataset(layout, args.split, args.quick, args.sparse_masks, args.num_bins, args.workers, not args.no_progress)
    for note in rep.notes:
        print(f"note: {note}")
    for p in rep.problems:
        print(f"PROBLEM {p}")
    print(rep.summary())
    return 1 if rep.problems else 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run :func:`check_program` under the project's runner; returns the exit code."""
    return run_program(check_program, argv)


console = console_entry(check_program)

if __name__ == "__main__":
    raise SystemExit(main())
