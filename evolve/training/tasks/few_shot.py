"""Few-shot motion VOS as a training task (MOVE / DMA, Ying et al., ICCV 2025; docs/fewshot.md):
N-way K-shot episodes of the training folds, DMA's losses, the few-shot protocol on the held-out
fold after training.

    evolve-train task=few_shot model=dma data=procedural_motion exp_id=<id>

Data: one dataset in ``data.main_training.datasets`` with layout ``procedural_motion`` (the
procedural motion set, :mod:`evolve.data.procedural_motion`) or ``move`` (MOVE's release,
:mod:`evolve.data.move`; ``split`` names its grouping ``default``/``challenging``, every video is
read and the fold decides the classes). The episode settings are ``data.main_training.episodes``
(training) and ``data.val.episodes`` (evaluation), with the keys of
:class:`~evolve.data.episodes.EpisodeConfig`. ``main_training.seq_length`` and ``crop_size`` are
not used (the episodes' ``query_frames``, ``height`` and ``width`` are).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn
from torch.utils.data import Dataset

from evolve.data.episodes import EpisodeConfig, EpisodeDataset, EpisodeSampler
from evolve.data.motion import MotionSource
from evolve.training.task import Task
from evolve.utils.errors import InputError

log = logging.getLogger(__name__)

LAYOUTS = ("procedural_motion", "move")


def episode_config(node: Any, where: str, num_bins: int) -> EpisodeConfig:
    """The typed :class:`EpisodeConfig` of a config node (unknown keys refused).

    Raises:
        InputError: a missing node, an unknown key or a bad value (naming ``where``).
    """
    if node is None:
        raise InputError(None, f"{where}.episodes is not set", f"give {where}.episodes (fold, ways, shots, ...) in the data config, e.g. data=procedural_motion")
    try:
        merged = OmegaConf.merge(OmegaConf.structured(EpisodeConfig(num_bins=num_bins)), node if isinstance(node, DictConfig) else OmegaConf.create(node))
        cfg: EpisodeConfig = OmegaConf.to_object(merged)  # type: ignore[assignment]
    except Exception as exc:  # omegaconf's key/validation errors
        raise InputError(None, f"{where}.episodes does not match EpisodeConfig ({exc})", "fix the key or value named above") from exc
    return cfg.validate(where)


def open_source(layout: str, root: str | Path, split: Any) -> MotionSource:
    """The reader of a dataset entry.

    Raises:
        InputError: an unknown layout or a missing root (and reader errors).
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError(root, "dataset root does not exist", "set data_root, or generate the procedural motion set (docs/fewshot.md)")
    if layout == "procedural_motion":
        from evolve.data.procedural_motion import ProceduralMotionSource

        return ProceduralMotionSource(root, split)
    if layout == "move":
        from evolve.data.move import MoveSource

        return MoveSource(root, split or "default")
    raise InputError(root, f"layout {layout!r} is not a few-shot motion set", f"use one of {list(LAYOUTS)}")


def _bins(model_cfg: Any) -> int:
    return int(model_cfg.event_bins) if getattr(model_cfg, "events", False) else 5


class FewShotWrapper(nn.Module):
    """Runs a batch of episodes through DMA (``outputs = wrapper(batch)``)."""

    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        self.network = network

    def forward(self, batch: dict) -> dict:
        return self.network(batch)


class FewShotTask(Task):
    """Few-shot motion VOS with DMA."""

    name = "few_shot"
    architectures = ("dma",)

    def __init__(self) -> None:
        self._loss_cfg = None

    def _source(self, stage: str, data_cfg: Any) -> tuple[Any, MotionSource]:
        if len(data_cfg.datasets) != 1:
            raise InputError(None, f"task few_shot reads one motion set, the data config lists {len(data_cfg.datasets)} {stage} datasets",
                             "list exactly one dataset with layout procedural_motion or move")
        entry = data_cfg.datasets[0]
        return entry, open_source(entry.layout, entry.root, entry.split if entry.layout == "move" else entry.split)

    def _check_classifiers(self, source: MotionSource, model_cfg: Any) -> None:
        cat = source.catalogue
        if model_cfg.num_motion_classes and len(cat.classes) > model_cfg.num_motion_classes:
            raise InputError(cat.class_file, f"the set has {len(cat.classes)} motion classes but model.num_motion_classes={model_cfg.num_motion_classes}",
                             f"set model.num_motion_classes>={len(cat.classes)} (or 0 to switch the auxiliary motion loss off)")
        if model_cfg.num_object_classes and len(cat.object_classes) > model_cfg.num_object_classes:
            raise InputError(cat.class_file, f"the set has {len(cat.object_classes)} object categories but model.num_object_classes={model_cfg.num_object_classes}",
                             f"set model.num_object_classes>={len(cat.object_classes)} (or 0)")

    def preflight(self, stage: str, stage_cfg: Any, data_cfg: Any, model_cfg: Any) -> None:
        """The set opens, the episode settings are valid and the training folds have enough
        classes for the ways (nothing is written).

        Raises:
            InputError: the first problem (naming the file or setting).
        """
        if stage != "main_training":
            raise InputError(None, f"task few_shot has no {stage}", f"pass {stage}.enabled=false")
        _, source = self._source(stage, data_cfg)
        cfg = episode_config(data_cfg.episodes, f"data.{stage}", _bins(model_cfg))
        EpisodeSampler(source.catalogue, cfg, "train")
        self._check_classifiers(source, model_cfg)
        self._loss_cfg = model_cfg.loss

    def build_dataset(self, stage: str, stage_cfg: Any, data_cfg: Any, model_cfg: Any, seed: int) -> Dataset:
        """Training episodes (:class:`~evolve.data.episodes.EpisodeDataset`, role ``train``)."""
        _, source = self._source(stage, data_cfg)
        cfg = episode_config(data_cfg.episodes, f"data.{stage}", _bins(model_cfg))
        self._check_classifiers(source, model_cfg)
        self._loss_cfg = model_cfg.loss
        ds = EpisodeDataset(source, cfg, "train")
        log.info("%s: %d-way %d-shot episodes of %s, training classes %s (held-out fold %d: %s)", stage, cfg.ways, cfg.shots,
                 source.catalogue.name, ds.sampler.classes, cfg.fold, ds.sampler.held_out)
        return ds

    def build_wrapper(self, network: nn.Module, stage_cfg: Any) -> nn.Module:
        """:class:`FewShotWrapper`."""
        self._loss_cfg = network.config.loss  # type: ignore[union-attr]
        return FewShotWrapper(network)

    def build_loss(self, stage_cfg: Any):
        """:class:`~evolve.model.dma.loss.DMALoss` with the model config's weights."""
        from evolve.model.dma.config import DMALossConfig
        from evolve.model.dma.loss import DMALoss

        return DMALoss(self._loss_cfg or DMALossConfig())

    def evaluate(self, network: nn.Module, val_cfg: Any, model_cfg: Any, out_dir: Path, device: torch.device) -> dict[str, Any] | None:
        """The few-shot protocol (:func:`evolve.eval.fewshot.run_fewshot`, method ``dma``) on ``data.val``."""
        from evolve.eval.fewshot import run_fewshot

        if not val_cfg.root or not Path(val_cfg.root).is_dir():
            raise InputError(val_cfg.root, "eval_after_training: the data config's val root does not exist",
                             "set data.val.root to the motion set, or eval_after_training=false")
        source = open_source(val_cfg.layout, val_cfg.root, val_cfg.split)
        cfg = episode_config(val_cfg.episodes, "data.val", _bins(model_cfg))
        return run_fewshot(source, cfg, "dma", out_dir, network=network, device=device, progress=False)
