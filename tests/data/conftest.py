"""Builders of tiny LLE-format datasets for the data tests (written to tmp_path)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from evolve.data.events import EventChunk, save_event_chunk
from evolve.data.image_io import write_frame, write_mask
from evolve.data.layout import DatasetLayout, lle_davis, lle_vos


def random_chunk(rng: np.random.Generator, n: int, size: tuple[int, int], t0: int) -> EventChunk:
    """``n`` events with sorted integer timestamps in [t0, t0 + 40 ms), inside ``size`` (H, W)."""
    h, w = size
    t = np.sort(rng.integers(t0, t0 + 40_000, n)).astype(np.int64)
    return EventChunk(rng.integers(0, w, n), rng.integers(0, h, n), t, rng.choice([-1, 1], n).astype(np.int8))


def write_chunk(path: Path, chunk: EventChunk) -> None:
    """``.npz`` via save_event_chunk, or LLE-VOS style ``.npy`` (N, 4) x, y, t, p with p in {0, 1}."""
    if path.suffix == ".npz":
        save_event_chunk(path, chunk)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        arr = np.stack([chunk.x, chunk.y, chunk.t, (chunk.p > 0).astype(np.int64)], axis=1).astype(np.float64)
        np.save(path, arr)


def square_frame(size: tuple[int, int], top: int, left: int, side: int, value: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """A dark RGB frame (H, W, 3) uint8 with a bright square, and its id mask (H, W) uint8 (id 1)."""
    h, w = size
    rgb = np.full((h, w, 3), 20, np.uint8)
    rgb[top : top + side, left : left + side] = value
    mask = np.zeros((h, w), np.uint8)
    mask[top : top + side, left : left + side] = 1
    return rgb, mask


@dataclass
class TinyDataset:
    """What :func:`make_tiny_dataset` wrote: the layout and the events of every chunk."""

    layout: DatasetLayout
    size: tuple[int, int]
    chunks: dict[str, dict[str, EventChunk]] = field(default_factory=dict)  # seq -> frame stem -> chunk
    frames: dict[str, list[str]] = field(default_factory=dict)


def make_tiny_dataset(
    root: Path,
    preset: str = "lle_davis",
    sequences: dict[str, int] | None = None,
    size: tuple[int, int] = (40, 56),
    rng: np.random.Generator | None = None,
    images: dict[str, list[np.ndarray]] | None = None,
    masks: dict[str, list[np.ndarray]] | None = None,
    splits: dict[str, list[str]] | None = None,
) -> TinyDataset:
    """Write a small LLE-format dataset (frames, masks, one chunk per frame after the first).

    Chunk ``k`` of a sequence has ``50 + 7 * k`` events (distinct counts, so a mis-pairing
    shows). Frames are moving squares unless ``images`` (and ``masks``) are given.
    """
    rng = rng or np.random.default_rng(1)
    sequences = sequences or {"seq_a": 4, "seq_b": 5}
    layout = lle_davis(root) if preset == "lle_davis" else lle_vos(root)
    ext_img = ".jpg" if preset == "lle_davis" else ".png"
    ext_ev = ".npz" if preset == "lle_davis" else ".npy"
    out = TinyDataset(layout, size)
    h, w = size
    for seq, n in sequences.items():
        stems = [f"{i:05d}" for i in range(n)]
        out.frames[seq] = stems
        out.chunks[seq] = {}
        for i, stem in enumerate(stems):
            if images is not None:
                rgb, mask = images[seq][i], masks[seq][i]
            else:
                rgb, mask = square_frame(size, top=4 + i, left=6 + 2 * i, side=12)
            write_frame(layout.image_folder(seq) / f"{stem}{ext_img}", rgb)
            write_mask(layout.mask_folder(seq) / f"{stem}.png", mask)
            if i > 0:
                chunk = random_chunk(rng, 50 + 7 * i, rgb.shape[:2], t0=1_000_000 + 40_000 * i)
                write_chunk(layout.event_folder(seq) / f"{stem}{ext_ev}", chunk)
                out.chunks[seq][stem] = chunk
    splits = splits or ({"train": list(sequences), "val": list(sequences)[:1]})
    for name, seqs in splits.items():
        if name in layout.splits:
            p = layout.split_path(name)
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text("\n".join(seqs) + "\n")
    return out


@pytest.fixture
def tiny_lle_davis(tmp_path) -> TinyDataset:
    return make_tiny_dataset(tmp_path / "LLE_DAVIS", "lle_davis")


@pytest.fixture
def tiny_lle_vos(tmp_path) -> TinyDataset:
    return make_tiny_dataset(tmp_path / "LLE_VOS", "lle_vos")
