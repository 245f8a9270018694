"""Reader of MOVE's released layout (Ying, Hu, Ding, "MOVE: Motion-Guided Few-Shot Video Object
Segmentation", ICCV 2025); layout facts from the authors' public dataset code, docs/fewshot.md::

    <root>/frames/<video>/<frame>.jpg           frames, sorted by file name
    <root>/annotations/<video>.json             {"length": T, "objects": [...]}
    <root>/action_groups.json                   the `default` grouping: 4 groups of categories
    <root>/challenging_group.json               the `challenging` grouping

An object of an annotation file has ``category`` (its object category), ``masks`` (one entry
per frame: a COCO run-length encoding ``{"size": [H, W], "counts": ...}`` or null) and
``actions``: ``[{"action": <motion category>, "start_frame": s, "end_frame": e}, ...]``; the
object performs the motion on frames ``s..e`` (default: the whole video), and its mask counts
for that motion only there. A group file is a list of four objects, each with an ``actions``
list of motion categories; group ``g`` is fold ``g`` (train on three, test on one). Motion
categories are hierarchical by ``-`` (``sports-basketball-dunk``).

MOVE has no events: voxel grids are zeros (``has_events`` False), so an events-on network runs
on it frames-only.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
import torch

from evolve.data.image_io import read_frame
from evolve.data.motion import ClipData, MotionCatalogue, MotionClass, MotionInstance, MotionSource, MotionVideo, resize_clip
from evolve.data.splits import natural_key
from evolve.utils.errors import InputError

GROUP_FILES = {"default": "action_groups.json", "challenging": "challenging_group.json"}
FRAME_EXTENSIONS = (".jpg", ".jpeg", ".png")


def _load_json(path: Path, what: str, fix: str) -> Any:
    if not path.is_file():
        raise InputError(path, f"{what} does not exist", fix)
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(path, f"cannot read {what} ({e})", "restore the file from the MOVE release") from e


def read_group_file(path: str | os.PathLike) -> list[list[str]]:
    """The four category groups of a MOVE group file.

    Raises:
        InputError: missing/unreadable file, not a list of 4 objects with an ``actions`` list,
            or a category in two groups.
    """
    p = Path(path)
    raw = _load_json(p, "MOVE group file", "put the release's group files (action_groups.json, challenging_group.json) next to annotations/")
    if not isinstance(raw, list) or len(raw) != 4 or not all(isinstance(g, dict) and isinstance(g.get("actions"), list) for g in raw):
        raise InputError(p, "a group file must be a list of 4 objects with an 'actions' list", "restore the file from the MOVE release")
    seen: dict[str, int] = {}
    groups = []
    for g, entry in enumerate(raw):
        names = [str(a) for a in entry["actions"]]
        for a in names:
            if a in seen:
                raise InputError(p, f"category {a!r} is in groups {seen[a]} and {g}", "put every category in one group")
            seen[a] = g
        groups.append(names)
    return groups


def decode_rle(rle: Any, where: Path, frame: int) -> np.ndarray:
    """A COCO run-length encoding -> bool (H, W) mask (column-major runs, first run background).

    ``counts`` may be COCO's compressed string or a plain list of run lengths. Decoded with
    ``pycocotools`` (the format's reference library).

    Raises:
        InputError: not an RLE object, or counts that do not fill ``size`` (names the file and frame).
    """
    from pycocotools import mask as mask_utils

    if not isinstance(rle, dict) or "size" not in rle or "counts" not in rle:
        raise InputError(where, f"mask of frame {frame} is not an RLE object with size and counts", "restore the annotation file from the MOVE release")
    h, w = (int(v) for v in rle["size"])
    counts = rle["counts"]
    try:
        if isinstance(counts, list):
            if sum(int(c) for c in counts) != h * w:
                raise ValueError(f"run lengths sum to {sum(counts)}, not {h}*{w}")
            obj = mask_utils.frPyObjects({"size": [h, w], "counts": [int(c) for c in counts]}, h, w)
        else:
            obj = {"size": [h, w], "counts": counts.encode("ascii") if isinstance(counts, str) else counts}
        with warnings.catch_warnings():  # pycocotools' NumPy 2 copy-keyword deprecation notice
            warnings.simplefilter("ignore", DeprecationWarning)
            m = mask_utils.decode(obj)
    except (ValueError, TypeError, UnicodeEncodeError) as e:
        raise InputError(where, f"mask of frame {frame} cannot be decoded ({e})", "restore the annotation file from the MOVE release") from e
    return np.asarray(m, dtype=bool).reshape(h, w)


class MoveSource(MotionSource):
    """MOVE's release as a :class:`MotionSource`.

    Args:
        root: the folder holding ``frames/``, ``annotations/`` and the group files
            (``data/MOVE_release`` in the authors' code).
        setting: ``default`` (``action_groups.json``, the paper's OS setting) or ``challenging``.
        videos: restrict to these video names (default: every folder under ``frames/``).

    Raises:
        InputError: unknown setting; a missing root, frames folder, group file or annotation
            file (the message names the file: the masks of a video live in its annotation);
            a frame count other than the annotation's ``length``; a ``masks`` list of another
            length; a motion category that the group file does not list.
    """

    has_events = False

    def __init__(self, root: str | os.PathLike, setting: str = "default", videos: Optional[Sequence[str]] = None) -> None:
        self.root = Path(root)
        if setting not in GROUP_FILES:
            raise InputError(None, f"MOVE setting {setting!r} is unknown", f"use one of {sorted(GROUP_FILES)}")
        self.frame_dir = self.root / "frames"
        self.ann_dir = self.root / "annotations"
        if not self.frame_dir.is_dir():
            raise InputError(self.frame_dir, "MOVE frames folder does not exist", "point root at the MOVE release folder (with frames/ and annotations/)")
        group_file = self.root / GROUP_FILES[setting]
        groups = read_group_file(group_file)
        fold_of = {a: g for g, names in enumerate(groups) for a in names}
        names = sorted((p.name for p in self.frame_dir.iterdir() if p.is_dir()), key=natural_key) if videos is None else list(videos)
        self._frames: dict[str, list[Path]] = {}
        self._objects: dict[str, list[dict]] = {}
        entries: dict[str, MotionVideo] = {}
        used: set[str] = set()
        object_classes: set[str] = set()
        for vid in names:
            folder = self.frame_dir / vid
            if not folder.is_dir():
                raise InputError(folder, "video folder does not exist", "check the video name")
            frames = sorted((p for p in folder.iterdir() if p.suffix.lower() in FRAME_EXTENSIONS), key=lambda p: natural_key(p.name))
            ann_path = self.ann_dir / f"{vid}.json"
            ann = _load_json(ann_path, f"annotation (mask) file of video {vid!r}",
                             "restore annotations/<video>.json from the MOVE release, or remove the video's frames folder")
            try:
                length, objects = int(ann["length"]), list(ann["objects"])
            except (KeyError, TypeError, ValueError) as e:
                raise InputError(ann_path, f"annotation lacks or mistypes {e}", "restore the file from the MOVE release") from e
            if length != len(frames):
                raise InputError(ann_path, f"length is {length} but {folder} has {len(frames)} frames", "restore the frames or the annotation")
            instances = []
            for k, obj in enumerate(objects):
                masks = obj.get("masks")
                if not isinstance(masks, list) or len(masks) != length:
                    raise InputError(ann_path, f"object {k} has {len(masks) if isinstance(masks, list) else 'no'} masks for {length} frames",
                                     "restore the file from the MOVE release")
                category = obj.get("category")
                if category is not None:
                    object_classes.add(str(category))
                for act in obj.get("actions", []) or []:
                    motion = str(act["action"])
                    if motion not in fold_of:
                        raise InputError(ann_path, f"object {k} performs {motion!r}, a category that {group_file} does not list",
                                         f"add {motion!r} to one group of {group_file.name}, or restore the release's group file")
                    used.add(motion)
                    start = int(act.get("start_frame", 0) or 0)
                    end = min(int(act.get("end_frame", length - 1) if act.get("end_frame") is not None else length - 1), length - 1)
                    span = tuple(t for t in range(max(start, 0), end + 1) if masks[t] is not None)
                    instances.append(MotionInstance(video=vid, object_id=k + 1, motion=motion, frames=span,
                                                    object_class=str(category) if category is not None else None))
            self._frames[vid] = frames
            self._objects[vid] = objects
            entries[vid] = MotionVideo(name=vid, num_frames=length, instances=instances, record=ann_path)
        classes = {a: MotionClass(name=a, path=tuple(a.split("-")), fold=g) for a, g in fold_of.items()}
        self.catalogue = MotionCatalogue(name=f"MOVE release {self.root} ({setting})", classes=classes, videos=entries,
                                         object_classes=sorted(object_classes), class_file=group_file)

    def mask_location(self, video: str) -> Path:
        """The annotation file holding the masks of ``video``."""
        return self.ann_dir / f"{video}.json"

    def load_clip(self, video: str, frames: Sequence[int], object_ids: Sequence[int], size: Optional[tuple[int, int]],
                  num_bins: int) -> ClipData:
        """See :meth:`MotionSource.load_clip`; object ``k`` is the ``k-1``-th object of the
        annotation; a null mask entry is an empty mask. Voxel grids are zeros."""
        files = self._frames[video]
        objects = self._objects[video]
        where = self.mask_location(video)
        rgbs = []
        masks: dict[int, list[torch.Tensor]] = {int(k): [] for k in object_ids}
        hw: Optional[tuple[int, int]] = None
        for t in frames:
            rgb = read_frame(files[t])
            if hw is None:
                hw = rgb.shape[:2]
            elif rgb.shape[:2] != hw:
                raise InputError(files[t], f"frame is {rgb.shape[1]}x{rgb.shape[0]}, the clip's first {hw[1]}x{hw[0]}", "all frames of a video must have one size")
            rgbs.append(torch.from_numpy(rgb).permute(2, 0, 1).float().div_(255.0))
            for k in masks:
                rle = objects[k - 1]["masks"][t]
                if rle is None:
                    m = np.zeros(hw, dtype=bool)
                else:
                    m = decode_rle(rle, where, t)
                    if m.shape != hw:
                        raise InputError(where, f"object {k - 1}'s mask on frame {t} is {m.shape[1]}x{m.shape[0]}, the frame {hw[1]}x{hw[0]}",
                                         "restore the annotation file from the MOVE release")
                masks[k].append(torch.from_numpy(m))
        assert hw is not None
        rgb_t = torch.stack(rgbs)
        voxel_t = torch.zeros(len(rgbs), num_bins, *hw)
        mask_t = {k: torch.stack(v) for k, v in masks.items()}
        rgb_t, voxel_t, mask_t = resize_clip(rgb_t, voxel_t, mask_t, size)
        return ClipData(rgb=rgb_t, voxel=voxel_t, masks=mask_t, frame_names=[files[t].stem for t in frames])
