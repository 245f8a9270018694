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


def _integral(name: str, a: np.ndarray, source: str) -> np.ndarray:
    if a.dtype == bool:
        a = a.astype(np.int64)
    if np.issubdtype(a.dtype, np.floating):
        if not np.all(np.isfinite(a)):
            raise InputError(source, f"'{name}' has NaN or infinite values", "remove those events")
        if not np.all(a == np.round(a)):
            raise InputError(source, f"'{name}' has non-integer pixel coordinates", "store integer pixel coordinates")
    elif not np.issubdtype(a.dtype, np.integer):
        raise InputError(source, f"'{name}' has dtype {a.dtype}, expected integers", "store x and y as integer arrays")
    return a.astype(np.int64)


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
            {0, 1} or {-1, 1}.
    """
    src = os.fspath(source)
    arrays = [np.asarray(a) for a in (x, y, t, p)]
    for name, a in zip(_FIELDS, arrays):
        if a.ndim != 1:
            raise InputError(src, f"'{name}' has shape {a.shape}, expected a 1-D array", "store one value per event")
    n = arrays[0].shape[0]
    if any(a.shape[0] != n for a in arrays):
        lens = {name: a.shape[0] for name, a in zip(_FIELDS, arrays)}
        raise InputError(src, f"x, y, t, p have different lengths {lens}", "write all four arrays for the same events")
    if n == 0:
        return EventChunk.empty()
    x, y = _integral("x", arrays[0], src), _integral("y", arrays[1], src)
    if x.min() < 0 or y.min() < 0:
        raise InputError(src, "negative pixel coordinates", "coordinates are 0-based pixel indices")
    if sensor_size is not None:
        h, w = sensor_size
        if x.max() >= w or y.max() >= h:
            raise InputError(
                src,
                f"coordinates outside the {w}x{h} sensor (max x {x.max()}, max y {y.max()})",
                "check that x is the column and y the row, and that events match the frame size",
            )
    t = arrays[2]
    if t.dtype == bool or not (np.issubdtype(t.dtype, np.integer) or np.issubdtype(t.dtype, np.floating)):
        raise InputError(src, f"'t' has dtype {t.dtype}, expected numbers", "store timestamps in microseconds")
    if np.issubdtype(t.dtype, np.floating):
        if not np.all(np.isfinite(t)):
            raise InputError(src, "timestamps contain NaN or inf", "remove or repair those events")
        t = t.astype(np.float64)
    else:
        t = t.astype(np.int64)
    if t.min() < 0:
        raise InputError(src, "negative timestamps", "store timestamps in microseconds from the start of the recording")
    dec = np.flatnonzero(np.diff(t) < 0)
    if dec.size:
        i = int(dec[0])
        raise InputError(
            src,
            f"timestamps decrease at event {i + 1} ({t[i]} -> {t[i + 1]}); {dec.size} decreases in all",
            "sort the events by t (np.argsort(t, kind='stable')) before saving",
        )
    p = arrays[3]
    if p.dtype == bool:
        pv = p.astype(np.int8)
    elif np.issubdtype(p.dtype, np.number):
        pv = p
    else:
        raise InputError(src, f"'p' has dtype {p.dtype}", "store polarity as 0/1 or -1/+1 integers")
    values = set(np.unique(pv).tolist())
    if not (values <= {0, 1} or values <= {-1, 1}):
        raise InputError(
            src, f"polarity values {sorted(values)} are not {{0, 1}} or {{-1, 1}}", "store polarity as 0/1 or -1/+1"
        )
    p_out = np.where(pv > 0, 1, -1).astype(np.int8)
    return EventChunk(x, y, t, p_out)


def _from_npy_array(arr: np.ndarray, src: str, sensor_size) -> EventChunk:
    if arr.dtype.names is not None:
        missing = [f for f in _FIELDS if f not in arr.dtype.names]
        if missing:
            raise InputError(
                src, f"structured array lacks fields {missing} (has {list(arr.dtype.names)})", "name the fields x, y, t, p"
            )
        return validate_events(*(arr[f].reshape(-1) for f in _FIELDS), source=src, sensor_size=sensor_size)
    if arr.ndim == 2 and arr.shape[1] == 4:
        return validate_events(*(arr[:, i] for i in range(4)), source=src, sensor_size=sensor_size)
    if arr.size == 0:
        return EventChunk.empty()
    raise InputError(
        src,
        f"array of shape {arr.shape} and dtype {arr.dtype} is not events",
        "store an (N, 4) array with columns x, y, t, p, or a structured array with fields x, y, t, p",
    )


def load_event_chunk(path: str | os.PathLike, sensor_size: tuple[int, int] | None = None) -> EventChunk:
    """Read one interval's events from ``.npz`` (keys x, y, t, p) or ``.npy`` ((N,4) or structured).

    Args:
        path: the chunk file.
        sensor_size: ``(height, width)`` in pixels to check coordinates against, or ``None``.

    Raises:
        InputError: missing, truncated or malformed file, or invalid events (see
            :func:`validate_events`).
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
                arrays = [z[k] for k in _FIELDS]
            return validate_events(*arrays, source=src, sensor_size=sensor_size)
        if suffix == ".npy":
            arr = np.load(p, allow_pickle=False)
            return _from_npy_array(arr, src, sensor_size)
    except InputError:
        raise
    except (zipfile.BadZipFile, EOFError, ValueError, OSError) as e:
        raise InputError(p, f"cannot read event file ({type(e).__name__}: {e})", "the file is truncated or corrupt; regenerate it") from e
    raise InputError(p, f"unknown event file type {suffix!r}", "use .npz (keys x, y, t, p) or .npy ((N, 4) x, y, t, p)")


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
