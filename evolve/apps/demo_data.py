"""``evolve-demo-data --out <root>``: the embedded procedural demo dataset (:mod:`evolve.synthesis.demo`).

Renders the videos in DAVIS 2017 format under ``<root>/DAVIS`` and converts them with the
standard pipeline into LLE-DAVIS format under ``<root>/LLE_DAVIS``. Running it again on a
complete dataset does nothing. (``data=demo`` does this automatically before training.)
"""

from __future__ import annotations

import argparse
from typing import Optional, Sequence

from evolve.apps.runner import console_entry, run_program
from evolve.utils.errors import InputError


def demo_data_program(argv: Optional[Sequence[str]] = None) -> int:
    """Generate (or find) the demo dataset; prints its LLE-DAVIS root."""
    from evolve.synthesis.demo import DemoConfig, ensure_demo_dataset

    p = argparse.ArgumentParser(prog="evolve-demo-data", description="Generate the procedural LLE-DAVIS-format demo dataset.")
    p.add_argument("--out", required=True, help="root folder (DAVIS/ and LLE_DAVIS/ are created inside)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--size", type=int, default=128, help="frame height and width in pixels (default 128)")
    p.add_argument("--num-train", type=int, default=12)
    p.add_argument("--num-val", type=int, default=4)
    p.add_argument("--device", default="cpu", help="event simulator device")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    try:
        cfg = DemoConfig(height=args.size, width=args.size, num_train=args.num_train, num_val=args.num_val, seed=args.seed)
    except ValueError as e:
        raise InputError(None, f"demo settings: {e}", "pick positive sizes and counts") from e
    root = ensure_demo_dataset(args.out, cfg, device=args.device, progress=not args.quiet, log=None if args.quiet else print)
    print(f"LLE-DAVIS root: {root}")
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run :func:`demo_data_program` under the project's runner; returns the exit code."""
    return run_program(demo_data_program, argv)


console = console_entry(demo_data_program)

if __name__ == "__main__":
    raise SystemExit(main())
