"""EMVOS as a training task (Cho et al. 2022, arXiv 2209.03139; docs/emvos.md): the
semi-supervised clips, data checks and J&F evaluation of :mod:`evolve.training.tasks.semi_supervised`
with EMVOS's unroll (first frame global, previous prediction local), swap-and-attach distractors
(``<stage>.swap_attach_prob``) and 2-class cross-entropy. Select it with ``task=emvos
model=emvos|emvos_small`` (the recipe: ``data=emvos_lle_davis``)."""

from __future__ import annotations

from typing import Any

from torch import nn

from evolve.training.config import StageConfig
from evolve.training.tasks.semi_supervised import SemiSupervisedTask


class EMVOSTask(SemiSupervisedTask):
    """Semi-supervised VOS trained the EMVOS way; evaluation picks the EMVOS streaming core by arch."""

    name = "emvos"
    architectures = ("emvos",)

    def build_wrapper(self, network: nn.Module, stage_cfg: StageConfig) -> nn.Module:
        """:class:`~evolve.model.emvos.train_wrapper.EMVOSTrainWrapper` with the stage's
        ``swap_attach_prob``."""
        from evolve.model.emvos.train_wrapper import EMVOSTrainWrapper

        return EMVOSTrainWrapper(network, stage_cfg.swap_attach_prob)  # type: ignore[arg-type]

    def build_loss(self, stage_cfg: StageConfig) -> Any:
        """2-class cross-entropy per object (:class:`~evolve.model.emvos.loss.EMVOSLoss`)."""
        from evolve.model.emvos.loss import EMVOSLoss

        return EMVOSLoss()
