"""``evolve-voxels <root>``: precompute the voxel grid of every frame (:mod:`evolve.data.precompute_voxels`).

Exit status: 0 done, 2 bad input (the message names the file; files written before it are
kept, so a rerun resumes).
"""

from __future__ import annotations

import argparse
from typing import Optional, Sequence

from evolve.apps.cli_args import add_layout_arguments, layout_from_args
from evolve.apps.runner import console_entry, run_program
from evolve.data.precompute_voxels import precompute
from evolve.data.voxel import DEFAULT_NUM_BINS


def voxels_program(argv: Optional[Sequence[str]] = None) -> int:
    """Write the voxel cache; returns the exit code."""
    parser = argparse.ArgumentParser(prog="evolve-voxels", description="Write EventVoxel/<seq>/<frame>.npy float32 (B, H, W) for every frame.")
    add_layout_arguments(parser)
    parser.add_argument("--split", help="only this split (name or file); default: every sequence")
    parser.add_argument("--num-bins", type=int, default=DEFAULT_NUM_BINS, help="temporal bins B (EVOLVE: 5; use the model's event_bins)")
    parser.add_argument("--device", default="cpu", help="where to build the grids: cpu, cuda, cuda:1 ...")
    parser.add_argument("--workers", type=int, default=2, help="processes reading event chunks (0 = none)")
    parser.add_argument("--overwrite", action="store_true", help="rebuild files that already exist")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    layout = layout_from_args(args)
    written, skipped = precompute(layout, args.split, args.num_bins, args.device, args.workers, args.overwrite, not args.no_progress)
    print(f"wrote {written} voxel grid(s), skipped {skipped} valid existing file(s) under {layout.root / layout.voxel_dir}")
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run :func:`voxels_program` under the project's runner; returns the exit code."""
    return run_program(voxels_program, argv)


console = console_entry(voxels_program)

if __name__ == "__main__":
    raise SystemExit(main())
