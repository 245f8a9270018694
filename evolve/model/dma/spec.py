"""The registry entry of DMA (``arch: dma``; configs ``model=dma`` and ``model=dma_paper``)."""

from __future__ import annotations

from typing import Mapping

from torch import Tensor

from evolve.model.dma.config import DMAConfig
from evolve.model.registry import ModelSpec


def _build(config: DMAConfig, single_object: bool):
    from evolve.model.dma.network import DMA

    return DMA(config)


def _owns(state: Mapping[str, Tensor]) -> bool:
    # DMA's prototype Q-Former and enhancer name it.
    return any(k.startswith("prototypes.queries") for k in state) and any(k.startswith("enhancer.") for k in state)


SPEC = ModelSpec(
    arch="dma",
    title="DMA",
    config_class=DMAConfig,
    build=_build,
    owns_state_dict=_owns,
    event_bins=lambda c: c.event_bins if c.events else 0,
)
