"""A tiny referring dataset written to disk in the LLE-DAVIS layout with procedural records
(the record format of the procedural generator): coloured squares and discs moving over a dark
background, exact masks, simple events, expressions of the three kinds."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from evolve.data.events import EventChunk, save_event_chunk
from evolve.data.image_io import davis_palette, write_frame, write_mask

COLOURS = {"red": (200, 30, 30), "blue": (30, 60, 210), "green": (30, 190, 40)}


def _draw(shape: str, cx: float, cy: float, r: float, h: int, w: int) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    if shape == "square":
        return (np.abs(xx - cx) <= r) & (np.abs(yy - cy) <= r)
    return (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r


def make_referring_root(root: Path, train: int = 2, val: int = 1, frames: int = 5, size: int = 64, seed: int = 0, events: bool = True) -> Path:
    """Write ``root/trainval_480p/...`` and return ``root`` (an LLE-DAVIS root).

    Each video has two objects: a red square moving right (object 1, large) and a blue disc
    moving down (object 2, small); validation videos swap the colours (held-out combinations).
    """
    rng = np.random.default_rng(seed)
    base = root / "trainval_480p"
    splits = {"train": [f"tr{i}" for i in range(train)], "val": [f"va{i}" for i in range(val)]}
    for split, names in splits.items():
        (base / "ImageSets/2017").mkdir(parents=True, exist_ok=True)
        (base / f"ImageSets/2017/{split}.txt").write_text("".join(n + "\n" for n in names))
        for name in names:
            held = split == "val"
            c1, c2 = ("blue", "red") if held else ("red", "blue")
            objs = [
                {"id": 1, "shape": "square", "colour": c1, "size": "large", "r": size * 0.16, "start": (size * 0.25, size * 0.3), "vel": (size * 0.06, 0.0), "motion": "right"},
                {"id": 2, "shape": "circle", "colour": c2, "size": "small", "r": size * 0.09, "start": (size * 0.7, size * 0.2), "vel": (0.0, size * 0.07), "motion": "down"},
            ]
            stems = [f"{i:05d}" for i in range(frames)]
            prev_luma = None
            centres = {o["id"]: [] for o in objs}
            for t, stem in enumerate(stems):
                img = np.full((size, size, 3), 12, np.uint8) + rng.integers(0, 6, (size, size, 3)).astype(np.uint8)
                ids = np.zeros((size, size), np.uint8)
                for o in objs:
                    cx, cy = o["start"][0] + o["vel"][0] * t, o["start"][1] + o["vel"][1] * t
                    centres[o["id"]].append([cx, cy])
                    m = _draw(o["shape"], cx, cy, o["r"], size, size)
                    img[m] = (np.array(COLOURS[o["colour"]]) * 0.3).astype(np.uint8)
                    ids[m] = o["id"]
                write_frame(base / "Lowlight_Images" / name / f"{stem}.jpg", img)
                write_frame(base / "JPEGImages" / name / f"{stem}.jpg", np.clip(img.astype(int) * 3, 0, 255).astype(np.uint8))
                write_mask(base / "Annotations" / name / f"{stem}.png", ids, davis_palette())
                luma = img.mean(-1)
                if events and prev_luma is not None:
                    ys, xs = np.nonzero(np.abs(luma - prev_luma) > 4)
                    n = len(xs)
                    tt = np.sort(rng.integers(t * 33_000, (t + 1) * 33_000, n)).astype(np.int64)
                    pol = np.where(luma[ys, xs] > prev_luma[ys, xs], 1, -1).astype(np.int8)
                    save_event_chunk(base / "Lowlight_event" / name / f"{stem}.npz", EventChunk(xs.astype(np.int64), ys.astype(np.int64), tt, pol))
                prev_luma = luma
            record = {
                "sequence": name, "height": size, "width": size, "num_frames": frames, "frame_names": stems,
                "objects": [
                    {"id": o["id"], "shape": o["shape"], "colour": o["colour"], "texture": "plain", "size": o["size"],
                     "size_px": float(np.pi * o["r"] ** 2), "motion": o["motion"], "motion_parent": "translate", "fold": 0,
                     "moving": True, "centre": centres[o["id"]], "scale": 1.0, "visible_area": 1.0}
                    for o in objs
                ],
                "expressions": [
                    {"object_id": 1, "text": f"the {objs[0]['size']} {c1} square", "kind": "attribute", "held_out": held},
                    {"object_id": 2, "text": f"the {c2} circle", "kind": "attribute", "held_out": held},
                    {"object_id": 1, "text": f"the square left of the {c2} circle", "kind": "relation", "held_out": False},
                    {"object_id": 2, "text": "the circle moving down", "kind": "motion", "held_out": False},
                ],
            }
            (base / "Procedural").mkdir(parents=True, exist_ok=True)
            (base / "Procedural" / f"{name}.json").write_text(json.dumps(record))
    return root
