"""``evolve-dataset-table <lle-davis root>``: the per-sequence statistics table of a converted
dataset (:mod:`evolve.synthesis.dataset_table`), as Markdown."""

from __future__ import annotations

import argparse
from typing import Optional, Sequence

from evolve.apps.runner import console_entry, run_program
from evolve.synthesis.dataset_table import dataset_table


def dataset_table_program(argv: Optional[Sequence[str]] = None) -> int:
    """Print the table; returns the exit code."""
    p = argparse.ArgumentParser(prog="evolve-dataset-table", description="Per-sequence statistics of a converted LLE-DAVIS-format dataset.")
    p.add_argument("root", help="LLE-DAVIS root (holding trainval_480p)")
    args = p.parse_args(argv)
    print(dataset_table(args.root))
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run :func:`dataset_table_program` under the project's runner; returns the exit code."""
    return run_program(dataset_table_program, argv)


console = console_entry(dataset_table_program)

if __name__ == "__main__":
    raise SystemExit(main())
