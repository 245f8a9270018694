"""``python -m evolve.apps.interactive_score <gt_dir> <pred_dir> --sequences list.txt``: J&F of a
prediction folder with the interactive protocol's scoring (every frame scored; J&F per object =
mean over frames), e.g. the copy-first-mask baseline next to a protocol run."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from evolve.apps.runner import run_program
from evolve.data.splits import read_split_file
from evolve.eval.interactive.protocol import score_folder


def interactive_score_program(argv: Optional[Sequence[str]] = None) -> int:
    """Score and print per sequence and the object mean; returns the exit code."""
    p = argparse.ArgumentParser(prog="python -m evolve.apps.interactive_score", description=__doc__)
    p.add_argument("gt_dir")
    p.add_argument("pred_dir")
    p.add_argument("--sequences", required=True, help="split file")
    args = p.parse_args(argv)
    scores = score_folder(Path(args.gt_dir), Path(args.pred_dir), read_split_file(args.sequences))
    for seq, v in scores.items():
        print(f"{seq:20s} {np.mean(v):.3f}")
    print(f"{'mean over objects':20s} {np.mean([x for v in scores.values() for x in v]):.3f}")
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run :func:`interactive_score_program` under the project's runner; returns the exit code."""
    return run_program(interactive_score_program, argv)


if __name__ == "__main__":
    raise SystemExit(main())
