"""Event voxel grids, exactly as EVOLVE builds them (DESIGN 2.4; Zhu et al., CVPR 2019, Eq. 2).

    V[b, y, x] = sum_i p_i * max(0, 1 - |b - t*_i|),
    t*_i = (B - 1) * (t_i - t_first) / (t_last - t_first)

with p_i in {-1, +1}, and t_first / t_last the first and last event of the chunk (not the
frame times). No value normalisation. Defined edge cases:

- empty chunk: all zeros;
- one event, or all events at one timestamp (t_last == t_first): t*_i = 0, so every event
  lands in bin 0 with weight 1.

Each event's weight is split between its two neighbouring bins and the two weights sum to 1,
so the grid of an all-ON chunk sums to the event count.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from evolve.data.events import EventChunk, load_event_chunk
from evolve.utils.errors import InputError

if TYPE_CHECKING:  # pragma: no cover
    from evolve.data.layout import SequenceFiles

DEFAULT_NUM_BINS = 5


def events_to_voxel_grid(
    x: torch.Tensor,
    y: torch.Tensor,
    t: torch.Tensor,
    p: torch.Tensor,
    height: int,
    width: int,
    num_bins: int = DEFAULT_NUM_BINS,
) -> torch.Tensor:
    """Build a ``(num_bins, height, width)`` float32 voxel grid on the device of ``x``.

    Args:
        x: int64 (N,) pixel columns in [0, width).
        y: int64 (N,) pixel rows in [0, height).
        t: (N,) timestamps (any unit; microseconds in this project), sorted non-decreasing.
        p: (N,) polarity in {-1, +1} (any numeric dtype).
        height, width: grid size in pixels.
        num_bins: B, the number of temporal bins (EVOLVE: 5).

    Returns:
        float32 tensor (B, H, W).

    Raises:
        ValueError: mismatched lengths, ``num_bins < 1``, or coordinates outside the grid.
    """
    if num_bins < 1:
        raise ValueError(f"num_bins must be >= 1, got {num_bins}")
    n = x.shape[0]
    if not (y.shape[0] == t.shape[0] == p.shape[0] == n):
        raise ValueError("x, y, t, p must have the same length")
    device = x.device
    plane = height * width
    voxel = torch.zeros(num_bins * plane, dtype=torch.float32, device=device)  # (B*H*W,)
    if n == 0:
        return voxel.view(num_bins, height, width)
    if int(x.min()) < 0 or int(y.min()) < 0 or int(x.max()) >= width or int(y.max()) >= height:
        raise ValueError(f"event coordinates outside the {width}x{height} grid")
    # Normalised time t* in [0, B-1]. Differences first, in float64, so 1e15-microsecond camera
    # clocks keep their precision; t* itself only needs float32.
    dt = (t - t[0]).to(torch.float64)  # (N,)
    span = float(dt[-1])
    if span > 0:
        t_star = (dt * ((num_bins - 1) / span)).to(torch.float32).clamp_(0, num_bins - 1)  # (N,)
    else:
        t_star = torch.zeros(n, dtype=torch.float32, device=device)
    lower = t_star.floor()  # (N,) bin below t*; equals B-1 only when t* == B-1 (then frac == 0)
    frac = t_star - lower  # (N,) in [0, 1): share of the upper bin
    pol = p.to(torch.float32)
    base = lower.long() * plane + (y.long() * width + x.long())  # (N,) flat index of (lower, y, x)
    # Upper bin = base + plane; for t* == B-1 its weight is exactly 0, so clamping the index
    # into the grid (instead of masking) adds nothing and keeps one scatter of 2N entries.
    index = torch.cat([base, (base + plane).clamp_(max=num_bins * plane - 1)])  # (2N,)
    weight = torch.cat([pol * (1.0 - frac), pol * frac])  # (2N,)
    voxel.index_add_(0, index, weight)
    return voxel.view(num_bins, height, width)


def reverse_voxel_grid(voxel: torch.Tensor) -> torch.Tensor:
    """The voxel grid of the same events played backwards in time.

    Reversing time maps t -> -t, so t* -> (B-1) - t* (the first and last events swap) and
    every brightness increase becomes a decrease (p -> -p). With the bilinear bin weights of
    :func:`events_to_voxel_grid` this is exactly ``-voxel.flip(bins)``:
    ``V_rev[b] = -V[B-1-b]`` (DESIGN 2.4 formula; used for time-reversed training clips,
    DESIGN 2.6). The only exception is the degenerate chunk whose events share one
    timestamp (all in bin 0 by definition); its reversal lands in bin B-1 here.

    Args:
        voxel: float tensor (..., B, H, W).

    Returns:
        A new tensor of the same shape and dtype.
    """
    return -voxel.flip(-3)


def check_grid_size(sensor_size: object, num_bins: object) -> tuple[int, int, int]:
    """Validate the ``(height, width)`` sensor size and the bin count of a voxel grid.

    Returns:
        ``(height, width, num_bins)`` as ints.

    Raises:
        ValueError: ``sensor_size`` is not two positive integers, or ``num_bins`` is not an
            integer in [1, 1024] (a message showing the expected call).
    """
    call = "chunk_to_voxel_grid(chunk, (height, width), num_bins)"
    if not isinstance(sensor_size, (tuple, list)) or len(sensor_size) != 2 or not all(
        isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v > 0 for v in sensor_size
    ):
        raise ValueError(f"sensor_size must be (height, width) in pixels, two positive ints; got {sensor_size!r}. Call {call}")
    if not isinstance(num_bins, (int, np.integer)) or isinstance(num_bins, bool) or not 1 <= num_bins <= 1024:
        raise ValueError(f"num_bins must be an int in [1, 1024] (EVOLVE: 5); got {num_bins!r}. Call {call}")
    return int(sensor_size[0]), int(sensor_size[1]), int(num_bins)


def chunk_to_voxel_grid(
    chunk: EventChunk,
    sensor_size: tuple[int, int],
    num_bins: int = DEFAULT_NUM_BINS,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Voxel grid (B, H, W) float32 of an :class:`EventChunk`, built on ``device`` (CPU default).

    Args:
        chunk: the events of one frame interval.
        sensor_size: ``(height, width)`` in pixels, the convention of the whole package
            (:func:`evolve.data.events.load_event_chunk`, :func:`frame_voxel_grid`).
        num_bins: B (EVOLVE: 5).
        device: where to build the grid.

    Raises:
        ValueError: a malformed ``sensor_size`` or ``num_bins`` (see :func:`check_grid_size`),
            or events outside the sensor.
    """
    height, width, num_bins = check_grid_size(sensor_size, num_bins)
    x, y, t, p = chunk.to_torch(device)
    return events_to_voxel_grid(x, y, t, p, height, width, num_bins)


def read_voxel_file(path: str | os.PathLike, num_bins: int, size: tuple[int, int]) -> torch.Tensor:
    """Read a cached voxel grid (``EventVoxel/<seq>/<frame>.npy``) and check it.

    Args:
        path: the ``.npy`` file.
        num_bins: expected B.
        size: expected ``(height, width)`` in pixels (the frame's).

    Returns:
        float32 tensor (B, H, W).

    Raises:
        InputError: missing/truncated file, wrong shape or dtype, NaN/inf values.
    """
    p = Path(path)
    fix = "delete it and rerun evolve-voxels <dataset root>"
    if not p.is_file():
        raise InputError(p, "voxel grid file does not exist", "run evolve-voxels <dataset root>")
    try:
        arr = np.load(p, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise InputError(p, f"cannot read voxel grid ({type(e).__name__}: {e})", fix) from e
    expected = (num_bins, *size)
    if arr.shape != expected:
        raise InputError(p, f"voxel grid has shape {arr.shape}, expected {expected} (bins, height, width)", fix)
    if arr.dtype != np.float32:
        raise InputError(p, f"voxel grid has dtype {arr.dtype}, expected float32", fix)
    if not np.all(np.isfinite(arr)):
        raise InputError(p, "voxel grid has NaN or infinite values", fix)
    return torch.from_numpy(arr)


def frame_voxel_grid(
    files: "SequenceFiles",
    index: int,
    size: tuple[int, int],
    num_bins: int = DEFAULT_NUM_BINS,
    reverse: bool = False,
    use_cache: bool = True,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """The voxel grid that goes with frame ``index`` of a sequence (DESIGN 2.3-2.4, 2.6).

    Forward playback: the grid of the chunk that ends at the frame (the first frame uses the
    second frame's chunk, see :mod:`evolve.data.layout`). ``reverse=True`` (time-reversed
    training clips): ``reverse_voxel_grid`` of the chunk that ends at frame ``index + 1``
    (the last frame uses its own chunk), see :meth:`SequenceFiles.chunk_for_reversed`.

    A valid cache file (``EventVoxel``) is used when present; an invalid one is ignored with
    a warning and the grid is rebuilt from the chunk. Frames-only sequences give zeros.

    Args:
        files: the paired files of the sequence (:func:`evolve.data.layout.index_sequence`).
        index: frame position in ``files.frames``.
        size: ``(height, width)`` of the frame in pixels; event coordinates must lie inside.
        num_bins: B.
        reverse: build the grid for reverse playback.
        use_cache: read ``files.voxel_files`` when present.
        device: where to build the grid (CPU default).

    Returns:
        float32 tensor (B, H, W) on ``device``.

    Raises:
        InputError: unreadable/invalid chunk (see :func:`evolve.data.events.load_event_chunk`),
            or an invalid cache file with no chunk to rebuild from.
    """
    h, w = size
    if not files.has_events:
        return torch.zeros(num_bins, h, w, dtype=torch.float32, device=device)
    n = len(files.frames)
    src = min(index + 1, n - 1) if reverse and n >= 2 else index
    chunk_path = files.chunk_for_reversed(index) if reverse else files.chunk_files[index]
    cache = files.voxel_files[src] if use_cache else None
    voxel = None
    if cache is not None and cache.is_file():
        try:
            voxel = read_voxel_file(cache, num_bins, size).to(device)
        except InputError as e:
            if chunk_path is None:
                raise
            warnings.warn(f"ignoring invalid voxel cache ({e}); rebuilding from {chunk_path}", stacklevel=2)
    if voxel is None:
        if chunk_path is None:
            return torch.zeros(num_bins, h, w, dtype=torch.float32, device=device)
        chunk = load_event_chunk(chunk_path, sensor_size=size)
        voxel = chunk_to_voxel_grid(chunk, (h, w), num_bins, device=device)
    return reverse_voxel_grid(voxel) if reverse else voxel
