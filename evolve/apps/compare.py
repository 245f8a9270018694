"""``evolve-compare <lle root> --out fig.png --sequences ... --pred NAME=DIR ...``: labelled
side-by-side pictures of several runs' predictions (:mod:`evolve.vis.compare`).

One row per (sequence, frame): the brightened low-light frame | its event picture | ground truth |
each prediction, every mask drawn over the frame. Written atomically as PNG.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from evolve.apps.runner import console_entry, run_program
from evolve.data.image_io import write_frame
from evolve.utils.errors import InputError
from evolve.vis.compare import comparison_row


def compare_program(argv: Optional[Sequence[str]] = None) -> int:
    """Draw the comparison; returns the exit code."""
    p = argparse.ArgumentParser(prog="evolve-compare", description="Side-by-side pictures of several runs' predictions.")
    p.add_argument("root", help="LLE-format dataset root (lle_davis / lle_vos / generic detected)")
    p.add_argument("--out", required=True, help="output PNG")
    p.add_argument("--sequences", nargs="+", required=True)
    p.add_argument("--frames", nargs="+", type=int, default=[10], help="frame indices (0-based)")
    p.add_argument("--pred", action="append", default=[], metavar="NAME=DIR", help="a run's prediction folder (<DIR>/<seq>/<frame>.png)")
    p.add_argument("--height", type=int, default=240, help="row height in pixels")
    args = p.parse_args(argv)
    preds = {}
    for item in args.pred:
        name, sep, folder = item.partition("=")
        if not sep:
            raise InputError(None, f"--pred {item!r} is not NAME=DIR", "write e.g. --pred events=output/run/lle_davis")
        preds[name] = Path(folder)
    rows = [comparison_row(args.root, s, f, preds, args.height) for s in args.sequences for f in args.frames]
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 4), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    write_frame(args.out, np.concatenate(rows, axis=0))
    print(f"wrote {args.out}")
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run :func:`compare_program` under the project's runner; returns the exit code."""
    return run_program(compare_program, argv)


console = console_entry(compare_program)

if __name__ == "__main__":
    raise SystemExit(main())
