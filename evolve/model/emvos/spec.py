"""The registry entry of EMVOS (``arch: emvos``; configs ``model=emvos|emvos_small``)."""

from __future__ import annotations

from typing import Mapping

from torch import Tensor

from evolve.model.emvos.config import EMVOSConfig
from evolve.model.registry import ModelSpec


def _build(config: EMVOSConfig, single_object: bool):
    from evolve.model.emvos.network import EMVOS

    return EMVOS(config, single_object=single_object)


def _owns(state: Mapping[str, Tensor]) -> bool:
    # EMVOS's matcher (two key projections) and its CBAM decoder.
    return any(k.startswith("matcher.norm_key_proj.") for k in state) and any(k.startswith("decoder.cbam16.") for k in state)


SPEC = ModelSpec(
    arch="emvos",
    title="EMVOS",
    config_class=EMVOSConfig,
    build=_build,
    owns_state_dict=_owns,
    event_bins=lambda c: c.event_bins if c.events else 0,
)
