"""Command line for the embedded demo dataset (see :mod:`evolve.data.synthesis.demo`).

    python -m evolve.data.demo --out <root> [--seed 0] [--size 128] [--num-train 12] [--num-val 4]

Renders the procedural videos in DAVIS 2017 format under ``<root>/DAVIS`` and converts them
with the standard pipeline into LLE-DAVIS format under ``<root>/LLE_DAVIS`` (the folder to
pass as ``data=`` / dataset root). Running it again on a complete dataset does nothing.
"""

from __future__ import annotations

import argparse
import sys

from evolve.data.synthesis.demo import DemoConfig, ensure_demo_dataset

__all__ = ["DemoConfig", "ensure_demo_dataset", "main"]


def main(argv: list[str] | None = None) -> int:
    """Generate (or find) the demo dataset; prints the LLE-DAVIS root. Exit status 2 on bad input."""
    from evolve.utils.errors import InputError

    p = argparse.ArgumentParser(prog="python -m evolve.data.demo", description="Generate the procedural LLE-DAVIS-format demo dataset.")
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
        root = ensure_demo_dataset(args.out, cfg, device=args.device, progress=not args.quiet, log=None if args.quiet else print)
    except (InputError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"LLE-DAVIS root: {root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
