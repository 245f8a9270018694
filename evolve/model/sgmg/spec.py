"""The registry entry of SgMg (``arch: sgmg``; config ``model=sgmg``)."""

from __future__ import annotations

from typing import Mapping

from torch import Tensor

from evolve.model.registry import ModelSpec
from evolve.model.sgmg.config import SgMgConfig


def _build(config: SgMgConfig, single_object: bool):
    from evolve.model.sgmg.network import SgMg

    return SgMg(config)  # one expression = one object: single_object does not apply


def _owns(state: Mapping[str, Tensor]) -> bool:
    # spectrum-guided fusion modules and the dynamic-kernel query decoder
    return any(k.startswith("scf.") for k in state) and any(k.startswith("decoder.controller.") for k in state)


SPEC = ModelSpec(
    arch="sgmg",
    title="SgMg",
    config_class=SgMgConfig,
    build=_build,
    owns_state_dict=_owns,
    event_bins=lambda c: c.event_bins if c.events else 0,
)
