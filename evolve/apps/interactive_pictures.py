"""``python -m evolve.apps.interactive_pictures <lle root> --run NAME=DIR ... --sequence SEQ --out fig.png``:
the scribbles of rounds 1-3 of interactive protocol runs on one sequence and the resulting masks
(:func:`evolve.vis.interactive.round_rows`). Written atomically as PNG."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Optional, Sequence

from evolve.apps.runner import run_program
from evolve.data.image_io import write_frame
from evolve.utils.errors import InputError
from evolve.vis.interactive import round_rows


def interactive_pictures_program(argv: Optional[Sequence[str]] = None) -> int:
    """Draw the rounds; returns the exit code."""
    p = argparse.ArgumentParser(prog="python -m evolve.apps.interactive_pictures", description="Scribbles and masks of interactive rounds.")
    p.add_argument("root", help="LLE-format dataset root")
    p.add_argument("--run", action="append", default=[], metavar="NAME=DIR", help="an evolve-eval-interactive output folder")
    p.add_argument("--sequence", required=True)
    p.add_argument("--rounds", nargs="+", type=int, default=[1, 2, 3])
    p.add_argument("--set", default="robot", help="scribble set name (robot, or a released set such as 001)")
    p.add_argument("--height", type=int, default=180)
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    runs = {}
    for item in args.run:
        name, sep, folder = item.partition("=")
        if not sep:
            raise InputError(None, f"--run {item!r} is not NAME=DIR", "write e.g. --run events=output/interactive/lle_davis2016")
        runs[name] = Path(folder)
    if not runs:
        raise InputError(None, "no --run given", "give at least one --run NAME=DIR")
    write_frame(args.out, round_rows(args.root, runs, args.sequence, args.rounds, args.set, args.height))
    print(f"wrote {args.out}")
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run :func:`interactive_pictures_program` under the project's runner; returns the exit code."""
    return run_program(interactive_pictures_program, argv)


if __name__ == "__main__":
    raise SystemExit(main())
