"""Builders of tiny DAVIS-format and YouTube-VOS-format folders for the synthesis tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from evolve.data.image_io import write_mask


def _moving_frames(rng: np.random.Generator, n: int, h: int, w: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """A textured square moving over a gradient, with its id mask."""
    yy, xx = np.mgrid[0:h, 0:w]
    bg = np.stack([xx * 255 // w, yy * 255 // h, np.full_like(xx, 90)], -1).astype(np.uint8)
    tex = rng.integers(60, 255, (8, 8, 3), dtype=np.uint8)
    frames, masks = [], []
    for t in range(n):
        img = bg.copy()
        m = np.zeros((h, w), np.uint8)
        x0, y0 = 2 + 3 * t, 3 + t
        img[y0 : y0 + 8, x0 : x0 + 8] = tex
        m[y0 : y0 + 8, x0 : x0 + 8] = 1
        frames.append(img)
        masks.append(m)
    return frames, masks


def make_davis2016(root: Path, seqs=("alpha", "beta", "gamma"), n=5, h=24, w=32, seed=0) -> Path:
    """DAVIS 2016 layout: JPEG frames, {0,255} grayscale masks, ImageSets/480p split files."""
    rng = np.random.default_rng(seed)
    for s in seqs:
        frames, masks = _moving_frames(rng, n, h, w)
        (root / "JPEGImages/480p" / s).mkdir(parents=True)
        (root / "Annotations/480p" / s).mkdir(parents=True)
        for t, (f, m) in enumerate(zip(frames, masks)):
            Image.fromarray(f).save(root / "JPEGImages/480p" / s / f"{t:05d}.jpg", quality=95)
            Image.fromarray(m * 255).save(root / "Annotations/480p" / s / f"{t:05d}.png")
    (root / "ImageSets/480p").mkdir(parents=True)
    (root / "ImageSets/480p/train.txt").write_text(f"{seqs[0]}\n{seqs[1]}\n")
    # The original DAVIS 2016 style: frame/mask path pairs.
    (root / "ImageSets/480p/val.txt").write_text(
        "".join(f"/JPEGImages/480p/{seqs[2]}/{t:05d}.jpg /Annotations/480p/{seqs[2]}/{t:05d}.png\n" for t in range(n))
    )
    return root


def make_youtube_vos(root: Path, n=6, h=20, w=28, seed=1) -> Path:
    """YouTube-VOS/MOSE layout: PNG frames named every 5th, palette masks (ids 3 and 5) on some frames, no splits."""
    rng = np.random.default_rng(seed)
    palette = bytes(rng.integers(0, 256, 768, dtype=np.uint8))
    for s in ("0a1b2c", "ffee00"):
        frames, masks = _moving_frames(rng, n, h, w)
        (root / "JPEGImages" / s).mkdir(parents=True)
        for t, f in enumerate(frames):
            Image.fromarray(f).save(root / "JPEGImages" / s / f"{5 * t:05d}.png")
        for t in (0, 3):
            ids = masks[t] * 3
            ids[:2, :2] = 5
            write_mask(root / "Annotations" / s / f"{5 * t:05d}.png", ids, palette)
    return root
