"""Reader of the procedural motion set (few-shot motion VOS without downloads; docs/fewshot.md).

The procedural generator (:mod:`evolve.synthesis`) writes an LLE-DAVIS tree (low-light frames,
normal-light frames, masks, events, splits; docs/architecture.md "Dataset layouts") plus one
record per video and a class list::

    <root>/trainval_480p/Procedural/<seq>.json      per-video record (below)
    <root>/trainval_480p/Procedural/classes.json    the motion classes, their parents and folds

A record holds ``sequence``, ``height``, ``width``, ``num_frames``, ``frame_names`` and
``objects``: per object its mask ``id``, appearance (``shape``, ``colour``, ``texture``,
``size``, ``size_px``), ``motion`` (a class name, or ``"static"``), ``motion_parent``, ``fold``
(0-3, or null), ``moving``, and per frame ``centre``, ``scale`` and ``visible_area`` (pixels).
Every moving object is one :class:`~evolve.data.motion.MotionInstance` on the frames where its
visible area is positive; static objects are distractors and belong to no class.

``classes.json`` may be an object with a list of ``{"name", "parent", "fold"}`` objects under
``"motion_classes"`` (the generator's form, next to its vocabularies) or ``"classes"``, such a
list itself, or an object mapping each name to ``{"parent", "fold"}``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
import torch

from evolve.data.image_io import read_frame, read_mask
from evolve.data.layout import DatasetLayout, SequenceFiles, index_sequence, list_sequences, make_layout
from evolve.data.motion import ClipData, MotionCatalogue, MotionClass, MotionInstance, MotionSource, MotionVideo, resize_clip
from evolve.data.voxel import frame_voxel_grid
from evolve.utils.errors import InputError

RECORD_DIR = "trainval_480p/Procedural"
CLASS_FILE = "classes.json"
STATIC = "static"


def _read_json(path: Path, what: str) -> Any:
    if not path.is_file():
        raise InputError(path, f"{what} does not exist", "generate the procedural motion set again (its records are written with the videos)")
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(path, f"cannot read {what} ({e})", "regenerate the file; it must be UTF-8 JSON") from e


def read_class_file(path: str | os.PathLike) -> dict[str, MotionClass]:
    """Motion classes of ``classes.json`` (the three forms of the module docstring).

    The hierarchy path of a class is ``(parent, name)`` (``(name,)`` without a parent).

    Raises:
        InputError: unreadable file, an entry without a name, a fold that is not 0-3 or null, a
            class listed twice, or fewer than two classes.
    """
    p = Path(path)
    raw = _read_json(p, "class file")
    entries: list[dict]
    if isinstance(raw, dict) and isinstance(raw.get("motion_classes"), list):
        entries = raw["motion_classes"]
    elif isinstance(raw, dict) and isinstance(raw.get("classes"), list):
        entries = raw["classes"]
    elif isinstance(raw, list):
        entries = raw
    elif isinstance(raw, dict):
        entries = [dict(v, name=k) if isinstance(v, dict) else {"name": k, "bad": v} for k, v in raw.items()]
    else:
        raise InputError(p, "class file is neither a list nor an object", "write a list of {name, parent, fold} objects")
    out: dict[str, MotionClass] = {}
    for i, e in enumerate(entries):
        if not isinstance(e, dict) or not isinstance(e.get("name"), str) or "bad" in e:
            raise InputError(p, f"entry {i} is not an object with a string 'name'", "give each class as {name, parent, fold}")
        name = e["name"]
        fold = e.get("fold")
        if fold is not None and (not isinstance(fold, int) or isinstance(fold, bool) or not 0 <= fold <= 3):
            raise InputError(p, f"class {name!r} has fold {fold!r}", "use a fold 0..3 or null")
        if name in out:
            raise InputError(p, f"class {name!r} is listed twice", "list every class once")
        parent = e.get("parent")
        path = (str(parent), name) if parent else (name,)
        out[name] = MotionClass(name=name, path=path, fold=fold)
    if len(out) < 2:
        raise InputError(p, f"class file lists {len(out)} class(es)", "list at least two motion classes")
    return out


def read_record(path: str | os.PathLike, classes: dict[str, MotionClass], split: Optional[str] = None) -> MotionVideo:
    """One video record -> :class:`MotionVideo` (moving objects become instances).

    Raises:
        InputError: unreadable record, missing keys, per-frame lists of the wrong length, or a
            moving object whose motion is not in the class file (the message names both files).
    """
    p = Path(path)
    rec = _read_json(p, "video record")
    try:
        name = str(rec["sequence"])
        n = int(rec["num_frames"])
        objects = list(rec["objects"])
    except (KeyError, TypeError, ValueError) as e:
        raise InputError(p, f"video record lacks or mistypes {e}", "regenerate the record (sequence, num_frames, objects are required)") from e
    frame_names = rec.get("frame_names")
    if frame_names is not None and len(frame_names) != n:
        raise InputError(p, f"frame_names has {len(frame_names)} entries but num_frames is {n}", "regenerate the record")
    instances: list[MotionInstance] = []
    for o in objects:
        try:
            oid, motion, moving = int(o["id"]), str(o["motion"]), bool(o["moving"])
        except (KeyError, TypeError, ValueError) as e:
            raise InputError(p, f"an object lacks or mistypes {e}", "each object needs id, motion and moving") from e
        if not moving or motion == STATIC:
            continue
        if motion not in classes:
            raise InputError(p, f"object {oid} has motion {motion!r}, which the class file does not list",
                             f"add {motion!r} to {CLASS_FILE} or regenerate the set")
        area = o.get("visible_area")
        if area is None:
            frames = tuple(range(n))
        else:
            if len(area) != n:
                raise InputError(p, f"object {oid}: visible_area has {len(area)} entries for {n} frames", "regenerate the record")
            frames = tuple(i for i, a in enumerate(area) if float(a) > 0)
        instances.append(MotionInstance(video=name, object_id=oid, motion=motion, frames=frames,
                                        object_class=str(o["shape"]) if o.get("shape") is not None else None))
    return MotionVideo(name=name, num_frames=n, instances=instances, record=p, split=split)


class ProceduralMotionSource(MotionSource):
    """The procedural motion set of one split, read through the LLE-DAVIS layout.

    Args:
        root: the LLE-DAVIS root (holding ``trainval_480p/``).
        split: ``train`` / ``val`` / a split file, or None for every sequence with a record.
        normal_light: read ``JPEGImages`` (normal light) instead of ``Lowlight_Images``.

    Raises:
        InputError: a missing root, class file, split file or record (see :func:`read_record`).
    """

    has_events = True

    def __init__(self, root: str | os.PathLike, split: Optional[str] = "train", normal_light: bool = False) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise InputError(self.root, "procedural motion set root does not exist", "generate the set or fix data_root")
        layout = make_layout("lle_davis", self.root)
        if normal_light:
            layout = DatasetLayout(**{**layout.__dict__, "image_dir": layout.normal_image_dir or layout.image_dir})
        self.layout = layout
        self.record_dir = self.root / RECORD_DIR
        classes = read_class_file(self.record_dir / CLASS_FILE)
        names = list_sequences(layout, split) if split is not None else sorted(p.stem for p in self.record_dir.glob("*.json") if p.name != CLASS_FILE)
        videos = {}
        for seq in names:
            videos[seq] = read_record(self.record_dir / f"{seq}.json", classes, split)
        object_classes = sorted({i.object_class for v in videos.values() for i in v.instances if i.object_class})
        self.catalogue = MotionCatalogue(name=f"procedural motion set {self.root} ({split or 'all'})", classes=classes, videos=videos,
                                         object_classes=object_classes, class_file=self.record_dir / CLASS_FILE)
        self._files: dict[str, SequenceFiles] = {}

    def files(self, video: str) -> SequenceFiles:
        """The paired files of ``video`` (indexed once).

        Raises:
            InputError: pairing problems, or a frame count other than the record's.
        """
        if video not in self._files:
            files = index_sequence(self.layout, video)
            entry = self.catalogue.videos[video]
            if len(files) != entry.num_frames:
                raise InputError(entry.record, f"the record says {entry.num_frames} frames but {self.layout.image_folder(video)} has {len(files)}",
                                 "regenerate the video or its record")
            self._files[video] = files
        return self._files[video]

    def mask_location(self, video: str) -> Path:
        """The mask folder of ``video``."""
        return self.layout.mask_folder(video)

    def load_clip(self, video: str, frames: Sequence[int], object_ids: Sequence[int], size: Optional[tuple[int, int]],
                  num_bins: int) -> ClipData:
        """See :meth:`MotionSource.load_clip`; masks are ``Annotations`` ids equal to the object id."""
        files = self.files(video)
        rgbs, voxels, ids = [], [], []
        hw: Optional[tuple[int, int]] = None
        for t in frames:
            stem = files.frames[t]
            rgb = read_frame(files.frame_files[t])  # (H, W, 3) uint8
            if hw is None:
                hw = rgb.shape[:2]
            elif rgb.shape[:2] != hw:
                raise InputError(files.frame_files[t], f"frame is {rgb.shape[1]}x{rgb.shape[0]}, the clip's first {hw[1]}x{hw[0]}",
                                 "all frames of a video must have one size")
            mpath = files.mask_files.get(stem)
            if mpath is None:
                raise InputError(self.layout.mask_folder(video) / f"{stem}.png", "mask file of the frame does not exist",
                                 "regenerate the video (every frame of the procedural set has a mask)")
            m, _ = read_mask(mpath)
            if m.shape != hw:
                raise InputError(mpath, f"mask is {m.shape[1]}x{m.shape[0]} but the frame is {hw[1]}x{hw[0]}", "masks must have the size of their frame")
            rgbs.append(torch.from_numpy(rgb).permute(2, 0, 1).float().div_(255.0))
            voxels.append(frame_voxel_grid(files, t, hw, num_bins))
            ids.append(torch.from_numpy(m.astype(np.int64)))
        rgb_t = torch.stack(rgbs)  # (T, 3, H, W)
        voxel_t = torch.stack(voxels)  # (T, B, H, W)
        id_t = torch.stack(ids)  # (T, H, W)
        masks = {int(k): id_t == int(k) for k in object_ids}
        rgb_t, voxel_t, masks = resize_clip(rgb_t, voxel_t, masks, size)
        return ClipData(rgb=rgb_t, voxel=voxel_t, masks=masks, frame_names=[files.frames[t] for t in frames])
