"""Semi-supervised VOS as a training task (EVOLVE, DESIGN 2.6, 3 and 4): clips with a given
first-frame mask, Cutie's unroll and losses, J&F on the validation set.

Data: the video datasets of the stage (``lle_vos | lle_davis | davis | generic`` layouts, Cutie's
clip sampler with voxel grids of ``model.event_bins`` bins) and ``static`` image sets turned
into synthetic clips (pre-training). The first user of :class:`~evolve.training.task.Task`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset

from evolve.data.augment import AugmentConfig
from evolve.data.check import check_dataset
from evolve.data.layout import make_layout
from evolve.data.splits import find_split_file, read_split_file
from evolve.data.train_sampler import ClipSamplerConfig, TrainDatasetSpec, VOSClipDataset
from evolve.data.voxel import DEFAULT_NUM_BINS
from evolve.model import registry
from evolve.synthesis.static_clips import StaticClipConfig, StaticClipDataset, find_image_mask_pairs
from evolve.training.config import DataStageConfig, DatasetConfig, StageConfig
from evolve.training.sampling import SeededConcat
from evolve.training.task import Task
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
            "or create LLE-format data with `evolve-synthesize --src <davis-format> --out <root>`",
        )
    return root


def _layout_options(entry: DatasetConfig) -> dict:
    if entry.layout != "generic":
        return {}
    opts = {k: getattr(entry, k) for k in ("image_dir", "mask_dir", "event_dir", "voxel_dir") if getattr(entry, k)}
    if "image_dir" not in opts or "mask_dir" not in opts:
        raise InputError(entry.root, f"generic dataset {entry.name!r} needs image_dir and mask_dir", "set both in the data config")
    return opts


def build_stage_dataset(stage: str, stage_cfg: StageConfig, data_cfg: DataStageConfig, seed: int, num_bins: int = DEFAULT_NUM_BINS) -> Dataset:
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
            static_cfg = StaticClipConfig(seq_length=stage_cfg.seq_length, crop_size=stage_cfg.crop_size, num_bins=num_bins)
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
            num_bins=num_bins,
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
        InputError: no such split file, or an empty one.
    """
    return read_split_file(find_split_file(root, str(entry.split)))


def _bins(model_cfg: Any) -> int:
    """Voxel-grid bins the data must have: the network's, or the default for frames-only networks
    (their readers still build grids; the network ignores them)."""
    return registry.event_bins(model_cfg) or DEFAULT_NUM_BINS


class SemiSupervisedTask(Task):
    """Semi-supervised VOS: the first frame's mask is given (EVOLVE, Cutie)."""

    name = "semi_supervised"
    architectures = ("evolve",)

    def preflight(self, stage: str, stage_cfg: StageConfig, data_cfg: DataStageConfig, model_cfg: Any) -> None:
        """Roots exist, and every video dataset passes the dataset checker's quick mode (names,
        image headers, masks, event-file completeness), before anything is written.

        Raises:
            InputError: the first problem found, with how many more there are.
        """
        if not data_cfg.datasets:
            raise InputError(None, f"{stage} is enabled but the data config lists no {stage} datasets",
                             f"choose a data= config with {stage} data, or pass {stage}.enabled=False")
        for entry in data_cfg.datasets:
            root = _check_root(entry, stage)
            if entry.layout == "static":
                continue
            if entry.layout not in VIDEO_LAYOUTS:
                raise InputError(entry.root, f"unknown layout {entry.layout!r} for dataset {entry.name!r}",
                                 f"use one of {list(VIDEO_LAYOUTS) + ['static']}")
            layout = make_layout(entry.layout, root, **_layout_options(entry))
            report = check_dataset(layout, entry.split, quick=True, num_bins=_bins(model_cfg), workers=0, progress=False)
            if report.problems:
                first = report.problems[0]
                more = len(report.problems) - 1
                raise InputError(first.path, first.problem + (f" ({more} more problem(s) in {entry.name})" if more else ""),
                                 f"{first.fix}; `evolve-check {root}` lists them all")

    def build_dataset(self, stage: str, stage_cfg: StageConfig, data_cfg: DataStageConfig, model_cfg: Any, seed: int) -> Dataset:
        """See :func:`build_stage_dataset` (voxel grids of the network's ``event_bins``)."""
        return build_stage_dataset(stage, stage_cfg, data_cfg, seed, _bins(model_cfg))

    def build_wrapper(self, network: nn.Module, stage_cfg: StageConfig) -> nn.Module:
        """Cutie's clip unroll (:class:`~evolve.model.evolve.train_wrapper.TrainWrapper`)."""
        from evolve.model.evolve.train_wrapper import TrainWrapper

        return TrainWrapper(network, stage_cfg.num_ref_frames, stage_cfg.deep_update_prob)

    def build_loss(self, stage_cfg: StageConfig):
        """Point-sampled CE + Dice with the auxiliary losses (:class:`~evolve.model.losses.LossComputer`)."""
        from evolve.model.losses import LossComputer, LossConfig

        return LossComputer(LossConfig(
            num_points=stage_cfg.train_num_points,
            oversample_ratio=stage_cfg.oversample_ratio,
            importance_sample_ratio=stage_cfg.importance_sample_ratio,
            sensory_aux_weight=stage_cfg.aux_weight,
            query_aux_weight=stage_cfg.aux_weight,
        ))

    def image_logger(self, folder: Path, writer: Any, stage: str):
        """Frame | events | ground truth | prediction rows of one clip (:mod:`evolve.vis.training`)."""
        from evolve.vis.training import TrainingImageLogger

        return TrainingImageLogger(folder, writer, stage)

    def evaluate(self, network: nn.Module, val_cfg: Any, model_cfg: Any, out_dir: Path, device: torch.device) -> dict[str, Any] | None:
        """J&F on the validation set with the DESIGN 5 memory policy (:mod:`evolve.eval.semi_supervised`)."""
        from evolve.data.video_reader import VOSTestDataset
        from evolve.eval.semi_supervised import run_semi_supervised
        from evolve.inference.config import InferenceConfig

        if not val_cfg.root or not Path(val_cfg.root).is_dir():
            raise InputError(val_cfg.root, "eval_after_training: the data config's val root does not exist",
                             "set data.val.root to a dataset folder, or eval_after_training=false")
        layout = make_layout(val_cfg.layout, val_cfg.root)
        dataset = VOSTestDataset(layout, val_cfg.split, size=val_cfg.size, num_bins=_bins(model_cfg))
        return run_semi_supervised(network, dataset, out_dir, InferenceConfig(), device, num_workers=0, label="val", progress=False)
