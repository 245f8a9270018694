"""Referring expressions: readers for Ref-DAVIS17, Ref-YouTube-VOS and the procedural records.

Every reader returns :class:`ReferringExpression` records: a video, an object id of its masks
(``None`` where the ground truth is not public), the sentence and where it came from.

Formats (docs/referring.md "Expression files"):

- **Ref-DAVIS17** (Khoreva et al., ACCV 2018): ``davis_text_annotations/Davis17_annot1.txt``,
  ``Davis17_annot1_full_video.txt``, ``Davis17_annot2.txt``, ``Davis17_annot2_full_video.txt``.
  One expression per line: ``<video> <object id> "<expression>"``, whitespace separated, the
  expression in double quotes. Annotator 1's files are UTF-8, annotator 2's latin-1. The
  published files misspell three video names (``clasic-car``, ``dog-scale``, ``motor-bike``);
  they are mapped to the DAVIS folder names. The four files are the four *expression sets*
  the Ref-DAVIS protocol averages over (first-frame and full-video expressions of each of the
  two annotators).
- **Ref-YouTube-VOS** (Seo et al., ECCV 2020): ``meta_expressions.json``,
  ``{"videos": {<video>: {"expressions": {<exp_id>: {"exp": str, "obj_id": str}}, "frames": [..]}}}``;
  ``obj_id`` is absent in the validation/test files (scored on the server).
- **Procedural** (this project's generator): ``trainval_480p/Procedural/<seq>.json`` per video
  of an LLE-DAVIS-layout root, see :class:`ProceduralRecord`.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence

import numpy as np

from evolve.utils.errors import InputError

#: The four Ref-DAVIS17 files in protocol order (expression set 0..3) and their encodings.
REF_DAVIS_FILES: tuple[tuple[str, str], ...] = (
    ("Davis17_annot1.txt", "utf-8"),
    ("Davis17_annot1_full_video.txt", "utf-8"),
    ("Davis17_annot2.txt", "latin-1"),
    ("Davis17_annot2_full_video.txt", "latin-1"),
)
REF_DAVIS_FOLDER = "davis_text_annotations"
#: Video names as spelt in the published text files -> DAVIS 2017 folder names.
REF_DAVIS_VIDEO_ALIASES = {"clasic-car": "classic-car", "dog-scale": "dogs-scale", "motor-bike": "motorbike"}
PROCEDURAL_DIR = "trainval_480p/Procedural"
EXPRESSION_KINDS = ("attribute", "relation", "motion")

_LINE = re.compile(r'^(?P<video>\S+)\s+(?P<obj>\S+)\s+"(?P<text>.*)"\s*$')


@dataclass(frozen=True)
class ReferringExpression:
    """One referring expression.

    Attributes:
        video: sequence name (its folder name).
        exp_id: identifier unique within the video (``"0"``, ``"1"``, ...).
        text: the sentence.
        object_id: the referred object's id in the video's masks, or None (not public).
        expression_set: index of the set it belongs to (Ref-DAVIS: 0..3 = annotator 1 first
            frame, annotator 1 full video, annotator 2 first frame, annotator 2 full video;
            procedural: see :func:`procedural_expression_sets`); 0 when the format has none.
        kind: ``attribute | relation | motion`` (procedural), ``first_frame | full_video``
            (Ref-DAVIS) or ``""``.
        held_out: the expression uses an attribute combination never seen in training.
        source: file it was read from; ``line``: its 1-based line number (0 = not a text line).
    """

    video: str
    exp_id: str
    text: str
    object_id: Optional[int]
    expression_set: int = 0
    kind: str = ""
    held_out: bool = False
    source: str = ""
    line: int = 0


# ----------------------------------------------------------------------------- Ref-DAVIS17
def parse_ref_davis_line(line: str, path: str | os.PathLike, number: int) -> tuple[str, int, str] | None:
    """Parse one line ``<video> <object id> "<expression>"``.

    Returns:
        ``(video, object_id, text)`` with the video alias mapped, or None for a blank line.

    Raises:
        InputError: the line does not have that form, or the object id is not a positive
            integer (the message names the file and the line number).
    """
    stripped = line.strip()
    if not stripped:
        return None
    m = _LINE.match(stripped)
    if m is None:
        raise InputError(path, f"line {number}: {stripped[:80]!r} is not '<video> <object id> \"<expression>\"'",
                         "write one expression per line: the video name, the object id and the expression in double quotes")
    obj = m.group("obj")
    if not obj.isdigit() or int(obj) < 1:
        raise InputError(path, f"line {number}: object id {obj!r} is not a positive integer",
                         "give the object's id in the video's masks (1, 2, ...)")
    video = REF_DAVIS_VIDEO_ALIASES.get(m.group("video"), m.group("video"))
    return video, int(obj), m.group("text").strip()


def read_ref_davis_file(path: str | os.PathLike, encoding: str, expression_set: int = 0, kind: str = "") -> list[ReferringExpression]:
    """All expressions of one Ref-DAVIS17 text file, in file order.

    ``exp_id`` is ``"<set>_<object id>"`` (each file gives one expression per object).

    Raises:
        InputError: missing or undecodable file, a line that does not parse (file and line
            number), or the same video and object twice.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(p, "Ref-DAVIS expression file not found", f"put the four Davis17_annot*.txt files in <root>/{REF_DAVIS_FOLDER}/")
    try:
        text = p.read_text(encoding=encoding)
    except UnicodeDecodeError as e:
        line = p.read_bytes()[: e.start].count(b"\n") + 1
        raise InputError(p, f"line {line}: not valid {encoding} ({e.reason})",
                         f"keep the published encoding ({encoding}) of this file") from e
    out: list[ReferringExpression] = []
    seen: set[tuple[str, int]] = set()
    for number, line in enumerate(text.splitlines(), start=1):
        parsed = parse_ref_davis_line(line, p, number)
        if parsed is None:
            continue
        video, obj, sentence = parsed
        if (video, obj) in seen:
            raise InputError(p, f"line {number}: video {video!r} object {obj} already has an expression in this file",
                             "keep one expression per object and file (each file is one expression set)")
        seen.add((video, obj))
        out.append(ReferringExpression(video, f"{expression_set}_{obj}", sentence, obj, expression_set, kind, False, str(p), number))
    return out


def read_ref_davis(root: str | os.PathLike, videos: Optional[Iterable[str]] = None) -> list[ReferringExpression]:
    """The four expression sets of Ref-DAVIS17 under ``<root>/davis_text_annotations/``.

    Args:
        root: folder holding ``davis_text_annotations/`` (or that folder itself).
        videos: keep only these videos (e.g. a DAVIS split); None = all.

    Returns:
        Expressions of set 0, then 1, 2, 3 (``expression_set`` and ``kind`` filled).

    Raises:
        InputError: see :func:`read_ref_davis_file`.
    """
    folder = Path(root)
    if (folder / REF_DAVIS_FOLDER).is_dir():
        folder = folder / REF_DAVIS_FOLDER
    keep = set(videos) if videos is not None else None
    out: list[ReferringExpression] = []
    for index, (name, encoding) in enumerate(REF_DAVIS_FILES):
        kind = "full_video" if "full_video" in name else "first_frame"
        out += [e for e in read_ref_davis_file(folder / name, encoding, index, kind) if keep is None or e.video in keep]
    return out


# ----------------------------------------------------------------------------- Ref-YouTube-VOS
def _load_json(path: Path, what: str) -> Any:
    if not path.is_file():
        raise InputError(path, f"{what} not found", f"give the path of the {what}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise InputError(path, f"line {e.lineno}, column {e.colno}: not valid JSON ({e.msg})", "repair or re-download the file") from e
    except UnicodeDecodeError as e:
        raise InputError(path, f"not UTF-8 ({e.reason})", "save the JSON as UTF-8") from e


def read_meta_expressions(path: str | os.PathLike) -> list[ReferringExpression]:
    """Expressions of a Ref-YouTube-VOS ``meta_expressions.json``, video by video, in file order.

    Raises:
        InputError: missing file, invalid JSON (line and column), a video without
            ``expressions``, an expression without ``exp`` or with a non-integer ``obj_id``
            (the message names the video and the expression id).
    """
    p = Path(path)
    data = _load_json(p, "meta_expressions.json")
    videos = data.get("videos") if isinstance(data, dict) else None
    if not isinstance(videos, dict):
        raise InputError(p, "no top-level 'videos' object", "use the Ref-YouTube-VOS layout {\"videos\": {<video>: {\"expressions\": ...}}}")
    out: list[ReferringExpression] = []
    for video, entry in videos.items():
        exps = entry.get("expressions") if isinstance(entry, dict) else None
        if not isinstance(exps, dict):
            raise InputError(p, f"video {video!r} has no 'expressions' object", "give each video {\"expressions\": {<exp_id>: {\"exp\": ...}}}")
        for exp_id, e in exps.items():
            if not isinstance(e, dict) or not isinstance(e.get("exp"), str):
                raise InputError(p, f"video {video!r} expression {exp_id!r} has no 'exp' text", "give every expression an \"exp\" string")
            obj = e.get("obj_id")
            if obj is not None and not (str(obj).isdigit() and int(obj) > 0):
                raise InputError(p, f"video {video!r} expression {exp_id!r}: obj_id {obj!r} is not a positive integer",
                                 "give the object's id in the video's masks")
            out.append(ReferringExpression(video, str(exp_id), e["exp"].strip(), int(obj) if obj is not None else None, 0, "", False, str(p), 0))
    return out


def read_meta_frames(path: str | os.PathLike) -> dict[str, list[str]]:
    """``video -> frame stems`` of a ``meta_expressions.json`` (the frames to predict)."""
    p = Path(path)
    data = _load_json(p, "meta_expressions.json")
    return {v: list(e.get("frames", [])) for v, e in data.get("videos", {}).items()}


# ----------------------------------------------------------------------------- procedural
@dataclass(frozen=True)
class ProceduralObject:
    """One object of a procedural video (the generator's record).

    Attributes:
        id: its id in the masks.
        shape, colour, texture, size: attribute words (``size`` is ``small|medium|large``-like).
        size_px: its size in pixels (the generator's measure).
        motion: motion class word (``up``, ``left``, ``still``, ...); ``motion_parent``: its
            coarse class; ``fold``: the few-shot fold it belongs to; ``moving``: moves at all.
        centre: ``[[x, y], ...]`` per frame in pixels.
        scale, visible_area: the generator's per-object scale and visible area (as recorded).
    """

    id: int
    shape: str
    colour: str
    texture: str = ""
    size: str = ""
    size_px: float = 0.0
    motion: str = ""
    motion_parent: str = ""
    fold: Any = None
    moving: bool = False
    centre: tuple[tuple[float, float], ...] = ()
    scale: Any = None
    visible_area: Any = None


@dataclass(frozen=True)
class ProceduralRecord:
    """The record of one procedural video (``trainval_480p/Procedural/<seq>.json``)."""

    sequence: str
    height: int
    width: int
    num_frames: int
    frame_names: tuple[str, ...]
    objects: tuple[ProceduralObject, ...]
    expressions: tuple[ReferringExpression, ...]
    path: str = ""

    def object(self, object_id: int) -> ProceduralObject:
        """The object with mask id ``object_id``. Raises KeyError when there is none."""
        for o in self.objects:
            if o.id == object_id:
                return o
        raise KeyError(object_id)


_RECORD_KEYS = ("sequence", "height", "width", "num_frames", "frame_names", "objects", "expressions")


def read_procedural_record(path: str | os.PathLike) -> ProceduralRecord:
    """Read and check one procedural video record.

    Expressions keep the record's ``exp_id`` (their index in the file when it has none) and
    get ``expression_set`` from :func:`procedural_expression_sets`.

    Raises:
        InputError: missing file, invalid JSON, a missing key, a frame count that disagrees
            with ``frame_names``, an expression naming an object the record does not have,
            or an unknown expression kind (the message names the file and the entry).
    """
    p = Path(path)
    data = _load_json(p, "procedural record")
    if not isinstance(data, dict):
        raise InputError(p, "the record is not a JSON object", "write one object per video")
    missing = [k for k in _RECORD_KEYS if k not in data]
    if missing:
        raise InputError(p, f"the record lacks {missing}", f"write every key of {list(_RECORD_KEYS)}")
    names = tuple(str(n) for n in data["frame_names"])
    if len(names) != int(data["num_frames"]):
        raise InputError(p, f"num_frames is {data['num_frames']} but frame_names has {len(names)} names", "make them agree")
    objects = []
    for i, o in enumerate(data["objects"]):
        if not isinstance(o, dict) or "id" not in o or "shape" not in o or "colour" not in o:
            raise InputError(p, f"objects[{i}] lacks id, shape or colour", "record every object's id, shape and colour")
        objects.append(ProceduralObject(
            id=int(o["id"]), shape=str(o["shape"]), colour=str(o["colour"]), texture=str(o.get("texture", "")),
            size=str(o.get("size", "")), size_px=float(o.get("size_px", 0.0) or 0.0), motion=str(o.get("motion", "")),
            motion_parent=str(o.get("motion_parent", "") or ""), fold=o.get("fold"), moving=bool(o.get("moving", False)),
            centre=tuple((float(c[0]), float(c[1])) for c in o.get("centre", [])), scale=o.get("scale"),
            visible_area=o.get("visible_area"),
        ))
    ids = {o.id for o in objects}
    raw = []
    for i, e in enumerate(data["expressions"]):
        if not isinstance(e, dict) or "object_id" not in e or not isinstance(e.get("text"), str):
            raise InputError(p, f"expressions[{i}] lacks object_id or text", "give every expression an object_id and a text")
        obj = int(e["object_id"])
        if obj not in ids:
            raise InputError(p, f"expressions[{i}] ({e['text']!r}) refers to object {obj}, which the record does not list (objects {sorted(ids)})",
                             "refer only to recorded objects")
        kind = str(e.get("kind", ""))
        if kind not in EXPRESSION_KINDS:
            raise InputError(p, f"expressions[{i}] has kind {kind!r}", f"use one of {list(EXPRESSION_KINDS)}")
        raw.append((str(e.get("exp_id", i)), obj, e["text"].strip(), kind, bool(e.get("held_out", False))))
    sets = procedural_expression_sets([(obj, kind) for _, obj, _, kind, _ in raw])
    seq = str(data["sequence"])
    if len({r[0] for r in raw}) != len(raw):
        raise InputError(p, "two expressions share an exp_id", "give every expression of a video its own exp_id")
    expressions = tuple(ReferringExpression(seq, i, text, obj, s, kind, held, str(p), 0)
                        for (i, obj, text, kind, held), s in zip(raw, sets))
    return ProceduralRecord(seq, int(data["height"]), int(data["width"]), len(names), names, tuple(objects), expressions, str(p))


def procedural_expression_sets(refs: Sequence[tuple[int, str]]) -> list[int]:
    """Expression-set index of each ``(object_id, kind)`` of a video, the procedural analogue of
    the Ref-DAVIS annotator files: set ``s`` holds, for every object, its ``r``-th expression of
    kind ``EXPRESSION_KINDS[k]``, with ``s = r * len(EXPRESSION_KINDS) + k``. So every set refers
    to each object at most once, as an annotator file does.
    """
    counts: dict[tuple[int, str], int] = {}
    out = []
    for obj, kind in refs:
        r = counts.get((obj, kind), 0)
        counts[(obj, kind)] = r + 1
        k = EXPRESSION_KINDS.index(kind) if kind in EXPRESSION_KINDS else 0
        out.append(r * len(EXPRESSION_KINDS) + k)
    return out


def procedural_record_path(root: str | os.PathLike, seq: str) -> Path:
    """``<root>/trainval_480p/Procedural/<seq>.json`` of an LLE-DAVIS-layout root."""
    return Path(root) / PROCEDURAL_DIR / f"{seq}.json"


def read_procedural_records(root: str | os.PathLike, sequences: Iterable[str]) -> list[ProceduralRecord]:
    """The records of ``sequences`` under an LLE-DAVIS-layout root.

    Raises:
        InputError: a sequence without a record (named), or a bad record.
    """
    out = []
    for seq in sequences:
        path = procedural_record_path(root, seq)
        if not path.is_file():
            raise InputError(path, f"sequence {seq!r} has no procedural record",
                             "generate the referring set with the procedural generator, or use a root whose videos have expressions")
        rec = read_procedural_record(path)
        if rec.sequence != seq:
            raise InputError(path, f"the record is of sequence {rec.sequence!r}, not {seq!r}", "name each record after its sequence")
        out.append(rec)
    return out


# ----------------------------------------------------------------------------- checks
def mask_object_ids(mask_files: Iterable[str | os.PathLike]) -> set[int]:
    """Every non-zero, non-void (255) id in a video's mask PNGs."""
    from evolve.data.image_io import read_mask

    ids: set[int] = set()
    for f in mask_files:
        ids.update(int(v) for v in np.unique(read_mask(f)[0]))
    return ids - {0, 255}


def check_object_ids(expressions: Iterable[ReferringExpression], ids_of_video: dict[str, set[int]], mask_root: str | os.PathLike | None = None) -> None:
    """Refuse expressions whose object is absent from the video's masks.

    Args:
        expressions: the expressions (``object_id`` None is skipped: no public ground truth).
        ids_of_video: object ids present in each video's masks (:func:`mask_object_ids`).
        mask_root: the mask folder, named in the message.

    Raises:
        InputError: a video without masks, or an object id absent from them; the message
            names the video, the id, the expression and the file line it came from.
    """
    for e in expressions:
        if e.object_id is None:
            continue
        where = f" ({e.source}, line {e.line})" if e.line else (f" ({e.source})" if e.source else "")
        if e.video not in ids_of_video:
            raise InputError(mask_root, f"video {e.video!r} of expression {e.text!r}{where} has no masks",
                             "add the video's masks or drop its expressions (check the spelling of the video name)")
        if e.object_id not in ids_of_video[e.video]:
            raise InputError(mask_root, f"video {e.video!r}: object id {e.object_id} of expression {e.text!r}{where} is not in its masks "
                             f"(ids present: {sorted(ids_of_video[e.video])})", "use an object id that the video's masks contain")


def find_expression_source(root: str | os.PathLike) -> str:
    """Which expression format a dataset root carries: ``procedural`` (LLE-DAVIS root with
    ``trainval_480p/Procedural/``), ``ref_davis`` (``davis_text_annotations/``) or
    ``ref_youtube_vos`` (``meta_expressions/`` or ``meta_expressions.json``).

    Raises:
        InputError: none of them.
    """
    r = Path(root)
    if (r / PROCEDURAL_DIR).is_dir():
        return "procedural"
    if (r / REF_DAVIS_FOLDER).is_dir():
        return "ref_davis"
    if (r / "meta_expressions").is_dir() or (r / "meta_expressions.json").is_file():
        return "ref_youtube_vos"
    raise InputError(r, "no referring expressions found (no trainval_480p/Procedural/, davis_text_annotations/ or meta_expressions)",
                     "generate the procedural referring set, or add the Ref-DAVIS / Ref-YouTube-VOS expression files")
