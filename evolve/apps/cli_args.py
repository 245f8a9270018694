"""Command-line options shared by the dataset programs (``evolve-check``, ``evolve-voxels``)."""

from __future__ import annotations

import argparse

from evolve.data.layout import DatasetLayout, detect_layout, make_layout
from evolve.utils.errors import InputError


def add_layout_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``root``, ``--layout`` and the ``generic`` folder options to a parser."""
    parser.add_argument("root", help="dataset root folder (LLE_VOS, LLE_DAVIS, DAVIS or any folder for --layout generic)")
    parser.add_argument(
        "--layout", default="auto", choices=["auto", "lle_vos", "lle_davis", "davis", "generic"],
        help="dataset layout (default: detected from the sub-folders)",
    )
    parser.add_argument("--resolution", default="480p", help="DAVIS resolution folder (davis layout)")
    parser.add_argument("--image-dir", help="generic: frame folder relative to root")
    parser.add_argument("--mask-dir", help="generic: mask folder relative to root")
    parser.add_argument("--event-dir", help="generic: event chunk folder relative to root")
    parser.add_argument("--voxel-dir", help="generic: voxel cache folder relative to root")
    parser.add_argument("--split-file", help="generic: file listing the sequences, relative to root")


def layout_from_args(args: argparse.Namespace) -> DatasetLayout:
    """Build the layout named by :func:`add_layout_arguments` options.

    Raises:
        InputError: undetectable layout, or ``generic`` without ``--image-dir``/``--mask-dir``.
    """
    if args.layout == "auto":
        return detect_layout(args.root)
    if args.layout == "generic":
        if not args.image_dir or not args.mask_dir:
            raise InputError(args.root, "--layout generic needs --image-dir and --mask-dir", "name the frame and mask folders")
        return make_layout("generic", args.root, image_dir=args.image_dir, mask_dir=args.mask_dir,
                           event_dir=args.event_dir, voxel_dir=args.voxel_dir, split_file=args.split_file)
    if args.layout == "davis":
        return make_layout("davis", args.root, resolution=args.resolution)
    return make_layout(args.layout, args.root)
