"""``evolve-procedural-data --out <root>``: the procedural motion / referring sets (docs/procedural.md).

Renders the videos (objects with a motion class, attributes, referring expressions and a
JSON record each) in DAVIS 2017 format under ``<root>/DAVIS`` and converts them with the
standard pipeline into LLE-DAVIS format (low-light frames + event chunks) under
``<root>/LLE_DAVIS``; the records are copied to ``LLE_DAVIS/trainval_480p/Procedural/``.
Running it again on a complete dataset does nothing; an interrupted run resumes.
"""

from __future__ import annotations

import argparse
import time
from typing import Optional, Sequence

from evolve.apps.runner import console_entry, run_program


def procedural_data_program(argv: Optional[Sequence[str]] = None) -> int:
    """Generate (or find) a procedural dataset; prints its LLE-DAVIS root."""
    from evolve.synthesis.procedural import KINDS, ProceduralConfig, ensure_procedural_dataset

    d = ProceduralConfig()
    p = argparse.ArgumentParser(prog="evolve-procedural-data", description="Generate the procedural motion / referring dataset (LLE-DAVIS format).")
    p.add_argument("--out", required=True, help="root folder (DAVIS/ and LLE_DAVIS/ are created inside)")
    p.add_argument("--kind", choices=sorted(KINDS), default=d.kind, help=f"motion: query + support videos; referring; both (default {d.kind})")
    p.add_argument("--size", type=int, default=d.height, help=f"frame height and width in pixels (default {d.height})")
    p.add_argument("--num-train", type=int, default=d.num_train, help=f"query and referring videos each in train (default {d.num_train})")
    p.add_argument("--num-val", type=int, default=d.num_val, help=f"query and referring videos each in val (default {d.num_val})")
    p.add_argument("--support-train", type=int, default=d.support_train, help=f"support clips per motion class in train (default {d.support_train})")
    p.add_argument("--support-val", type=int, default=d.support_val, help=f"support clips per motion class in val (default {d.support_val})")
    p.add_argument("--frames", type=int, nargs=2, metavar=("MIN", "MAX"), default=(d.min_frames, d.max_frames), help="frames per video (default %(default)s)")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--device", default="cpu", help="event simulator device")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    cfg = ProceduralConfig(
        height=args.size, width=args.size, kind=args.kind, num_train=args.num_train, num_val=args.num_val,
        support_train=args.support_train, support_val=args.support_val, min_frames=args.frames[0],
        max_frames=args.frames[1], seed=args.seed,
    )
    start = time.perf_counter()
    root = ensure_procedural_dataset(args.out, cfg, device=args.device, progress=not args.quiet, log=None if args.quiet else print)
    if not args.quiet:
        print(f"done in {time.perf_counter() - start:.1f} s")
    print(f"LLE-DAVIS root: {root}")
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run :func:`procedural_data_program` under the project's runner; returns the exit code."""
    return run_program(procedural_data_program, argv)


console = console_entry(procedural_data_program)

if __name__ == "__main__":
    raise SystemExit(main())
