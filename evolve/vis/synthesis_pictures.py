"""Pictures of an LLE-DAVIS-format dataset: one row per frame.

    normal | low-light | low-light brightened | events (ON red, OFF blue) | voxel bins 0..B-1

    evolve-pictures <lle-davis root> --out <dir> [--sequences a b]
        [--frames 00000 00010] [--max-frames N] [--mp4] [--tile-height 240] [--background black]

PNG rows go to ``<out>/<seq>/<frame>.png``; with ``--mp4`` one video per sequence,
``<out>/<seq>.mp4`` (OpenCV VideoWriter, mp4v). Voxel grids come from ``EventVoxel`` when
present, otherwise they are built from the event chunk; frame 0 shows the chunk of frame 1
(DESIGN 2.3).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from evolve.data.events import EventChunk, load_event_chunk
from evolve.data.image_io import list_images, read_frame
from evolve.data.voxel import chunk_to_voxel_grid
from evolve.utils.errors import InputError
from evolve.vis.events import brighten, chunk_event_image, voxel_to_rgb


def lle_base(root: Path) -> Path:
    """The ``trainval_480p`` folder of an LLE-DAVIS root (or ``root`` itself when it is one).

    Raises:
        InputError: neither holds ``Lowlight_Images``.
    """
    if (root / "trainval_480p" / "Lowlight_Images").is_dir():
        return root / "trainval_480p"
    if (root / "Lowlight_Images").is_dir():
        return root
    raise InputError(root, "not an LLE-DAVIS-format folder (no trainval_480p/Lowlight_Images)", "pass the folder that holds trainval_480p/")


def _label(tile: np.ndarray, text: str) -> np.ndarray:
    """Put ``text`` on a black strip above a uint8 (h, w, 3) tile."""
    import cv2

    strip = np.zeros((18, tile.shape[1], 3), np.uint8)
    cv2.putText(strip, text, (4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (255, 255, 255), 1, cv2.LINE_AA)
    return np.concatenate([strip, tile], 0)


def _fit(img: np.ndarray, height: int) -> np.ndarray:
    import cv2

    if img.shape[0] == height:
        return img
    width = max(1, int(round(img.shape[1] * height / img.shape[0])))
    return cv2.resize(img, (width, height), interpolation=cv2.INTER_AREA)


def frame_row(
    normal: np.ndarray | None,
    lowlight: np.ndarray,
    chunk: EventChunk,
    voxel: np.ndarray,
    tile_height: int = 240,
    background: str = "black",
) -> np.ndarray:
    """One picture row for a frame.

    Args:
        normal: uint8 (H, W, 3) normal-light frame, or None (tile left out).
        lowlight: uint8 (H, W, 3) low-light frame.
        chunk: events of the interval ending at this frame.
        voxel: float32 (B, H, W) voxel grid.
        tile_height: height of each tile in pixels (tiles are resized with area averaging).
        background: event-image background, ``black`` or ``white``.

    Returns:
        uint8 (tile_height + 18, W_total, 3) RGB row with labels.
    """
    h, w = lowlight.shape[:2]
    bright, gain = brighten(lowlight)
    tiles = []
    if normal is not None:
        tiles.append(("normal", normal))
    tiles += [
        ("low-light", lowlight),
        (f"low-light x{gain:.1f}", bright),
        (f"events ({len(chunk)})", chunk_event_image(chunk, h, w, background)),
    ]
    for b, img in enumerate(voxel_to_rgb(voxel)):
        tiles.append((f"voxel bin {b}", img))
    sep = np.full((tile_height + 18, 2, 3), 128, np.uint8)
    parts = []
    for i, (name, img) in enumerate(tiles):
        if i:
            parts.append(sep)
        parts.append(_label(_fit(img, tile_height), name))
    return np.concatenate(parts, 1)


def sequence_rows(base: Path, seq: str, frames: list[str] | None = None, max_frames: int | None = None,
                  tile_height: int = 240, background: str = "black", num_bins: int = 5):
    """Yield ``(frame name, uint8 row)`` for frames of ``seq`` in an LLE-DAVIS ``trainval_480p`` folder.

    Raises:
        InputError: missing frames or event chunks.
    """
    low_files = list_images(base / "Lowlight_Images" / seq)
    if not low_files:
        raise InputError(base / "Lowlight_Images" / seq, "no low-light frames", "check the sequence name")
    stems = [p.stem for p in low_files]
    chosen = [s for s in stems if frames is None or s in frames]
    if max_frames is not None:
        chosen = chosen[:max_frames]
    for stem in chosen:
        i = stems.index(stem)
        chunk_stem = stems[1] if i == 0 and len(stems) > 1 else stem
        low = read_frame(low_files[i])
        h, w = low.shape[:2]
        normal_path = base / "JPEGImages" / seq / f"{stem}.jpg"
        normal = read_frame(normal_path) if normal_path.is_file() else None
        if len(stems) > 1:
            chunk = load_event_chunk(base / "Lowlight_event" / seq / f"{chunk_stem}.npz", (h, w))
        else:
            chunk = EventChunk.empty()
        vox_path = base / "EventVoxel" / seq / f"{stem}.npy"
        voxel = np.load(vox_path) if vox_path.is_file() else chunk_to_voxel_grid(chunk, (h, w), num_bins).numpy()
        yield stem, frame_row(normal, low, chunk, voxel, tile_height, background)


def write_mp4(path: Path, rows: list[np.ndarray], fps: float = 10.0) -> None:
    """Write RGB uint8 rows as an mp4v video (temporary name, then rename).

    Raises:
        RuntimeError: OpenCV cannot open a video writer.
    """
    import cv2

    h, w = rows[0].shape[:2]
    h2, w2 = h - h % 2, w - w % 2  # codecs want even sizes
    # Not evolve.utils.atomic: OpenCV picks the container from the file suffix, so the
    # temporary name must end in .mp4.
    tmp = path.with_name(f"{path.stem}.tmp-{os.getpid()}.mp4")
    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w2, h2))
    try:
        if not writer.isOpened():
            raise RuntimeError(f"OpenCV cannot write {tmp} (no mp4v encoder)")
        for r in rows:
            writer.write(cv2.cvtColor(np.ascontiguousarray(r[:h2, :w2]), cv2.COLOR_RGB2BGR))
        writer.release()
        os.replace(tmp, path)
    finally:
        writer.release()
        tmp.unlink(missing_ok=True)
