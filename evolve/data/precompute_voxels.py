"""Precompute the voxel grid of every frame: ``evolve-voxels <root>``.

Writes ``<voxel_dir>/<seq>/<frame>.npy`` (``EventVoxel`` in the LLE presets), float32
``(B, H, W)`` at the frame's size, one per frame; the first frame gets the grid of the
second frame's chunk (DESIGN 2.3; the file the readers expect). Existing files with the
right shape and dtype are skipped (``--overwrite`` rebuilds them); every file is written
atomically (temporary name, then rename), so an interrupted run leaves no half-written file
and a rerun finishes the job. Chunks are read by ``--workers`` processes; grids are built
on ``--device`` (``cuda`` helps little: reading the chunks dominates).

Readers use a valid cache file instead of the chunk (:func:`evolve.data.voxel.frame_voxel_grid`).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from evolve.data.events import EventChunk, load_event_chunk
from evolve.data.layout import DatasetLayout, index_sequence, list_sequences
from evolve.data.voxel import DEFAULT_NUM_BINS, chunk_to_voxel_grid
from evolve.utils.atomic import atomic_open
from evolve.utils.errors import InputError


@dataclass(frozen=True)
class VoxelJob:
    """One file to write: the chunk to read, the frame size ``(H, W)`` in pixels, the output path."""

    chunk: Path | None
    size: tuple[int, int]
    out: Path


def is_valid_voxel_file(path: Path, num_bins: int, size: tuple[int, int]) -> bool:
    """True when ``path`` is a readable float32 ``(num_bins, H, W)`` ``.npy`` (header check only)."""
    if not path.is_file():
        return False
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError):
        return False
    return arr.dtype == np.float32 and arr.shape == (num_bins, *size)


def plan_jobs(layout: DatasetLayout, split: str | None, num_bins: int, overwrite: bool) -> tuple[list[VoxelJob], int]:
    """The files to (re)write for a split, and how many valid ones are skipped.

    Raises:
        InputError: the layout has no ``voxel_dir`` or no ``event_dir``, or pairing problems
            (see :func:`evolve.data.layout.index_sequence`).
    """
    if layout.voxel_dir is None or layout.event_dir is None:
        raise InputError(layout.root, "the layout has no event folder or no voxel folder",
                         "use an LLE preset, or --layout generic with --event-dir and --voxel-dir")
    jobs, skipped = [], 0
    for seq in list_sequences(layout, split):
        ev = layout.event_folder(seq)
        if ev is None or not ev.is_dir():
            raise InputError(ev, "event folder of the sequence does not exist", "add the event chunks")
        files = index_sequence(layout, seq)
        with Image.open(files.frame_files[0]) as im:
            w, h = im.size
        for chunk, out in zip(files.chunk_files, files.voxel_files):
            if not overwrite and is_valid_voxel_file(out, num_bins, (h, w)):
                skipped += 1
                continue
            jobs.append(VoxelJob(chunk, (h, w), out))
    return jobs, skipped


class _ChunkReader(Dataset):
    """Loads the chunk of each job (in DataLoader workers)."""

    def __init__(self, jobs: list[VoxelJob]) -> None:
        self.jobs = jobs

    def __len__(self) -> int:
        return len(self.jobs)

    def __getitem__(self, i: int) -> tuple[int, EventChunk | tuple[str | None, str, str]]:
        job = self.jobs[i]
        try:
            chunk = EventChunk.empty() if job.chunk is None else load_event_chunk(job.chunk, sensor_size=job.size)
        except InputError as e:  # crosses the worker boundary as a plain tuple
            return i, (e.path, e.problem, e.fix)
        return i, chunk


def write_voxel_file(path: Path, voxel: torch.Tensor) -> None:
    """Save a (B, H, W) grid as float32 ``.npy``, atomically."""
    buf = io.BytesIO()
    np.save(buf, voxel.detach().to("cpu", torch.float32).numpy())
    with atomic_open(path, "wb") as f:
        f.write(buf.getvalue())


def precompute(
    layout: DatasetLayout,
    split: str | None = None,
    num_bins: int = DEFAULT_NUM_BINS,
    device: str = "cpu",
    workers: int = 0,
    overwrite: bool = False,
    progress: bool = True,
) -> tuple[int, int]:
    """Write the voxel cache of a split (DESIGN 2.4); returns ``(written, skipped)``.

    Raises:
        InputError: see :func:`plan_jobs`; bad chunks (the file is named; files written
            before it are kept, so a rerun resumes).
    """
    jobs, skipped = plan_jobs(layout, split, num_bins, overwrite)
    loader = DataLoader(_ChunkReader(jobs), batch_size=None, num_workers=workers, shuffle=False)
    written = 0
    for i, chunk in tqdm(loader, total=len(jobs), desc="voxel grids", unit="frame", disable=not progress):
        job = jobs[i]
        if isinstance(chunk, (tuple, list)):
            raise InputError(*chunk)
        voxel = chunk_to_voxel_grid(chunk, job.size, num_bins=num_bins, device=device)  # (B, H, W)
        write_voxel_file(job.out, voxel)
        written += 1
    return written, skipped
