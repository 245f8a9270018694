"""Tiny motion-labelled trees written by the tests: the procedural record format in an LLE-DAVIS
layout, and MOVE's release layout. Objects are squares; each motion class is a velocity, so
the expected masks are known exactly."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np

from evolve.data.events import EventChunk, save_event_chunk
from evolve.data.image_io import write_frame, write_mask

# name -> (parent, fold, velocity (dx, dy) in px/frame)
CLASSES = {
    "left": ("translate", 0, (-2, 0)),
    "right": ("translate", 0, (2, 0)),
    "up": ("translate", 1, (0, -2)),
    "down": ("translate", 1, (0, 2)),
    "up_left": ("diagonal", 2, (-2, -2)),
    "down_right": ("diagonal", 2, (2, 2)),
    "up_right": ("diagonal", 3, (2, -2)),
    "down_left": ("diagonal", 3, (-2, 2)),
}
SIZE = 6  # square side in pixels


def _render(h: int, w: int, n: int, objects: list[dict], rng: np.random.Generator) -> tuple[list[np.ndarray], list[np.ndarray]]:
    frames, masks = [], []
    for t in range(n):
        img = np.full((h, w, 3), 40, np.uint8)
        ids = np.zeros((h, w), np.uint8)
        for o in objects:
            x, y = o["centre"][t]
            x0, y0 = int(round(x)) - SIZE // 2, int(round(y)) - SIZE // 2
            xs, ys = slice(max(x0, 0), max(min(x0 + SIZE, w), 0)), slice(max(y0, 0), max(min(y0 + SIZE, h), 0))
            img[ys, xs] = o["rgb"]
            ids[ys, xs] = o["id"]
        frames.append(img)
        masks.append(ids)
    return frames, masks


def write_procedural(root: Path, videos: Sequence[tuple[str, str, Sequence[str], int]], n_frames: int = 8, h: int = 32, w: int = 32,
                     classes: dict = CLASSES, class_form: str = "list", seed: int = 0) -> Path:
    """An LLE-DAVIS tree with procedural records.

    Args:
        videos: ``(name, split, motions of the moving objects, number of static objects)``.
        class_form: ``list`` | ``dict`` | ``object`` (the three forms of classes.json).
    Returns:
        ``root``.
    """
    rng = np.random.default_rng(seed)
    base = root / "trainval_480p"
    splits: dict[str, list[str]] = {}
    for name, split, motions, n_static in videos:
        splits.setdefault(split, []).append(name)
        objects = []
        for k, motion in enumerate(list(motions) + ["static"] * n_static):
            start = np.array([8 + 16 * (k % 2), 8 + 16 * ((k // 2) % 2)], float)
            vel = np.array(classes[motion][2] if motion != "static" else (0, 0), float)
            centre = [(start + vel * t * 0.5).tolist() for t in range(n_frames)]
            objects.append({"id": k + 1, "shape": "square", "colour": "c%d" % k, "texture": "flat", "size": "small", "size_px": SIZE,
                            "motion": motion, "motion_parent": classes[motion][0] if motion != "static" else None,
                            "fold": classes[motion][1] if motion != "static" else None, "moving": motion != "static",
                            "centre": centre, "scale": [1.0] * n_frames, "rgb": rng.integers(120, 255, 3).astype(np.uint8)})
        frames, masks = _render(h, w, n_frames, objects, rng)
        names = [f"{t:05d}" for t in range(n_frames)]
        for t, (f, m) in enumerate(zip(frames, masks)):
            write_frame(base / "JPEGImages" / name / f"{names[t]}.jpg", f)
            write_frame(base / "Lowlight_Images" / name / f"{names[t]}.jpg", (f // 4).astype(np.uint8))
            write_mask(base / "Annotations" / name / f"{names[t]}.png", m)
            if t > 0:  # events where the luma changed, polarity = sign of the change
                d = f.mean(-1) - frames[t - 1].mean(-1)
                ys, xs = np.nonzero(np.abs(d) > 10)
                ts = np.sort(rng.integers(40_000 * (t - 1), 40_000 * t, len(xs))).astype(np.int64)
                chunk = EventChunk(xs.astype(np.int64), ys.astype(np.int64), ts, np.sign(d[ys, xs]).astype(np.int8))
                (base / "Lowlight_event" / name).mkdir(parents=True, exist_ok=True)
                save_event_chunk(base / "Lowlight_event" / name / f"{names[t]}.npz", chunk)
        for o in objects:
            o["visible_area"] = [int((m == o["id"]).sum()) for m in masks]
            o.pop("rgb")
        rec = {"sequence": name, "height": h, "width": w, "num_frames": n_frames, "frame_names": names, "objects": objects, "expressions": []}
        (base / "Procedural").mkdir(parents=True, exist_ok=True)
        (base / "Procedural" / f"{name}.json").write_text(json.dumps(rec))
    entries = [{"name": c, "parent": p, "fold": f} for c, (p, f, _) in classes.items()]
    if class_form == "list":
        cls_json = entries
    elif class_form == "object":
        cls_json = {"motion_classes": entries, "parents": ["translate", "diagonal"], "static": "static"}
    else:
        cls_json = {e["name"]: {"parent": e["parent"], "fold": e["fold"]} for e in entries}
    (base / "Procedural" / "classes.json").write_text(json.dumps(cls_json))
    (base / "ImageSets/2017").mkdir(parents=True, exist_ok=True)
    for split, names_ in splits.items():
        (base / "ImageSets/2017" / f"{split}.txt").write_text("".join(n + "\n" for n in names_))
    return root


def standard_videos(per_class: int = 2, split_of=lambda i: "train" if i % 3 else "val") -> list[tuple[str, str, list[str], int]]:
    """Support-type videos (one mover) for every class, plus query-type videos (two movers of
    different classes and a static distractor)."""
    out = []
    names = list(CLASSES)
    i = 0
    for c in names:
        for r in range(per_class):
            out.append((f"s_{c}_{r}", "train" if r % 2 == 0 else "val", [c], 0))
            i += 1
    for k, c in enumerate(names):
        other = names[(k + 2) % len(names)]
        out.append((f"q_{c}_{other}", "train" if k % 2 == 0 else "val", [c, other], 1))
    return out


def rle_counts(mask: np.ndarray) -> list[int]:
    """Uncompressed COCO run lengths (column-major, starting with background) of a bool mask."""
    flat = mask.T.reshape(-1).astype(np.uint8)
    counts, current, run = [], 0, 0
    for v in flat:
        if v == current:
            run += 1
        else:
            counts.append(run)
            current, run = v, 1
    counts.append(run)
    return counts


def write_move(root: Path, videos: dict[str, list[tuple[str, str, int, int]]], n_frames: int = 6, h: int = 24, w: int = 32,
               groups: Sequence[Sequence[str]] | None = None, compressed: bool = False) -> Path:
    """MOVE's release layout.

    Args:
        videos: video -> objects ``(object category, motion category, start_frame, end_frame)``;
            object ``k`` is a square moving right from row ``4 + 8k``.
        groups: the 4 groups of ``action_groups.json`` (default: the motions round-robin).
        compressed: write COCO's compressed RLE strings (pycocotools) instead of run-length lists.
    """
    motions = sorted({m for objs in videos.values() for _, m, _, _ in objs})
    if groups is None:
        groups = [motions[g::4] for g in range(4)]
    for vid, objs in videos.items():
        frames_dir = root / "frames" / vid
        objects = []
        for k, (cat, motion, s, e) in enumerate(objs):
            masks = []
            for t in range(n_frames):
                m = np.zeros((h, w), bool)
                m[4 + 8 * k: 4 + 8 * k + 5, 2 + 3 * t: 2 + 3 * t + 5] = True
                if compressed:
                    from pycocotools import mask as mask_utils

                    r = mask_utils.encode(np.asfortranarray(m.astype(np.uint8)))
                    masks.append({"size": [h, w], "counts": r["counts"].decode("ascii")})
                else:
                    masks.append({"size": [h, w], "counts": rle_counts(m)})
            objects.append({"category": cat, "masks": masks, "actions": [{"action": motion, "start_frame": s, "end_frame": e}]})
        for t in range(n_frames):
            img = np.full((h, w, 3), 30 + 10 * t, np.uint8)
            write_frame(frames_dir / f"{t:05d}.jpg", img)
        (root / "annotations").mkdir(parents=True, exist_ok=True)
        (root / "annotations" / f"{vid}.json").write_text(json.dumps({"length": n_frames, "objects": objects}))
    (root / "action_groups.json").write_text(json.dumps([{"group": g, "actions": list(a)} for g, a in enumerate(groups)]))
    (root / "challenging_group.json").write_text(json.dumps([{"group": g, "actions": list(a)} for g, a in enumerate(reversed(list(groups)))]))
    return root
