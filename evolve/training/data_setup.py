"""Build a stage's training data from the ``data=`` config (datasets -> one Dataset -> loader)."""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset

from evolve.data.augment import AugmentConfig
from evolve.data.layout import make_layout
from evolve.data.static_clips import StaticClipConfig, StaticClipDataset, find_image_mask_pairs
from evolve.data.train_sampler import ClipSamplerConfig, TrainDatasetSpec, VOSClipDataset
from evolve.training.config import DataStageConfig, DatasetConfig, StageConfig
from evolve.training.distributed import DistInfo
from evolve.training.sampling import ResumableSampler, SeededConcat
from evolve.utils.errors import InputError

log = logging.getLogger(__name__)

VIDEO_LAYOUTS = ("lle_vos", "lle_davis", "davis", "generic")


def _check_root(entry: DatasetConfig, stage: str) -> Path:
    root = Path(entry.root)
    if not root.is_dir():
        raise InputError(
            root,
            f"dataset root of {stage} dataset {entry.name!r} does not exist",
            "set data_root=<folder holding your datasets> (or the dataset's root in configs/data/), "
            "or create LLE-format data with `python -m evolve.data.synthesize --src <davis-format> --out <root>`",
        )
    return root


def _layout_options(entry: DatasetConfig) -> dict:
    if entry.layout != "generic":
        return {}
    opts = {k: getattr(entry, k) for k in ("image_dir", "mask_dir", "event_dir", "voxel_dir") if getattr(entry, k)}
    if "image_dir" not in opts or "mask_dir" not in opts:
        raise InputError(entry.root, f"generic dataset {entry.name!r} needs image_dir and mask_dir", "set both in the data config")
    return opts


def build_stage_dataset(stage: str, stage_cfg: StageConfig, data_cfg: DataStageConfig, seed: int) -> Dataset:
    """One Dataset mixing every dataset of ``data_cfg`` (video clips and/or static-image clips).

    Per-dataset max skip = ``max(1, stage_cfg.max_skip // frame_interval)`` (Cutie/EVOLVE).

    Raises:
        InputError: no datasets, a root that does not exist, an unknown layout, or dataset errors.
    """
    if not data_cfg.datasets:
        raise InputError(
            None,
            f"{stage} is enabled but the data config lists no {stage} datasets",
            f"choose a data= config with {stage} data, or pass {stage}.enabled=False",
        )
    videos: list[TrainDatasetSpec] = []
    parts: list[Dataset] = []
    for entry in data_cfg.datasets:
        root = _check_root(entry, stage)
        if entry.layout == "static":
            image_dir = root / entry.image_dir if entry.image_dir else root
            mask_dir = root / entry.mask_dir if entry.mask_dir else None
            folders = _static_split(root, entry) if entry.split else None
            pairs = find_image_mask_pairs(image_dir, mask_dir, folders)
            static_cfg = StaticClipConfig(seq_length=stage_cfg.seq_length, crop_size=stage_cfg.crop_size)
            if stage_cfg.num_objects != 1:
                raise InputError(None, f"static dataset {entry.name!r} makes single-object clips but {stage}.num_objects="
                                 f"{stage_cfg.num_objects}", f"set {stage}.num_objects=1 (Cutie's pre-training does)")
            ds: Dataset = StaticClipDataset(pairs * max(1, entry.multiplier), static_cfg)
            log.info("%s: static dataset %s: %d image/mask pairs (x%d)", stage, entry.name, len(pairs), entry.multiplier)
            parts.append(ds)
        elif entry.layout in VIDEO_LAYOUTS:
            layout = make_layout(entry.layout, root, **_layout_options(entry))
            videos.append(
                TrainDatasetSpec(
                    layout=layout,
                    split=entry.split,
                    max_skip=max(1, stage_cfg.max_skip // max(1, entry.frame_interval)),
                    multiplier=max(1, entry.multiplier),
                )
            )
        else:
            raise InputError(entry.root, f"unknown layout {entry.layout!r} for dataset {entry.name!r}",
                             f"use one of {list(VIDEO_LAYOUTS) + ['static']}")
    if videos:
        clip_cfg = ClipSamplerConfig(
            seq_length=stage_cfg.seq_length,
            num_objects=stage_cfg.num_objects,
            reverse_probability=stage_cfg.reverse_prob,
            augment=AugmentConfig(crop_size=stage_cfg.crop_size),
            seed=seed,
        )
        vos = VOSClipDataset(videos, clip_cfg)
        log.info("%s: %d video datasets, %d clip seeds", stage, len(videos), len(vos))
        parts.append(vos)
    return SeededConcat(parts)


def _static_split(root: Path, entry: DatasetConfig) -> list[str]:
    """Sequence folders of a video set's split, to use its annotated frames as static images.

    ``split`` is a list file, or a name looked up as ``<root>/<split>.txt``,
    ``<root>/ImageSets/2017/<split>.txt`` or ``<root>/ImageSets/480p/<split>.txt``.

    Raises:
        InputError: no such split file.
    """
    from evolve.data.layout import read_split_file

    split = str(entry.split)
    candidates = [Path(split), root / f"{split}.txt", root / "ImageSets" / "2017" / f"{split}.txt",
                  root / "ImageSets" / "480p" / f"{split}.txt"]
    for c in candidates:
        if c.is_file():
            return read_split_file(c)
    raise InputError(root, f"no split file for split {split!r} of static dataset {entry.name!r} (looked for "
                     f"{', '.join(str(c) for c in candidates[1:])})", "set split: null to use every image, or give a list file")


def build_loader(dataset: Dataset, stage_cfg: StageConfig, info: DistInfo, seed: int, start_iteration: int, num_workers: int) -> DataLoader:
    """A DataLoader whose batch ``k`` is the batch of iteration ``start_iteration + k``.

    ``batch_size`` is global and split over the processes.

    Raises:
        ValueError: batch size not divisible by the number of processes.
    """
    if stage_cfg.batch_size % info.world_size:
        raise ValueError(f"batch_size {stage_cfg.batch_size} is not divisible by the {info.world_size} processes")
    per_rank = stage_cfg.batch_size // info.world_size
    sampler = ResumableSampler(len(dataset), seed, info.rank, info.world_size, start=start_iteration * per_rank)
    return DataLoader(
        dataset,
        batch_size=per_rank,
        sampler=sampler,
        num_workers=num_workers,
        pin_memory=info.device.type == "cuda",
        drop_last=True,
        persistent_workers=num_workers > 0,
        generator=torch.Generator(),  # keeps the loader from consuming the global RNG
        collate_fn=collate_clips,
    )


def collate_clips(items: list[dict]) -> dict:
    """Stack clip tensors; keep ``info`` as a list of dicts."""
    out = {k: torch.stack([it[k] for it in items]) for k in items[0] if k != "info"}
    out["info"] = [it["info"] for it in items]
    return out
