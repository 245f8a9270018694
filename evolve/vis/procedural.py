"""Pictures of the procedural motion / referring sets (docs/procedural.md).

One row per video: a caption with the objects (id: colour texture shape, motion) and one
expression per object, then a few frames with the masks overlaid and each moving object's
centre path up to that frame, then the low-light frame (brightened) and the events of the
middle frame.

    python -m evolve.vis.procedural <root> --out grid.png [--sequences a b] [--frames 4]

``<root>`` is a procedural dataset root, its ``LLE_DAVIS`` folder or the ``trainval_480p``
folder itself.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from evolve.data.events import load_event_chunk
from evolve.data.image_io import read_frame, read_mask
from evolve.data.procedural import find_procedural_base, read_record
from evolve.utils.atomic import atomic_open
from evolve.utils.errors import InputError
from evolve.vis.events import brighten, chunk_event_image
from evolve.vis.overlay import overlay_mask, palette_colours


def procedural_base(root: str | Path) -> Path:
    """The folder holding ``Procedural/`` (:func:`evolve.data.procedural.find_procedural_base`),
    which must also hold the LLE-DAVIS frames (``trainval_480p``).

    Raises:
        InputError: no procedural dataset below ``root``, or not its LLE-DAVIS folder.
    """
    base = find_procedural_base(root)
    if not (base / "Lowlight_Images").is_dir():
        raise InputError(base, "no Lowlight_Images here (the DAVIS source, not the LLE-DAVIS conversion)", "pass the dataset root or its LLE_DAVIS folder")
    return base


def _text_strip(lines: list[str], width: int) -> np.ndarray:
    import cv2

    strip = np.zeros((14 * len(lines) + 4, width, 3), np.uint8)
    for i, line in enumerate(lines):
        cv2.putText(strip, line, (4, 13 + 14 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
    return strip


def sequence_row(base: Path, seq: str, num_frames: int = 4, zoom: int = 2) -> np.ndarray:
    """uint8 (h, w, 3) picture row of one procedural video (module docstring).

    Args:
        base: the ``trainval_480p`` folder (:func:`procedural_base`).
        seq: sequence name.
        num_frames: frames shown, evenly spaced.
        zoom: integer upscaling of every tile (nearest neighbour).

    Raises:
        InputError: missing record, frame, mask or event file.
    """
    import cv2

    rec = read_record(base / "Procedural" / f"{seq}.json")
    names = rec["frame_names"]
    picks = np.linspace(0, len(names) - 1, num_frames).round().astype(int).tolist()
    colours = palette_colours()
    tiles = []
    for t in picks:
        rgb = read_frame(base / "JPEGImages" / seq / f"{names[t]}.jpg")
        ids, _ = read_mask(base / "Annotations" / seq / f"{names[t]}.png")
        img = overlay_mask(rgb, ids, alpha=0.2)
        img = cv2.resize(img, None, fx=zoom, fy=zoom, interpolation=cv2.INTER_NEAREST)
        for o in rec["objects"]:
            if o["moving"] and t > 0:
                path = np.round(np.asarray(o["centre"][: t + 1]) * zoom).astype(np.int32)
                cv2.polylines(img, [path], False, tuple(int(c) for c in colours[o["id"]]), 1, cv2.LINE_AA)
        tiles.append(img)
    mid = picks[len(picks) // 2] if len(names) > 1 else 0
    low = read_frame(base / "Lowlight_Images" / seq / f"{names[mid]}.jpg")
    h, w = low.shape[:2]
    chunk = load_event_chunk(base / "Lowlight_event" / seq / f"{names[max(mid, 1)]}.npz", (h, w))
    for extra in (brighten(low)[0], chunk_event_image(chunk, h, w)):
        tiles.append(cv2.resize(extra, None, fx=zoom, fy=zoom, interpolation=cv2.INTER_NEAREST))
    sep = np.full((tiles[0].shape[0], 3, 3), 128, np.uint8)
    row = np.concatenate([x for tile in tiles for x in (tile, sep)][:-1], 1)
    first_exp = {}
    for e in rec["expressions"]:
        first_exp.setdefault(e["object_id"], e["text"])
    lines = [f"{seq}   frames {', '.join(names[t] for t in picks)} | low light x gain, events at {names[mid]}"]
    for o in rec["objects"]:
        lines.append(f"{o['id']}: {o['size']} {o['colour']} {o['texture']} {o['shape']}, {o['motion']} - \"{first_exp.get(o['id'], '')}\"")
    return np.concatenate([_text_strip(lines, row.shape[1]), row], 0)


def procedural_grid(root: str | Path, sequences: Sequence[str], num_frames: int = 4, zoom: int = 2) -> np.ndarray:
    """Rows of :func:`sequence_row` stacked (padded to one width): uint8 (H, W, 3)."""
    base = procedural_base(root)
    rows = [sequence_row(base, s, num_frames, zoom) for s in sequences]
    width = max(r.shape[1] for r in rows)
    gap = np.full((6, width, 3), 255, np.uint8)
    padded = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0))) for r in rows]
    return np.concatenate([x for r in padded for x in (r, gap)][:-1], 0)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Write :func:`procedural_grid` of chosen (default: the first query, support and referring) videos to a PNG."""
    import cv2

    p = argparse.ArgumentParser(prog="python -m evolve.vis.procedural", description=__doc__.splitlines()[0])
    p.add_argument("root")
    p.add_argument("--out", required=True, help="PNG file to write")
    p.add_argument("--sequences", nargs="*", default=None)
    p.add_argument("--frames", type=int, default=4)
    p.add_argument("--zoom", type=int, default=2)
    args = p.parse_args(argv)
    base = procedural_base(args.root)
    seqs = args.sequences
    if not seqs:
        groups = json.loads((base / "Procedural" / "classes.json").read_text())["groups"]
        seqs = [v[0] for g in ("query", "support", "referring") for v in [groups.get(g, [])] if v]
    grid = procedural_grid(base, seqs, args.frames, args.zoom)
    ok, buf = cv2.imencode(".png", cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))
    if not ok:  # pragma: no cover - OpenCV without PNG support
        raise RuntimeError("OpenCV could not encode the PNG")
    with atomic_open(args.out, "wb") as fh:
        fh.write(buf.tobytes())
    print(f"wrote {args.out} ({', '.join(seqs)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
