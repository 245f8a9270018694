"""The registry entry of GLTM (``arch: gltm``; ``model=gltm``)."""

from __future__ import annotations

from typing import Mapping

from torch import Tensor

from evolve.model.gltm.config import GLTMConfig
from evolve.model.registry import ModelSpec


def _build(config: GLTMConfig, single_object: bool):
    from evolve.model.gltm.network import GLTM

    return GLTM(config)


def _owns(state: Mapping[str, Tensor]) -> bool:
    return any(k.startswith("tnet.") for k in state) and any(k.startswith("anet.") for k in state)


SPEC = ModelSpec(
    arch="gltm",
    title="GLTM",
    config_class=GLTMConfig,
    build=_build,
    owns_state_dict=_owns,
    event_bins=lambda c: c.event_bins if c.events else 0,
)
