"""Copy-first-mask baseline: predict every frame with the first frame's ground-truth mask, then J&F.

    python scripts/copy_first_mask.py <gt_dir> <out_dir> [--sequences FILE]

The floor a trained model must beat (objects that move make it score low). Writes palette PNGs
to ``out_dir/<seq>/`` and the official CSVs, and prints the J&F table.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from evolve.data.image_io import list_images, read_mask, write_mask  # noqa: E402
from evolve.eval.evaluator import evaluate_dataset, list_sequences, read_sequence_list  # noqa: E402
from evolve.eval.report import format_global_table  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("gt_dir", type=Path, help="<seq>/<frame>.png ground truth")
    p.add_argument("out_dir", type=Path, help="where the copied predictions and CSVs go")
    p.add_argument("--sequences", type=Path, default=None, help="list file of sequences (default: all)")
    args = p.parse_args(argv)
    seqs = read_sequence_list(args.sequences) if args.sequences else list_sequences(args.gt_dir)
    for seq in seqs:
        masks = [m for m in list_images(args.gt_dir / seq) if m.suffix == ".png"]
        ids, palette = read_mask(masks[0])
        for m in masks:
            write_mask(args.out_dir / seq / m.name, ids, palette)
    result = evaluate_dataset(args.gt_dir, args.out_dir, sequences=seqs, workers=1, progress=False)
    print(format_global_table(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
