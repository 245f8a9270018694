"""Event-camera data: one chunk of events per frame interval, read, validated and written.

Conventions (DESIGN 2.1-2.4):

- An event is ``(x, y, t, p)``: pixel column ``x`` and row ``y`` (pixels, origin top-left),
  timestamp ``t`` in microseconds, polarity ``p`` (+1 = ON, brightness increase; -1 = OFF).
- One chunk per frame interval, named after the frame that ends it. Frame 0 has no chunk.
- Files: ``.npz`` with 1-D arrays ``x, y, t, p`` (LLE-DAVIS style); ``.npy`` holding an
  ``(N, 4)`` array with columns ``x, y, t, p`` (LLE-VOS style) or a structured array with
  those field names. Polarity may be stored as {0, 1} (0 = OFF) or {-1, +1}.
- AEDAT4 recordings (iniVation cameras) are read with the optional ``aedat`` package
  (``pip install "evolve[events]"``) and sliced between frame timestamps.

Every reader validates what it reads and raises :class:`evolve.utils.errors.InputError`
naming the file and the fix.
"""

from __future__ import annotations

import io
import os
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from evolve.utils.atomic import atomic_open
from evolve.utils.errors import InputError

EVENT_EXTENSIONS = (".npz", ".npy")
_FIELDS = ("x", "y", "t", "p")


@dataclass(frozen=True)
class EventChunk:
    """Validated events of one interval.

    Attributes:
        x: int64 (N,) pixel column.
        y: int64 (N,) pixel row.
        t: int64 or float64 (N,) timestamps in microseconds, non-decreasing.
        p: int8 (N,) polarity in {-1, +1}.
    """

    x: np.ndarray
    y: np.ndarray
    t: np.ndarray
    p: np.ndarray

    def __len__(self) -> int:
        return int(self.x.shape[0])

    @classmethod
    def empty(cls) -> "EventChunk":
        """A chunk with no events."""
        return cls(
            np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int8)
        )

    def to_torch(self, device: torch.device | str | None = None) -> tuple[torch.Tensor, ...]:
        """Return ``(x, y, t, p)`` as tensors on ``device`` (x, y int64; t int64/float64; p int8)."""
        return tuple(torch.from_numpy(np.ascontiguousarray(a)).to(device) for a in (self.x, self.y, self.t, self.p))

    def time_slice(self, t_start: float, t_end: float) -> "EventChunk":
        """Events with ``t_start <= t < t_end`` (microseconds), as a new chunk."""
        lo, hi = np.searchsorted(self.t, [t_start, t_end], side="left")
        return EventChunk(self.x[lo:hi], self.y[lo:hi], self.t[lo:hi], self.p[lo:hi])


def _is_numeric(a: np.ndarray) -> bool:
    return a.dtype == bool or np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)


def find_event_problems(
    x: np.ndarray,
    y: np.ndarray,
    t: np.ndarray,
    p: np.ndarray,
    sensor_size: tuple[int, int] | None = None,
) -> list[tuple[str, str]]:
    """Every problem of raw event arrays, as ``(problem, fix)`` pairs (empty list = valid).

    Unlike :func:`validate_events`, which stops at the first problem, this reports each kind
    of problem once (used by ``evolve-check``).

    Args:
        x, y, t, p: raw arrays as stored (any dtype).
        sensor_size: ``(height, width)`` in pixels; when given, coordinates must lie inside.

    Returns:
        A list of ``(problem, fix)`` strings, in the order shape, x/y, t, p.
    """
    arrays = [np.asarray(a) for a in (x, y, t, p)]
    out: list[tuple[str, str]] = []
    for name, a in zip(_FIELDS, arrays):
        if a.ndim != 1:
            out.append((f"'{name}' has shape {a.shape}, expected a 1-D array", "store one value per event"))
    if out:
        return out
    n = arrays[0].shape[0]
    if any(a.shape[0] != n for a in arrays):
        lens = {name: a.shape[0] for name, a in zip(_FIELDS, arrays)}
        return [(f"x, y, t, p have different lengths {lens}", "write all four arrays for the same events")]
    if n == 0:
        return out
    coords_ok = True
    for name, a in zip(("x", "y"), arrays[:2]):
        if not _is_numeric(a):
            out.append((f"'{name}' has dtype {a.dtype}, expected integers", "store x and y as integer arrays"))
            coords_ok = False
        elif np.issubdtype(a.dtype, np.floating):
            if not np.all(np.isfinite(a)):
                out.append((f"'{name}' has NaN or infinite values", "remove those events"))
                coords_ok = False
            elif not np.all(a == np.round(a)):
                out.append((f"'{name}' has non-integer pixel coordinates", "store integer pixel coordinates"))
                coords_ok = False
    if coords_ok:
        xi, yi = arrays[0].astype(np.int64), arrays[1].astype(np.int64)
        if xi.min() < 0 or yi.min() < 0:
            out.append(("negative pixel coordinates", "coordinates are 0-based pixel indices"))
        if sensor_size is not None:
            h, w = sensor_size
            outside = int(np.count_nonzero((xi >= w) | (yi >= h)))
            if outside:
                out.append((
                    f"{outside} event(s) have coordinates outside the {w}x{h} frame (max x {xi.max()}, max y {yi.max()})",
                    "check that x is the column and y the row, and that the events match the frame size",
                ))
    t = arrays[2]
    if t.dtype == bool or not _is_numeric(t):
        out.append((f"'t' has dtype {t.dtype}, expected numbers", "store timestamps in microseconds"))
    else:
        finite = np.isfinite(t) if np.issubdtype(t.dtype, np.floating) else np.ones(n, bool)
        if not finite.all():
            out.append((f"timestamps contain NaN or inf ({int(np.count_nonzero(~finite))} events)", "remove or repair those events"))
        tf = t[finite]
        if tf.size and tf.min() < 0:
            out.append(("negative timestamps", "store timestamps in microseconds from the start of the recording"))
        dec = np.flatnonzero(np.diff(tf) < 0)
        if dec.size:
            i = int(dec[0])
            out.append((
                f"timestamps decrease at event {i + 1} ({tf[i]} -> {tf[i + 1]}); {dec.size} decreases in all",
                "sort the events by t (np.argsort(t, kind='stable')) before saving",
            ))
    p = arrays[3]
    if not _is_numeric(p):
        out.append((f"'p' has dtype {p.dtype}", "store polarity as 0/1 or -1/+1 integers"))
    else:
        values = set(np.unique(p.astype(np.float64) if p.dtype != bool else p.astype(np.int8)).tolist())
        if not (values <= {0, 1} or values <= {-1, 1}):
            shown = sorted(values)[:8]
            out.append((f"polarity values {shown} are not {{0, 1}} or {{-1, 1}}", "store polarity as 0/1 or -1/+1"))
    return out


def validate_events(
    x: np.ndarray,
    y: np.ndarray,
    t: np.ndarray,
    p: np.ndarray,
    *,
    source: str | os.PathLike,
    sensor_size: tuple[int, int] | None = None,
) -> EventChunk:
    """Check raw event arrays and return them as an :class:`EventChunk`.

    Args:
        x, y, t, p: 1-D arrays of equal length (any numeric dtype; p may be bool).
        source: file the arrays came from (used in error messages).
        sensor_size: ``(height, width)`` in pixels; when given, coordinates must lie inside.

    Returns:
        The chunk with x, y int64, t int64 (integer input) or float64, p int8 in {-1, +1}
        (stored 0 becomes -1).

    Raises:
        InputError: wrong shapes or dtypes, coordinates outside the sensor or negative,
            NaN/inf/negative timestamps, decreasing timestamps, polarity values other than
            {0, 1} or {-1, 1}. The message gives the first problem (and how many more there are).
    """
    src = os.fspath(source)
    problems = find_event_problems(x, y, t, p, sensor_size)
    if problems:
        problem, fix = problems[0]
        if len(problems) > 1:
            problem += f" (and {len(problems) - 1} more problem(s): " + "; ".join(q for q, _ in problems[1:]) + ")"
        raise InputError(src, problem, fix)
    x, y, t, p = (np.asarray(a) for a in (x, y, t, p))
    if x.shape[0] == 0:
        return EventChunk.empty()
    t = t.astype(np.float64) if np.issubdtype(t.dtype, np.floating) else t.astype(np.int64)
    p_out = np.where(p.astype(np.int8) > 0, 1, -1).astype(np.int8)
    return EventChunk(x.astype(np.int64), y.astype(np.int64), t, p_out)


def _npy_arrays(arr: np.ndarray, src: str) -> tuple[np.ndarray, ...]:
    if arr.dtype.names is not None:
        missing = [f for f in _FIELDS if f not in arr.dtype.names]
        if missing:
            raise InputError(
                src, f"structured array lacks fields {missing} (has {list(arr.dtype.names)})", "name the fields x, y, t, p"
            )
        return tuple(arr[f].reshape(-1) for f in _FIELDS)
    if arr.ndim == 2 and arr.shape[1] == 4:
        return tuple(arr[:, i] for i in range(4))
    if arr.size == 0:
        return tuple(np.zeros(0, np.int64) for _ in _FIELDS)
    raise InputError(
        src,
        f"array of shape {arr.shape} and dtype {arr.dtype} is not events",
        "store an (N, 4) array with columns x, y, t, p, or a structured array with fields x, y, t, p",
    )


def read_event_arrays(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Read the raw ``x, y, t, p`` arrays of a chunk file without validating the values.

    ``.npz`` needs keys x, y, t, p; ``.npy`` an ``(N, 4)`` array (columns x, y, t, p) or a
    structured array with those fields. Use :func:`load_event_chunk` to also validate.

    Returns:
        Four 1-D arrays (for well-formed files) in their stored dtypes.

    Raises:
        InputError: missing, truncated or malformed file, unknown suffix.
    """
    p = Path(path)
    src = os.fspath(p)
    if not p.is_file():
        raise InputError(p, "event chunk does not exist", "check the Lowlight_event folder; every frame after the first needs a chunk")
    suffix = p.suffix.lower()
    try:
        if suffix == ".npz":
            with np.load(p, allow_pickle=False) as z:
                missing = [k for k in _FIELDS if k not in z.files]
                if missing:
                    raise InputError(p, f"npz lacks keys {missing} (has {z.files})", "save with np.savez(path, x=..., y=..., t=..., p=...)")
                return tuple(z[k] for k in _FIELDS)
        if suffix == ".npy":
            return _npy_arrays(np.load(p, allow_pickle=False), src)
    except InputError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, OSError, KeyError) as e:
        raise InputError(p, f"cannot read event file ({type(e).__name__}: {e})", "the file is truncated or corrupt; regenerate it") from e
    raise InputError(p, f"unknown event file type {suffix!r}", "use .npz (keys x, y, t, p) or .npy ((N, 4) x, y, t, p)")


def _npy_header_size_problem(f, size: int) -> str | None:
    """Whether an open ``.npy`` stream of ``size`` bytes holds all the data its header announces."""
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(f)
    else:
        shape, _, dtype = np.lib.format.read_array_header_2_0(f)
    if dtype.hasobject:
        return "holds Python objects (pickled), not numbers"
    expected = f.tell() + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if size < expected:
        return f"is truncated: {size} bytes, its header announces {expected}"
    return None


def event_file_problem(path: str | os.PathLike) -> str | None:
    """A fast completeness check of a chunk file that reads headers only, not the events.

    ``.npy``: the data length the header announces must be present. ``.npz``: the zip
    directory (at the end of the file) must be readable, hold x, y, t, p, and each member's
    ``.npy`` header must match its stored size. A truncated or corrupt file is found in
    milliseconds whatever its size; values (sorting, ranges) are not checked.

    Returns:
        ``None`` for a complete file, else what is wrong (for an ``InputError`` problem).
    """
    p = Path(path)
    try:
        suffix = p.suffix.lower()
        if suffix == ".npy":
            with open(p, "rb") as f:
                return _npy_header_size_problem(f, p.stat().st_size)
        if suffix == ".npz":
            with zipfile.ZipFile(p) as z:
                names = {n[:-4] if n.endswith(".npy") else n: n for n in z.namelist()}
                missing = [k for k in _FIELDS if k not in names]
                if missing:
                    return f"npz lacks keys {missing}"
                for key in _FIELDS:
                    info = z.getinfo(names[key])
                    with z.open(info) as f:
                        problem = _npy_header_size_problem(f, info.file_size)
                    if problem:
                        return f"member {key!r} {problem}"
            return None
        return f"unknown event file type {suffix!r}"
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, OSError, KeyError) as e:
        return f"is truncated or corrupt ({type(e).__name__}: {e})"


def load_event_chunk(path: str | os.PathLike, sensor_size: tuple[int, int] | None = None) -> EventChunk:
    """Read one interval's events from ``.npz`` (keys x, y, t, p) or ``.npy`` ((N,4) or structured).

    Args:
        path: the chunk file.
        sensor_size: ``(height, width)`` in pixels to check coordinates against, or ``None``.

    Raises:
        InputError: missing, truncated or malformed file, or invalid events (see
            :func:`validate_events`).
    """
    arrays = read_event_arrays(path)
    return validate_events(*arrays, source=path, sensor_size=sensor_size)


def save_event_chunk(path: str | os.PathLike, chunk: EventChunk, compress: bool = True) -> None:
    """Write a chunk as ``.npz`` (x, y uint16; t int64 microseconds, rounded; p int8 in {-1,+1}), atomically.

    Raises:
        ValueError: ``path`` does not end in ``.npz`` or coordinates exceed 65535.
    """
    if Path(path).suffix != ".npz":
        raise ValueError(f"event chunks are written as .npz, got {path}")
    if len(chunk) and max(chunk.x.max(), chunk.y.max()) > np.iinfo(np.uint16).max:
        raise ValueError("pixel coordinates exceed 65535")
    t = chunk.t if np.issubdtype(chunk.t.dtype, np.integer) else np.round(chunk.t)
    arrays = dict(
        x=chunk.x.astype(np.uint16), y=chunk.y.astype(np.uint16), t=t.astype(np.int64), p=chunk.p.astype(np.int8)
    )
    buf = io.BytesIO()
    (np.savez_compressed if compress else np.savez)(buf, **arrays)
    with atomic_open(path, "wb") as f:
        f.write(buf.getvalue())


@dataclass(frozen=True)
class Aedat4Recording:
    """Events and frame timestamps of an AEDAT4 file.

    Attributes:
        events: all events, t in microseconds (absolute camera clock).
        frame_timestamps: int64 (F,) timestamps of the APS frames, microseconds.
        frames: list of uint8 (H, W) grayscale APS frames (empty if the file has none).
        sensor_size: (height, width) in pixels.
    """

    events: EventChunk
    frame_timestamps: np.ndarray
    frames: list
    sensor_size: tuple[int, int]

    def chunks_between_frames(self) -> list[EventChunk]:
        """Events between consecutive frame timestamps: element ``i`` holds
        ``frame_timestamps[i] <= t < frame_timestamps[i+1]`` (the chunk named after frame i+1)."""
        return slice_between(self.events, self.frame_timestamps)


def slice_between(events: EventChunk, timestamps: Sequence[float] | np.ndarray) -> list[EventChunk]:
    """Split events into intervals ``[timestamps[i], timestamps[i+1])`` (microseconds).

    Returns ``len(timestamps) - 1`` chunks; chunk ``i`` ends at frame ``i + 1`` and is named after it.

    Raises:
        ValueError: timestamps not strictly increasing.
    """
    ts = np.asarray(timestamps)
    if ts.ndim != 1 or np.any(np.diff(ts) <= 0):
        raise ValueError("frame timestamps must be a strictly increasing 1-D sequence")
    return [events.time_slice(ts[i], ts[i + 1]) for i in range(len(ts) - 1)]


def read_aedat4(path: str | os.PathLike) -> Aedat4Recording:
    """Read an AEDAT4 recording: all events plus APS frame timestamps (``frame['t']``).

    Needs the optional ``aedat`` package (``pip install "evolve[events]"``).

    Raises:
        InputError: file missing or undecodable, no event stream, or invalid events.
        ImportError: ``aedat`` is not installed (the message says how to install it).
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(p, "recording does not exist", "check the path")
    try:
        import aedat  # optional dependency
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError('reading AEDAT4 needs the "aedat" package: pip install "evolve[events]"') from e
    xs, ys, ts, ps, frame_ts, frames = [], [], [], [], [], []
    size = None
    try:
        decoder = aedat.Decoder(os.fspath(p))
        for stream in decoder.id_to_stream().values():
            if stream.get("type") == "events":
                size = (int(stream["height"]), int(stream["width"]))
        for packet in decoder:
            if "events" in packet:
                e = packet["events"]
                xs.append(e["x"]); ys.append(e["y"]); ts.append(e["t"]); ps.append(e["on"])
            elif "frame" in packet:
                frame_ts.append(int(packet["frame"]["t"]))
                frames.append(np.asarray(packet["frame"]["pixels"]))
    except (OSError, RuntimeError, ValueError) as e:
        raise InputError(p, f"cannot decode AEDAT4 ({e})", "check that the file is a complete AEDAT4 recording") from e
    if size is None:
        raise InputError(p, "no event stream in the recording", "record with the event output enabled")
    cat = lambda parts, dt: np.concatenate(parts) if parts else np.zeros(0, dt)  # noqa: E731
    chunk = validate_events(
        cat(xs, np.uint16), cat(ys, np.uint16), cat(ts, np.int64), cat(ps, bool), source=p, sensor_size=size
    )
    return Aedat4Recording(chunk, np.asarray(frame_ts, dtype=np.int64), frames, size)
