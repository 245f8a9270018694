"""DAVIS interactive scribble files (JSON), read and written in the published layout.

Layout (DAVIS interactive challenge, "Scribbles Default Format")::

    {
      "scribbles": [[], ..., [{"path": [[x, y], ...], "object_id": 1,
                               "start_time": 0, "end_time": 1000}, ...], ..., []],
      "sequence": "bear",
      "annotated_frame": 10          (optional)
    }

``scribbles`` has one list per frame of the sequence; ``path`` points are normalised
``(x, y)`` = (column / width, row / height); times are milliseconds in the released files.
Released sets live in ``<DAVIS>/Scribbles/<sequence>/<nnn>.json`` (``001.json`` ...).

Our negative strokes (``Stroke.positive == False``) have no DAVIS equivalent: they are written
with an extra ``"positive": false`` key (absent for ordinary strokes, so DAVIS files round-trip
unchanged). Writing is atomic (:mod:`evolve.utils.atomic`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from evolve.data.scribbles import Stroke
from evolve.utils.atomic import atomic_open
from evolve.utils.errors import InputError


@dataclass
class ScribbleSet:
    """The scribbles of one sequence (one interaction, or a released first-round set).

    Attributes:
        sequence: sequence name.
        frames: one list of :class:`Stroke` per frame of the sequence.
        annotated_frame: the frame with strokes, when the file names it (None otherwise).
    """

    sequence: str
    frames: list[list[Stroke]]
    annotated_frame: Optional[int] = None

    @property
    def annotated_frames(self) -> list[int]:
        """Indices of the frames that have at least one stroke."""
        return [i for i, s in enumerate(self.frames) if s]

    @staticmethod
    def single_frame(sequence: str, num_frames: int, frame: int, strokes: list[Stroke]) -> "ScribbleSet":
        """A set with ``strokes`` on ``frame`` and no strokes elsewhere."""
        frames: list[list[Stroke]] = [[] for _ in range(num_frames)]
        frames[frame] = list(strokes)
        return ScribbleSet(sequence, frames, frame)

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of the published layout (key order: scribbles, sequence, annotated_frame)."""
        out: dict[str, Any] = {"scribbles": [[_stroke_to_dict(s) for s in frame] for frame in self.frames], "sequence": self.sequence}
        if self.annotated_frame is not None:
            out["annotated_frame"] = self.annotated_frame
        return out

    @staticmethod
    def from_dict(data: Any, source: object = None) -> "ScribbleSet":
        """Parse the JSON object of a scribble file.

        Raises:
            InputError: missing ``scribbles``/``sequence``, wrong types, a path point that is not
                two numbers, or an ``annotated_frame`` outside the frames.
        """
        fix = "write the file in the DAVIS layout: {\"scribbles\": [[{\"path\": [[x, y], ...], \"object_id\": k, ...}], ...], \"sequence\": name}"
        if not isinstance(data, dict) or "scribbles" not in data or "sequence" not in data:
            raise InputError(source, "not a DAVIS scribble file (needs the keys 'scribbles' and 'sequence')", fix)
        if not isinstance(data["sequence"], str) or not isinstance(data["scribbles"], list):
            raise InputError(source, "'sequence' must be a string and 'scribbles' a list (one list per frame)", fix)
        frames: list[list[Stroke]] = []
        for f, frame in enumerate(data["scribbles"]):
            if not isinstance(frame, list):
                raise InputError(source, f"scribbles[{f}] is not a list of strokes", fix)
            frames.append([_stroke_from_dict(s, source, f, k, fix) for k, s in enumerate(frame)])
        annotated = data.get("annotated_frame")
        if annotated is not None and (isinstance(annotated, bool) or not isinstance(annotated, int) or not 0 <= annotated < len(frames)):
            raise InputError(source, f"annotated_frame {annotated!r} is not a frame index (0..{len(frames) - 1})", fix)
        return ScribbleSet(data["sequence"], frames, annotated)


def _stroke_to_dict(s: Stroke) -> dict[str, Any]:
    out: dict[str, Any] = {"path": [[x, y] for x, y in s.points], "object_id": s.object_id, "start_time": s.start_time, "end_time": s.end_time}
    if not s.positive:
        out["positive"] = False
    return out


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _stroke_from_dict(d: Any, source: object, frame: int, k: int, fix: str) -> Stroke:
    where = f"scribbles[{frame}][{k}]"
    if not isinstance(d, dict) or "path" not in d or "object_id" not in d:
        raise InputError(source, f"{where} is not a stroke (needs 'path' and 'object_id')", fix)
    path = d["path"]
    if not isinstance(path, list) or not all(isinstance(p, list) and len(p) == 2 and all(_number(c) for c in p) for p in path):
        raise InputError(source, f"{where}.path is not a list of [x, y] number pairs", fix)
    obj = d["object_id"]
    if isinstance(obj, bool) or not isinstance(obj, int) or obj < 0:
        raise InputError(source, f"{where}.object_id {obj!r} is not an object id (integer >= 0)", fix)
    for key in ("start_time", "end_time"):
        if d.get(key) is not None and not _number(d[key]):
            raise InputError(source, f"{where}.{key} {d[key]!r} is not a number", fix)
    positive = d.get("positive", True)
    if not isinstance(positive, bool):
        raise InputError(source, f"{where}.positive {positive!r} is not true/false", fix)
    return Stroke(tuple((p[0], p[1]) for p in path), obj, positive, d.get("start_time"), d.get("end_time"))


def read_scribble_json(path: str | os.PathLike) -> ScribbleSet:
    """Read a DAVIS scribble file.

    Raises:
        InputError: unreadable file, invalid JSON, or a file not in the layout (the message
            names what is wrong).
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(p, f"cannot read the scribble file ({exc})", "check the path") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(p, f"invalid JSON ({exc})", "fix the file, or re-export it") from exc
    return ScribbleSet.from_dict(data, p)


def write_scribble_json(path: str | os.PathLike, scribbles: ScribbleSet, indent: Optional[int] = 2) -> None:
    """Write ``scribbles`` in the published layout (atomically: temp file, then rename)."""
    with atomic_open(path, "w") as f:
        json.dump(scribbles.to_dict(), f, indent=indent)
        f.write("\n")


def list_scribble_files(root: str | os.PathLike, sequence: str) -> list[Path]:
    """The released scribble sets of ``sequence``: ``<root>/Scribbles/<sequence>/*.json`` sorted
    (``001.json``, ``002.json``, ...); empty when the folder does not exist."""
    folder = Path(root) / "Scribbles" / sequence
    return sorted(folder.glob("*.json")) if folder.is_dir() else []
