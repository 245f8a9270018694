"""``evolve-synthesize --src <davis-format> --out <root>``: turn a normal-light video dataset into
LLE-DAVIS format: low-light frames and simulated events (DESIGN 2.5, docs/synthesis.md).

Without ``--contrast-threshold`` the mean contrast threshold is calibrated to the config's
target density (default 0.8 events/pixel/interval, as LLE-DAVIS). Resumable.
"""

from __future__ import annotations

import argparse
from typing import Optional, Sequence

from evolve.apps.runner import console_entry, run_program


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``evolve-synthesize``."""
    p = argparse.ArgumentParser(
        prog="evolve-synthesize",
        description="Darken a DAVIS/YouTube-VOS/MOSE-format dataset, simulate events, write LLE-DAVIS layout.",
    )
    p.add_argument("--src", required=True, help="source root (JPEGImages/480p/<seq> or JPEGImages/<seq>, Annotations/...)")
    p.add_argument("--out", required=True, help="output LLE-DAVIS root (trainval_480p/ is created inside)")
    p.add_argument("--seed", type=int, default=None, help="global seed (default: the config's, 0)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--contrast-threshold", type=float, default=None, metavar="C", help="mean contrast threshold C_mean (no calibration)")
    g.add_argument("--target-density", type=float, default=None, metavar="D", help="calibrate C_mean to D events/pixel/interval (default 0.8)")
    p.add_argument("--sequences", nargs="+", default=None, help="convert only these sequences")
    p.add_argument("--val-fraction", type=float, default=None, metavar="F",
                   help="source without split files: hold out this fraction of sequences as val (default: list all in train and val)")
    p.add_argument("--substeps", type=int, default=None, help="sub-steps K per frame interval (default 4)")
    p.add_argument("--fps", type=float, default=None, help="assumed frame rate (default 25: 40000 us intervals)")
    p.add_argument("--interpolation", choices=("linear", "log", "flow"), default=None, help="intermediate frames (default linear)")
    p.add_argument("--voxels", action="store_true", help="also write EventVoxel/<seq>/<frame>.npy float32 (5, H, W)")
    p.add_argument("--device", default="cpu", help="simulator device, e.g. cpu or cuda (default cpu)")
    p.add_argument("--workers", type=int, default=1, help="sequences converted in parallel processes (default 1)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads per process (default 1: the simulator's small ops gain little from more; use --workers)")
    p.add_argument("--config", default=None, help="synthesis YAML (default: the package's configs/synthesis/default.yaml)")
    p.add_argument("--overwrite", action="store_true", help="redo sequences finished with different settings")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


def synthesize_program(argv: Optional[Sequence[str]] = None) -> int:
    """Run the converter; returns the exit code."""
    args = build_parser().parse_args(argv)
    import torch

    from evolve.synthesis.config import load_synthesis_config
    from evolve.synthesis.convert import convert_dataset

    overrides: dict = {"simulator": {}}
    if args.seed is not None:
        overrides["seed"] = args.seed
    if args.contrast_threshold is not None:
        overrides["target_density"] = None
        overrides["simulator"]["contrast_threshold"] = args.contrast_threshold
    if args.target_density is not None:
        overrides["target_density"] = args.target_density
    if args.substeps is not None:
        overrides["simulator"]["substeps"] = args.substeps
    if args.interpolation is not None:
        overrides["simulator"]["interpolation"] = args.interpolation
    if args.fps is not None:
        overrides["fps"] = args.fps
    if args.voxels:
        overrides["voxels"] = True
    torch.set_num_threads(max(1, args.threads))
    config = load_synthesis_config(args.config, overrides)
    result = convert_dataset(args.src, args.out, config, sequences=args.sequences, device=args.device, workers=args.workers,
                             overwrite=args.overwrite, progress=not args.quiet, threads=max(1, args.threads), val_fraction=args.val_fraction)
    print(f"LLE-DAVIS root: {result.root}")
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run :func:`synthesize_program` under the project's runner; returns the exit code."""
    return run_program(synthesize_program, argv)


console = console_entry(synthesize_program)

if __name__ == "__main__":
    raise SystemExit(main())
