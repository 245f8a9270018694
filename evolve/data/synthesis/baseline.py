"""Copy-the-first-mask baseline on an LLE-DAVIS-format dataset, scored with a simple J&F.

Used to check that the demo dataset is not trivial: predicting frame 0's mask for every frame
should score poorly when objects move. The score here is a compact re-statement of the
DAVIS 2017 semi-supervised measures (DESIGN 5), NOT the project's evaluator (``evolve.eval``):

- J = IoU per object and frame (both empty -> 1);
- F = boundary F-measure: 1-pixel boundaries (mask minus its 3x3 erosion), a predicted
  boundary pixel counts if a ground-truth boundary pixel lies within a disk of radius
  ``ceil(0.008 * image diagonal)`` and vice versa (both empty -> 1, one empty -> 0);
- first and last frames excluded; per-object means; global = mean over all objects.

    python -m evolve.data.synthesis.baseline <lle-davis root> [--split val]
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

import numpy as np

from evolve.data.image_io import read_mask


def boundary(mask: np.ndarray) -> np.ndarray:
    """bool (H, W) 1-pixel inner boundary of a bool mask (mask minus its 3x3 erosion)."""
    import cv2

    m = mask.astype(np.uint8)
    eroded = cv2.erode(m, np.ones((3, 3), np.uint8), borderType=cv2.BORDER_CONSTANT, borderValue=0)
    return (m - eroded).astype(bool)


def j_measure(gt: np.ndarray, pred: np.ndarray) -> float:
    """IoU of two bool (H, W) masks; 1 when both are empty."""
    union = np.logical_or(gt, pred).sum()
    return 1.0 if union == 0 else float(np.logical_and(gt, pred).sum() / union)


def f_measure(gt: np.ndarray, pred: np.ndarray) -> float:
    """Boundary F-measure of two bool (H, W) masks, tolerance ``ceil(0.008 * diagonal)`` pixels."""
    import cv2

    h, w = gt.shape
    r = int(math.ceil(0.008 * math.hypot(h, w)))
    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    bg, bp = boundary(gt), boundary(pred)
    if bg.sum() == 0 and bp.sum() == 0:
        return 1.0
    if bg.sum() == 0 or bp.sum() == 0:
        return 0.0
    gd = cv2.dilate(bg.astype(np.uint8), disk).astype(bool)
    pd = cv2.dilate(bp.astype(np.uint8), disk).astype(bool)
    precision = float((bp & gd).sum() / bp.sum())
    recall = float((bg & pd).sum() / bg.sum())
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def copy_first_mask_scores(lle_root: str | os.PathLike, split: str = "val") -> dict:
    """Score "copy frame 0's mask to every frame" on an LLE-DAVIS split.

    Args:
        lle_root: folder holding ``trainval_480p``.
        split: ``train`` or ``val`` (``ImageSets/2017/<split>.txt``).

    Returns:
        ``{"sequences": {name: {"J": .., "F": .., "objects": n}}, "J": .., "F": .., "J&F": ..,
        "objects": N}`` with global values averaged over all objects.
    """
    base = Path(lle_root) / "trainval_480p"
    names = [n for n in (base / "ImageSets" / "2017" / f"{split}.txt").read_text().split() if n]
    per_obj_j: list[float] = []
    per_obj_f: list[float] = []
    out: dict = {"sequences": {}}
    for name in names:
        files = sorted((base / "Annotations" / name).glob("*.png"))
        masks = [read_mask(p)[0] for p in files]
        first = masks[0]
        ids = [int(i) for i in np.unique(first) if i != 0]
        js, fs = [], []
        for oid in ids:
            jv = [j_measure(m == oid, first == oid) for m in masks[1:-1]]
            fv = [f_measure(m == oid, first == oid) for m in masks[1:-1]]
            js.append(float(np.mean(jv)))
            fs.append(float(np.mean(fv)))
        per_obj_j += js
        per_obj_f += fs
        out["sequences"][name] = {"J": float(np.mean(js)), "F": float(np.mean(fs)), "objects": len(ids)}
    out["J"] = float(np.mean(per_obj_j))
    out["F"] = float(np.mean(per_obj_f))
    out["J&F"] = (out["J"] + out["F"]) / 2
    out["objects"] = len(per_obj_j)
    return out


def main(argv: list[str] | None = None) -> int:
    """Print the copy-first-mask J, F and J&F of a split."""
    p = argparse.ArgumentParser(prog="python -m evolve.data.synthesis.baseline", description=__doc__.split("\n")[0])
    p.add_argument("root", help="LLE-DAVIS root (holding trainval_480p)")
    p.add_argument("--split", default="val")
    args = p.parse_args(argv)
    s = copy_first_mask_scores(args.root, args.split)
    for name, v in s["sequences"].items():
        print(f"{name:24s} J {v['J']:.3f}  F {v['F']:.3f}  objects {v['objects']}")
    print(f"global ({s['objects']} objects): J {s['J']:.3f}  F {s['F']:.3f}  J&F {s['J&F']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
