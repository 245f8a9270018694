"""Training clips for the video stage: Cutie's sampler with event voxel grids (DESIGN 2.6).

Item contract: docs/architecture.md ("Training clips"). How a clip is drawn:

1. The dataset index lists every (dataset, sequence, frame) ``multiplier`` times; item
   ``idx`` starts from that seed frame.
2. The clip grows from the seed: each new frame is drawn uniformly from the frames within
   ``max_skip`` of an already chosen frame (and not chosen yet), until ``seq_length``
   frames; they are sorted, and with probability ``reverse_probability`` played backwards.
3. The clip's first frame must contain an object (else a new seed frame, up to
   ``seed_retries``; then a random sequence of the same dataset, up to ``sequence_retries``),
   and so must its augmented first frame (else a new augmentation, up to ``crop_retries``).
4. Up to ``num_objects`` objects of the (augmented) first frame are chosen at random and
   re-indexed 1..N in random order; other objects become background.

Events under time reversal: played backwards, the events ending at frame k are those
between frame k+1 and frame k in reverse, so a reversed clip's frame k gets
``-flip_bins(voxel of the chunk ending at frame k+1)`` (:func:`evolve.data.voxel.reverse_voxel_grid`);
the last frame of a sequence uses its own chunk, reversed (the mirror of the frame-0 rule).

Determinism: everything random in an item is drawn from generators seeded by
``(config.seed, epoch, idx)`` (numpy for the clip, torch's global generator inside
``torch.random.fork_rng`` for the torchvision transforms), so an item does not depend on the
worker that builds it, on ``num_workers`` or on the order of requests, and the caller's
global RNG state is left untouched. No ``worker_init_fn`` is needed. Call
:meth:`VOSClipDataset.set_epoch` every epoch for fresh clips; the epoch reaches the workers
when the DataLoader starts them (the default ``persistent_workers=False``; with persistent
workers the epoch a worker was started with stays in force).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from evolve.data.augment import AugmentConfig, ClipAugmentation
from evolve.data.image_io import read_frame, read_mask
from evolve.data.layout import DatasetLayout, SequenceFiles, index_sequence, list_sequences
from evolve.data.voxel import DEFAULT_NUM_BINS, frame_voxel_grid
from evolve.utils.errors import InputError


@dataclass
class TrainDatasetSpec:
    """One dataset of the training mix.

    Attributes:
        layout: where its files are (:mod:`evolve.data.layout` presets).
        split: split name or file (``None`` = the layout's default: every sequence).
        max_skip: largest gap, in frames of the sequence, between a new clip frame and a
            chosen one (EVOLVE: 1 for LLE-VOS, 2 for LLE-DAVIS; DESIGN 2.6).
        multiplier: how many times each (sequence, frame) appears in the index (EVOLVE:
            LLE-VOS 1, LLE-DAVIS 2).
    """

    layout: DatasetLayout
    split: str | os.PathLike | None = "train"
    max_skip: int = 1
    multiplier: int = 1


@dataclass
class ClipSamplerConfig:
    """Clip sampling and augmentation (DESIGN 2.6; Cutie's video stage).

    Attributes:
        seq_length: T, frames per clip (8; pre-training 3).
        num_objects: N_max, the most objects per clip (3; pre-training 1).
        num_bins: B of the voxel grids (5).
        reverse_probability: probability of playing a clip backwards (Cutie 0.5); voxel grids
            are time-reversed exactly (see the module docstring).
        augment: geometric and colour augmentation (crop size etc.).
        crop_retries: new augmentations tried when the augmented first frame has no object.
        seed_retries: new seed frames tried (per sequence) when the first frame has no object.
        sequence_retries: random other sequences tried before giving up.
        use_voxel_cache: read ``EventVoxel`` files when present (else always build from chunks).
        seed: base seed of all sampling randomness.
    """

    seq_length: int = 8
    num_objects: int = 3
    num_bins: int = DEFAULT_NUM_BINS
    reverse_probability: float = 0.5
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    crop_retries: int = 5
    seed_retries: int = 5
    sequence_retries: int = 100
    use_voxel_cache: bool = True
    seed: int = 14159265

    def __post_init__(self) -> None:
        if self.seq_length < 1 or self.num_objects < 1 or self.num_bins < 1:
            raise ValueError("seq_length, num_objects and num_bins must be >= 1")
        if not 0.0 <= self.reverse_probability <= 1.0:
            raise ValueError(f"reverse_probability must be in [0, 1], got {self.reverse_probability}")
        if min(self.crop_retries, self.seed_retries) < 1 or self.sequence_retries < 0 or self.seed < 0:
            raise ValueError("crop_retries and seed_retries must be >= 1, sequence_retries and seed >= 0")


def grow_clip(seed_frame: int, num_frames: int, length: int, max_skip: int, rng: np.random.Generator) -> list[int]:
    """Frame indices of a clip grown from ``seed_frame`` (Cutie's rule, DESIGN 2.6).

    Each new frame is drawn uniformly among the not-yet-chosen frames within ``max_skip``
    of any chosen frame, so the sorted clip has gaps of at most ``max_skip``.

    Args:
        seed_frame: first chosen frame index.
        num_frames: frames in the sequence (>= ``length``).
        length: T.
        max_skip: >= 1.
        rng: numpy generator.

    Returns:
        ``length`` distinct indices, sorted ascending.

    Raises:
        ValueError: ``num_frames < length`` or ``max_skip < 1``.
    """
    if num_frames < length:
        raise ValueError(f"sequence has {num_frames} frames, fewer than the clip length {length}")
    if max_skip < 1:
        raise ValueError(f"max_skip must be >= 1, got {max_skip}")
    chosen = [int(seed_frame)]
    candidates: set[int] = set()
    while len(chosen) < length:
        last = chosen[-1]
        candidates.update(range(max(0, last - max_skip), min(num_frames, last + max_skip + 1)))
        candidates.difference_update(chosen)
        pick = sorted(candidates)[int(rng.integers(len(candidates)))]
        chosen.append(pick)
    return sorted(chosen)


class VOSClipDataset(Dataset):
    """Training clips from one or more VOS datasets (a map-style ``torch`` Dataset).

    Args:
        datasets: the training mix; each entry's sequences with at least ``seq_length``
            frames are used.
        config: sampling and augmentation parameters.

    Items (docs/architecture.md "Training clips"): ``rgb`` float32 (T, 3, S, S) in [0, 1];
    ``voxel`` float32 (T, B, S, S); ``cls_gt`` int64 (T, 1, S, S); ``first_frame_gt``
    float32 (1, N_max, S, S); ``selector`` float32 (N_max,); ``info`` {name, frames, num_objects}.
    S = ``config.augment.crop_size``. Frames-only datasets give zero voxel grids.

    Raises:
        InputError: (at construction) no usable sequence, a sequence with frames but missing
            masks, file pairing problems; (per item) unreadable files, mask/frame size
            mismatch, RGB masks, bad event chunks, or no clip with an object after all retries.
    """

    def __init__(self, datasets: Sequence[TrainDatasetSpec], config: ClipSamplerConfig | None = None) -> None:
        self.config = config or ClipSamplerConfig()
        self.specs = list(datasets)
        if not self.specs:
            raise ValueError("no training dataset given")
        self.augmentation = ClipAugmentation(self.config.augment)
        self.epoch = 0
        self.sequences: list[list[SequenceFiles]] = []
        index: list[tuple[int, int, int]] = []
        for d, spec in enumerate(self.specs):
            seqs = []
            for name in list_sequences(spec.layout, spec.split):
                files = index_sequence(spec.layout, name)
                if len(files) < self.config.seq_length:
                    continue  # too short for a clip (Cutie skips these too)
                missing = [s for s in files.frames if s not in files.mask_files]
                if missing:
                    raise InputError(
                        spec.layout.mask_folder(name) / f"{missing[0]}.png",
                        f"training needs a mask for every frame; {len(missing)} frame(s) of {name!r} have none",
                        "add the masks, or list only fully annotated frames",
                    )
                seqs.append(files)
            if not seqs:
                raise InputError(
                    spec.layout.root,
                    f"no sequence of split {spec.split!r} has at least {self.config.seq_length} frames",
                    "check the split, or lower seq_length",
                )
            self.sequences.append(seqs)
            for s, files in enumerate(seqs):
                for _ in range(spec.multiplier):
                    index.extend((d, s, f) for f in range(len(files)))
        self._index = np.asarray(index, dtype=np.int64)  # (len, 3): dataset, sequence, seed frame

    def set_epoch(self, epoch: int) -> None:
        """Use ``epoch`` in the seed of every item (fresh clips each epoch, reproducibly)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return int(self._index.shape[0])

    # -- loading -----------------------------------------------------------------------------
    def _read_mask(self, files: SequenceFiles, i: int, size: tuple[int, int] | None) -> np.ndarray:
        path = files.mask_files[files.frames[i]]
        ids, _ = read_mask(path)  # (H, W) uint8
        if size is not None and ids.shape != size:
            raise InputError(
                path, f"mask is {ids.shape[1]}x{ids.shape[0]} but the frame is {size[1]}x{size[0]}", "masks must have the size of their frame"
            )
        return ids

    def _load(self, files: SequenceFiles, order: list[int], reverse: bool) -> tuple[torch.Tensor, ...]:
        """Frames (T,3,H,W) float32, masks (T,1,H,W) int64, voxels (T,B,H,W) float32 of ``order``."""
        rgbs, masks, voxels = [], [], []
        size = None
        for i in order:
            rgb = read_frame(files.frame_files[i])  # (H, W, 3) uint8
            if size is None:
                size = rgb.shape[:2]
            elif rgb.shape[:2] != size:
                raise InputError(files.frame_files[i], f"frame size {rgb.shape[1]}x{rgb.shape[0]} differs from the "
                                 f"sequence's {size[1]}x{size[0]}", "all frames of a sequence must have one size")
            rgbs.append(torch.from_numpy(rgb).permute(2, 0, 1))
            masks.append(torch.from_numpy(self._read_mask(files, i, size).astype(np.int64)))
            voxels.append(frame_voxel_grid(files, i, size, self.config.num_bins, reverse=reverse,
                                           use_cache=self.config.use_voxel_cache))
        rgb_t = torch.stack(rgbs).float().div_(255.0)  # (T, 3, H, W)
        mask_t = torch.stack(masks)[:, None]  # (T, 1, H, W)
        voxel_t = torch.stack(voxels)  # (T, B, H, W)
        return rgb_t, mask_t, voxel_t

    # -- sampling ----------------------------------------------------------------------------
    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Any]:
        """Item ``idx`` (seeded by ``(config.seed, epoch, idx)``), or ``(idx, seed)``: seeded by
        ``seed`` alone, so a resumable sampler can fix every item's randomness itself."""
        cfg = self.config
        idx, seed = (int(key[0]), int(key[1])) if isinstance(key, tuple) else (int(key), None)
        if not 0 <= idx < len(self):
            raise IndexError(idx)
        d, s, seed_frame = (int(v) for v in self._index[idx])
        rng = np.random.default_rng([cfg.seed, self.epoch, idx] if seed is None else [seed])
        spec, seqs = self.specs[d], self.sequences[d]
        for seq_try in range(cfg.sequence_retries + 1):
            if seq_try > 0:
                s = int(rng.integers(len(seqs)))
            files = seqs[s]
            for seed_try in range(cfg.seed_retries):
                if seq_try > 0 or seed_try > 0:
                    seed_frame = int(rng.integers(len(files)))
                frames = grow_clip(seed_frame, len(files), cfg.seq_length, spec.max_skip, rng)
                reverse = bool(rng.random() < cfg.reverse_probability)
                order = frames[::-1] if reverse else frames
                if not np.any(self._read_mask(files, order[0], None)):
                    continue  # first frame has no object: new seed frame
                rgb, masks, voxel = self._load(files, order, reverse)
                for _ in range(cfg.crop_retries):
                    torch_seed = int(rng.integers(2**62))
                    with torch.random.fork_rng(devices=[]):
                        torch.manual_seed(torch_seed)
                        rgb_a, masks_a, voxel_a = self.augmentation.geometric(rgb, masks, voxel)
                        labels = torch.unique(masks_a[0])
                        labels = labels[labels != 0]
                        if labels.numel() == 0:
                            continue  # the crop lost every object of the first frame
                        rgb_a = self.augmentation.colour(rgb_a)
                    return self._item(files, order, rgb_a, masks_a, voxel_a, labels.tolist(), rng)
        raise InputError(
            spec.layout.root,
            f"found no clip whose first frame keeps an object after {cfg.sequence_retries} sequence retries",
            "check that the masks of this dataset mark objects (evolve-check)",
        )

    def _item(self, files, order, rgb, masks, voxel, labels, rng) -> dict[str, Any]:
        n_max = self.config.num_objects
        k = min(n_max, len(labels))
        chosen = rng.choice(np.asarray(labels, dtype=np.int64), size=k, replace=False)  # (k,) original ids
        cls_gt = torch.zeros_like(masks)  # (T, 1, S, S)
        for new_id, old_id in enumerate(chosen.tolist(), start=1):
            cls_gt[masks == old_id] = new_id
        ids = torch.arange(1, n_max + 1).view(n_max, 1, 1)  # (N_max, 1, 1)
        first_frame_gt = (cls_gt[0] == ids).float()[None]  # (1, N_max, S, S)
        selector = torch.zeros(n_max, dtype=torch.float32)
        selector[:k] = 1.0
        return {
            "rgb": rgb.contiguous(),  # (T, 3, S, S)
            "voxel": voxel.contiguous(),  # (T, B, S, S)
            "cls_gt": cls_gt.long().contiguous(),  # (T, 1, S, S)
            "first_frame_gt": first_frame_gt,  # (1, N_max, S, S)
            "selector": selector,  # (N_max,)
            "info": {"name": files.name, "frames": [files.frames[i] for i in order], "num_objects": k},
        }
