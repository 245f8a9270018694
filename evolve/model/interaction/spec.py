"""The registry entry of the interaction network (``arch: interaction``; ``model=interaction``)."""

from __future__ import annotations

from typing import Mapping

from torch import Tensor

from evolve.model.interaction.config import InteractionConfig
from evolve.model.registry import ModelSpec


def _build(config: InteractionConfig, single_object: bool):
    from evolve.model.interaction.network import InteractionNet

    return InteractionNet(config)


def _owns(state: Mapping[str, Tensor]) -> bool:
    # the interaction network alone: an indicator head at the top level (GLTM's sits under "anet.")
    return any(k.startswith("indicator_head.") for k in state) and not any(k.startswith("tnet.") for k in state)


SPEC = ModelSpec(
    arch="interaction",
    title="interaction network",
    config_class=InteractionConfig,
    build=_build,
    owns_state_dict=_owns,
    event_bins=lambda c: c.event_bins if c.events else 0,
)
