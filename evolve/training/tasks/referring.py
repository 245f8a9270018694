"""Referring VOS as a training task (SgMg): clips with one expression each, Hungarian-matched
query losses, per-expression J&F of SgMg per frame on the validation set.

``evolve-train task=referring model=sgmg data=procedural_referring``

Data: the stage's datasets in an LLE-DAVIS (or LLE-VOS / DAVIS / generic) layout whose root
carries referring expressions (procedural records, Ref-DAVIS17 text files or a Ref-YouTube-VOS
``meta_expressions.json``; :func:`evolve.data.referring.find_expression_source`). Expressions
marked held-out are never trained on. Stage keys used: ``seq_length`` (frames per clip),
``max_skip``, ``crop_size`` (frames are resized to crop_size x crop_size; a multiple of 32),
``batch_size``, and the optimiser keys. The scratch text encoder's vocabulary is built from the
training expressions when the network has none (a loaded weights file brings its own).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset

from evolve.data.layout import make_layout
from evolve.data.referring_clips import ReferringClipConfig, ReferringClipDataset, collate_referring, load_expressions
from evolve.model import registry
from evolve.training.config import DataStageConfig, StageConfig
from evolve.training.task import Task
from evolve.utils.errors import InputError

log = logging.getLogger(__name__)

LAYOUTS = ("lle_vos", "lle_davis", "davis", "generic")


def _layout(entry):
    root = Path(entry.root)
    if not root.is_dir():
        raise InputError(root, f"dataset root of {entry.name!r} does not exist",
                         "set data_root=<folder holding your datasets>, or generate the procedural referring set first")
    if entry.layout not in LAYOUTS:
        raise InputError(root, f"layout {entry.layout!r} of {entry.name!r} cannot hold referring videos", f"use one of {list(LAYOUTS)}")
    opts = {k: getattr(entry, k) for k in ("image_dir", "mask_dir", "event_dir", "voxel_dir") if getattr(entry, k)} if entry.layout == "generic" else {}
    return make_layout(entry.layout, root, **opts)


class ReferringTask(Task):
    """Referring VOS (SgMg): one expression selects the object of a clip."""

    name = "referring"
    architectures = ("sgmg",)

    def __init__(self) -> None:
        self._model_cfg: Any = None
        self._texts: list[str] = []

    def preflight(self, stage: str, stage_cfg: StageConfig, data_cfg: DataStageConfig, model_cfg: Any) -> None:
        """Roots exist, the crop size is a multiple of 32, the expressions parse and name objects
        present in the masks.

        Raises:
            InputError: naming the file or setting and the fix.
        """
        if not data_cfg.datasets:
            raise InputError(None, f"{stage} is enabled but the data config lists no {stage} datasets",
                             f"choose a data= config with {stage} data, or pass {stage}.enabled=False")
        if stage_cfg.crop_size % 32:
            raise InputError(None, f"{stage}.crop_size={stage_cfg.crop_size} is not a multiple of 32", f"set {stage}.crop_size to a multiple of 32 (SgMg's coarsest stride)")
        for entry in data_cfg.datasets:
            load_expressions(_layout(entry), entry.split, include_held_out=False)

    def build_dataset(self, stage: str, stage_cfg: StageConfig, data_cfg: DataStageConfig, model_cfg: Any, seed: int) -> Dataset:
        """(video, expression) pairs of every dataset of the stage (:class:`ReferringClipDataset`)."""
        self._model_cfg = model_cfg
        parts = []
        for entry in data_cfg.datasets:
            layout = _layout(entry)
            _, exps = load_expressions(layout, entry.split, include_held_out=False)
            exps = [e for e in exps if e.object_id is not None]
            parts.append((layout, exps))
            log.info("%s: dataset %s: %d expressions on %d videos", stage, entry.name, len(exps), len({e.video for e in exps}))
        bins = registry.event_bins(model_cfg) or 5
        clip = ReferringClipConfig(seq_length=stage_cfg.seq_length, max_skip=stage_cfg.max_skip, size=stage_cfg.crop_size, num_bins=bins)
        dataset = ReferringClipDataset(parts, clip)
        self._texts = dataset.texts
        return dataset

    def collate(self, items: list[Any]) -> Any:
        """:func:`evolve.data.referring_clips.collate_referring`."""
        return collate_referring(items)

    def build_wrapper(self, network: nn.Module, stage_cfg: StageConfig) -> nn.Module:
        """Sets the scratch vocabulary from the training expressions when the network has none,
        then wraps it (:class:`~evolve.model.sgmg.train_wrapper.SgMgTrainWrapper`)."""
        from evolve.model.sgmg.text import WordVocabulary
        from evolve.model.sgmg.train_wrapper import SgMgTrainWrapper

        if network.needs_vocabulary:
            vocab = WordVocabulary.from_texts(self._texts, network.config.text.vocab_size)
            network.set_vocabulary(vocab)
            log.info("text vocabulary: %d words from %d training expressions", len(vocab) - 2, len(self._texts))
        return SgMgTrainWrapper(network)

    def build_loss(self, stage_cfg: StageConfig):
        """The SgMg set criterion with the model config's weights (:class:`~evolve.model.sgmg.criterion.SgMgCriterion`)."""
        from evolve.model.sgmg.criterion import SgMgCriterion

        return SgMgCriterion(self._model_cfg.loss if self._model_cfg is not None else None)

    def evaluate(self, network: nn.Module, val_cfg: Any, model_cfg: Any, out_dir: Path, device: torch.device) -> dict[str, Any] | None:
        """SgMg per frame on the validation split: per-expression and Ref-DAVIS-style J&F
        (:func:`evolve.eval.referring.run_referring`)."""
        from evolve.eval.referring import ReferringEvalConfig, run_referring

        if not val_cfg.root or not Path(val_cfg.root).is_dir():
            raise InputError(val_cfg.root, "eval_after_training: the data config's val root does not exist",
                             "set data.val.root to a dataset folder, or eval_after_training=false")
        layout = make_layout(val_cfg.layout, val_cfg.root)
        cfg = ReferringEvalConfig(methods=("sgmg",), size=val_cfg.size, num_bins=registry.event_bins(model_cfg) or 5)
        summary = run_referring(layout, val_cfg.split, out_dir, sgmg=network.eval(), config=cfg, device=device, progress=False)
        pe = summary["methods"]["sgmg"]["per_expression"]
        return {"referring": summary, "jf": {"J&F-Mean": pe["J&F"], "J-Mean": pe["J"], "F-Mean": pe["F"]}}
