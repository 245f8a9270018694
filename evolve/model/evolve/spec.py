"""The registry entry of EVOLVE (``arch: evolve``; configs ``model=small|base``)."""

from __future__ import annotations

from typing import Mapping

from torch import Tensor

from evolve.model.evolve.config import ModelConfig
from evolve.model.registry import ModelSpec


def _build(config: ModelConfig, single_object: bool):
    from evolve.model.evolve.network import EVOLVE

    return EVOLVE(config, single_object=single_object)


def _owns(state: Mapping[str, Tensor]) -> bool:
    # EVOLVE's (and Cutie's) memory network: a pixel fuser and the object transformer.
    return any(k.startswith("pixel_fuser.") for k in state) and any(k.startswith("object_transformer.") for k in state)


SPEC = ModelSpec(
    arch="evolve",
    title="EVOLVE",
    config_class=ModelConfig,
    build=_build,
    owns_state_dict=_owns,
    event_bins=lambda c: c.event_bins if c.events else 0,
)
