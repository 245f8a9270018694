"""Reading the procedural sets' records (docs/procedural.md "Record"): one JSON per video.

The generator (:mod:`evolve.synthesis.procedural`) writes ``Procedural/<seq>.json`` and
``Procedural/classes.json`` next to the DAVIS-format source and into the LLE-DAVIS
``trainval_480p`` folder. This reader lives in the data layer so episode samplers and
referring datasets can use it without importing the generator.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from evolve.utils.errors import InputError

RECORD_DIR = "Procedural"
CLASSES_FILE = "classes.json"
RECORD_KEYS = ("sequence", "height", "width", "num_frames", "frame_names", "objects", "expressions")
OBJECT_KEYS = ("id", "shape", "colour", "texture", "size", "size_px", "motion", "motion_parent", "fold", "moving",
               "centre", "scale", "visible_area")
EXPRESSION_KEYS = ("object_id", "text", "kind", "held_out")
_GENERATE = "generate the dataset with evolve-procedural-data --out <root>"


def _load_json(path: Path) -> dict:
    if not path.is_file():
        raise InputError(path, "file does not exist", _GENERATE)
    try:
        obj = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise InputError(path, f"not valid JSON ({e})", "regenerate the dataset (the file is damaged)") from e
    if not isinstance(obj, dict):
        raise InputError(path, "not a JSON object", "regenerate the dataset")
    return obj


def read_record(path: str | os.PathLike) -> dict:
    """Read and check one video record.

    Checks: the required keys of the record, of every object and expression; per-frame
    lists of length ``num_frames``; unique object ids; every expression's ``object_id`` an
    object of the video.

    Returns:
        The record as a dict (keys as written; see docs/procedural.md).

    Raises:
        InputError: missing file, invalid JSON, or any failed check (naming the key or id).
    """
    path = Path(path)
    rec = _load_json(path)
    missing = [k for k in RECORD_KEYS if k not in rec]
    if missing:
        raise InputError(path, f"record lacks the keys {missing}", "regenerate the dataset with this version of evolve")
    t_len = rec["num_frames"]
    if len(rec["frame_names"]) != t_len:
        raise InputError(path, f"{len(rec['frame_names'])} frame names for num_frames {t_len}", "regenerate the dataset")
    ids = set()
    for o in rec["objects"]:
        lacking = [k for k in OBJECT_KEYS if k not in o]
        if lacking:
            raise InputError(path, f"object {o.get('id')} lacks the keys {lacking}", "regenerate the dataset")
        if o["id"] in ids:
            raise InputError(path, f"object id {o['id']} appears twice", "regenerate the dataset")
        ids.add(o["id"])
        for k in ("centre", "scale", "visible_area"):
            if len(o[k]) != t_len:
                raise InputError(path, f"object {o['id']}: '{k}' has {len(o[k])} entries for {t_len} frames", "regenerate the dataset")
    for e in rec["expressions"]:
        lacking = [k for k in EXPRESSION_KEYS if k not in e]
        if lacking:
            raise InputError(path, f"expression {e.get('text')!r} lacks the keys {lacking}", "regenerate the dataset")
        if e["object_id"] not in ids:
            raise InputError(path, f"expression {e['text']!r} names object {e['object_id']}, which the video '{rec['sequence']}' does not have",
                             "regenerate the dataset")
    return rec


def find_procedural_base(root: str | os.PathLike) -> Path:
    """The folder holding ``Procedural/classes.json``: ``root`` itself, ``root/trainval_480p``,
    ``root/LLE_DAVIS/trainval_480p`` or ``root/DAVIS`` (first found).

    Raises:
        InputError: none of them holds it.
    """
    root = Path(root)
    for cand in (root, root / "trainval_480p", root / "LLE_DAVIS" / "trainval_480p", root / "DAVIS"):
        if (cand / RECORD_DIR / CLASSES_FILE).is_file():
            return cand
    raise InputError(root, f"no {RECORD_DIR}/{CLASSES_FILE} below this folder", f"pass the root made by evolve-procedural-data ({_GENERATE})")


@dataclass
class ProceduralIndex:
    """The records of a procedural dataset.

    Attributes:
        base: the folder holding ``Procedural/``.
        classes: ``classes.json`` (motion classes with parent and fold, vocabularies, config,
            ``splits`` and ``groups`` name lists).
        records: sequence name -> record, for every listed video.
    """

    base: Path
    classes: dict
    records: dict[str, dict] = field(default_factory=dict)

    def sequences(self, split: Optional[str] = None, group: Optional[str] = None) -> list[str]:
        """Names of the videos of ``split`` (train/val) and ``group`` (query/support/referring), file order."""
        names = list(self.records)
        if split is not None:
            keep = set(self.classes["splits"].get(split, []))
            names = [n for n in names if n in keep]
        if group is not None:
            keep = set(self.classes["groups"].get(group, []))
            names = [n for n in names if n in keep]
        return names

    def class_folds(self) -> dict[str, int]:
        """Motion class name -> fold."""
        return {c["name"]: int(c["fold"]) for c in self.classes["motion_classes"]}

    def class_parents(self) -> dict[str, str]:
        """Motion class name -> parent group."""
        return {c["name"]: c["parent"] for c in self.classes["motion_classes"]}


def open_procedural(root: str | os.PathLike) -> ProceduralIndex:
    """Read ``classes.json`` and every video record listed in its ``splits``.

    Raises:
        InputError: no dataset below ``root``, or a listed record missing or malformed.
    """
    base = find_procedural_base(root)
    classes = _load_json(base / RECORD_DIR / CLASSES_FILE)
    for k in ("motion_classes", "splits", "groups"):
        if k not in classes:
            raise InputError(base / RECORD_DIR / CLASSES_FILE, f"lacks the key '{k}'", "regenerate the dataset")
    names = [n for s in ("train", "val") for n in classes["splits"].get(s, [])]
    return ProceduralIndex(base, classes, {n: read_record(base / RECORD_DIR / f"{n}.json") for n in names})
