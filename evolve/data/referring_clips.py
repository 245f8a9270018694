"""Training clips for referring VOS: a clip of a video, one of its expressions and the mask, box
and visibility of the referred object on every frame.

Items are keyed ``(index, seed)`` (:mod:`evolve.training.sampling`); index ``i`` is the
``i``-th (video, expression) pair, and every random choice comes from ``seed``.

No flips, crops, colour jitter or time reversal: each would change what an expression says
("left of", "the large ...", "red", "moving up"). Frames, voxel grids and masks are resized to
``size x size`` (bilinear for frames, nearest for voxel grids and masks).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from evolve.data.image_io import read_frame, read_mask
from evolve.data.layout import DatasetLayout, SequenceFiles, index_sequence, list_sequences
from evolve.data.referring import (
    ReferringExpression,
    check_object_ids,
    find_expression_source,
    read_meta_expressions,
    read_procedural_records,
    read_ref_davis,
)
from evolve.data.train_sampler import grow_clip
from evolve.data.voxel import DEFAULT_NUM_BINS, frame_voxel_grid
from evolve.utils.errors import InputError

log = logging.getLogger(__name__)


def load_expressions(layout: DatasetLayout, split: str | os.PathLike | None, include_held_out: bool = True) -> tuple[list[str], list[ReferringExpression]]:
    """The sequences of a split and their expressions (object ids checked against the masks).

    The expression source is found under the layout's root (:func:`find_expression_source`):
    procedural records, the Ref-DAVIS17 text files or a Ref-YouTube-VOS ``meta_expressions.json``
    (``<root>/meta_expressions.json`` or ``<root>/meta_expressions/<split>/meta_expressions.json``).

    Raises:
        InputError: no expressions, a bad expression file, an object id absent from a video's
            masks (naming the video and the id).
    """
    from evolve.data.referring import mask_object_ids

    sequences = list_sequences(layout, split)
    source = find_expression_source(layout.root)
    if source == "procedural":
        exps = [e for rec in read_procedural_records(layout.root, sequences) for e in rec.expressions]
    elif source == "ref_davis":
        exps = read_ref_davis(layout.root, sequences)
    else:
        path = layout.root / "meta_expressions.json"
        if not path.is_file():
            path = layout.root / "meta_expressions" / str(split) / "meta_expressions.json"
        keep = set(sequences)
        exps = [e for e in read_meta_expressions(path) if e.video in keep]
    if not include_held_out:
        exps = [e for e in exps if not e.held_out]
    videos = sorted({e.video for e in exps})
    ids = {}
    for v in videos:
        if v not in sequences:
            continue
        folder = layout.mask_folder(v)
        ids[v] = mask_object_ids(sorted(folder.glob("*.png"))) if folder.is_dir() else set()
    exps = [e for e in exps if e.video in sequences]
    check_object_ids(exps, ids, layout.root / layout.mask_dir)
    if not exps:
        raise InputError(layout.root, f"split {split!r} has no referring expressions", "use a split whose videos have expressions")
    return sequences, exps


@dataclass
class ReferringClipConfig:
    """Clip settings.

    Attributes:
        seq_length: frames per clip (T).
        max_skip: largest gap between consecutive clip frames (Cutie's clip growth).
        size: frames are resized to ``size x size`` (a multiple of 32 for SgMg).
        num_bins: voxel-grid bins.
        retries: clips tried before giving up on one where the object is visible.
    """

    seq_length: int = 3
    max_skip: int = 3
    size: int = 128
    num_bins: int = DEFAULT_NUM_BINS
    retries: int = 10


def mask_box(mask: torch.Tensor) -> tuple[torch.Tensor, bool]:
    """cxcywh box in [0, 1] of a (H, W) mask's pixels (pixel extents), and whether it is non-empty."""
    h, w = mask.shape
    ys, xs = torch.nonzero(mask, as_tuple=True)
    if ys.numel() == 0:
        return torch.zeros(4), False
    x0, x1 = float(xs.min()), float(xs.max()) + 1
    y0, y1 = float(ys.min()), float(ys.max()) + 1
    return torch.tensor([(x0 + x1) / 2 / w, (y0 + y1) / 2 / h, (x1 - x0) / w, (y1 - y0) / h]), True


class ReferringClipDataset(Dataset):
    """(video, expression) pairs of one or more datasets as training clips.

    Args:
        parts: ``(layout, expressions)`` per dataset (:func:`load_expressions`).
        config: :class:`ReferringClipConfig`.
    Item: ``rgb`` float32 (T, 3, S, S) in [0, 1]; ``voxel`` float32 (T, bins, S, S); ``masks``
    float32 (T, S, S) {0, 1} of the referred object; ``boxes`` float32 (T, 4) cxcywh in [0, 1];
    ``valid`` float32 (T,) 1 where the object is visible; ``text`` str; ``info`` dict (video,
    exp_id, object_id, frames).
    Raises:
        InputError: a video shorter than the clip, or no clip with the object visible.
    """

    def __init__(self, parts: Sequence[tuple[DatasetLayout, Sequence[ReferringExpression]]], config: ReferringClipConfig) -> None:
        self.config = config
        self.pairs: list[tuple[int, ReferringExpression]] = []
        self.layouts = [layout for layout, _ in parts]
        self._files: dict[tuple[int, str], SequenceFiles] = {}
        for d, (layout, exps) in enumerate(parts):
            for e in exps:
                files = self._index(d, e.video)
                if len(files) < config.seq_length:
                    raise InputError(layout.image_folder(e.video), f"video has {len(files)} frames, fewer than seq_length {config.seq_length}",
                                     "lower main_training.seq_length or leave the video out")
                self.pairs.append((d, e))
        if not self.pairs:
            raise InputError(None, "no (video, expression) pairs to train on", "give datasets whose videos have referring expressions")

    def _index(self, d: int, video: str) -> SequenceFiles:
        key = (d, video)
        if key not in self._files:
            self._files[key] = index_sequence(self.layouts[d], video)
        return self._files[key]

    def __len__(self) -> int:
        return len(self.pairs)

    @property
    def texts(self) -> list[str]:
        """Every expression text (for the vocabulary)."""
        return [e.text for _, e in self.pairs]

    def __getitem__(self, key: tuple[int, int]) -> dict[str, Any]:
        index, seed = key
        d, exp = self.pairs[index]
        cfg = self.config
        files = self._index(d, exp.video)
        rng = np.random.default_rng([int(seed)])
        n = len(files)
        for _ in range(cfg.retries):
            order = grow_clip(int(rng.integers(n)), n, cfg.seq_length, cfg.max_skip, rng)
            masks = []
            for i in order:
                path = files.mask_files.get(files.frames[i])
                ids = read_mask(path)[0] if path is not None else None
                masks.append(None if ids is None else torch.from_numpy(ids == exp.object_id))
            if any(m is not None and bool(m.any()) for m in masks):
                return self._item(files, order, masks, exp)
        raise InputError(self.layouts[d].mask_folder(exp.video), f"object {exp.object_id} was not visible in {cfg.retries} sampled clips",
                         "check that the masks mark the referred object")

    def _item(self, files: SequenceFiles, order: list[int], masks: list, exp: ReferringExpression) -> dict[str, Any]:
        cfg = self.config
        s = cfg.size
        rgbs, voxels, out_masks, boxes, valid = [], [], [], [], []
        for i, m in zip(order, masks):
            rgb = read_frame(files.frame_files[i])  # (H, W, 3) uint8
            h, w = rgb.shape[:2]
            rgbs.append(torch.from_numpy(rgb).permute(2, 0, 1))
            voxels.append(frame_voxel_grid(files, i, (h, w), cfg.num_bins))  # (B, H, W)
            mm = m if m is not None else torch.zeros(h, w, dtype=torch.bool)
            if mm.shape != (h, w):
                raise InputError(files.mask_files.get(files.frames[i]), f"mask is {mm.shape[1]}x{mm.shape[0]}, frame {w}x{h}", "masks must have the size of their frame")
            out_masks.append(mm)
        rgb_t = torch.stack(rgbs).float().div_(255.0)  # (T, 3, H, W)
        voxel_t = torch.stack(voxels)  # (T, B, H, W)
        mask_t = torch.stack(out_masks).float()[:, None]  # (T, 1, H, W)
        if rgb_t.shape[-2:] != (s, s):
            rgb_t = F.interpolate(rgb_t, size=(s, s), mode="bilinear", align_corners=False, antialias=True).clamp_(0, 1)
            voxel_t = F.interpolate(voxel_t, size=(s, s), mode="nearest")
            mask_t = F.interpolate(mask_t, size=(s, s), mode="nearest")
        mask_t = mask_t[:, 0]
        for m in mask_t:
            box, ok = mask_box(m > 0.5)
            boxes.append(box)
            valid.append(float(ok))
        return {
            "rgb": rgb_t.contiguous(),
            "voxel": voxel_t.contiguous(),
            "masks": mask_t.contiguous(),
            "boxes": torch.stack(boxes),
            "valid": torch.tensor(valid),
            "text": exp.text,
            "info": {"video": exp.video, "exp_id": exp.exp_id, "object_id": exp.object_id, "frames": [files.frames[i] for i in order]},
        }


def collate_referring(items: list[dict]) -> dict:
    """Stack the tensors of referring items; ``texts`` and ``info`` become lists."""
    out = {k: torch.stack([it[k] for it in items]) for k in ("rgb", "voxel", "masks", "boxes", "valid")}
    out["texts"] = [it["text"] for it in items]
    out["info"] = [it["info"] for it in items]
    return out
