"""``evolve-pictures <lle-davis root> --out DIR``: normal | low-light | events | voxel bins rows
of a converted dataset, as PNGs or one MP4 per sequence (:mod:`evolve.vis.synthesis_pictures`)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Optional, Sequence

from evolve.apps.runner import console_entry, run_program
from evolve.data.image_io import write_frame
from evolve.vis.synthesis_pictures import lle_base, sequence_rows, write_mp4


def pictures_program(argv: Optional[Sequence[str]] = None) -> int:
    """Write synthesis pictures; returns the exit code."""
    p = argparse.ArgumentParser(prog="evolve-pictures", description="Rows of normal | low-light | events | voxel bins.")
    p.add_argument("root", help="LLE-DAVIS root (holding trainval_480p/)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--sequences", nargs="+", default=None, help="default: every sequence")
    p.add_argument("--frames", nargs="+", default=None, help="frame names (stems) to draw; default all")
    p.add_argument("--max-frames", type=int, default=None, help="at most this many frames per sequence")
    p.add_argument("--tile-height", type=int, default=240, help="tile height in pixels (default 240)")
    p.add_argument("--background", choices=("black", "white"), default="black", help="event-image background")
    p.add_argument("--mp4", action="store_true", help="one MP4 per sequence instead of PNGs")
    p.add_argument("--fps", type=float, default=10.0, help="MP4 frame rate")
    args = p.parse_args(argv)
    out = Path(args.out)
    base = lle_base(Path(args.root))
    seqs = args.sequences or sorted(d.name for d in (base / "Lowlight_Images").iterdir() if d.is_dir())
    for seq in seqs:
        rows = sequence_rows(base, seq, args.frames, args.max_frames, args.tile_height, args.background)
        if args.mp4:
            out.mkdir(parents=True, exist_ok=True)
            write_mp4(out / f"{seq}.mp4", [r for _, r in rows], args.fps)
            print(out / f"{seq}.mp4")
        else:
            n = 0
            for stem, row in rows:
                write_frame(out / seq / f"{stem}.png", row)
                n += 1
            print(f"{out / seq}: {n} pictures")
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run :func:`pictures_program` under the project's runner; returns the exit code."""
    return run_program(pictures_program, argv)


console = console_entry(pictures_program)

if __name__ == "__main__":
    raise SystemExit(main())
