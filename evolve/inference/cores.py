"""Streaming cores by network: the semi-supervised protocol asks :func:`make_inference_core` for
the core of a network's ``arch`` and drives it through :class:`StreamingCore`, so a network
with its own inference loop plugs in here (:data:`CORES` or :func:`register_core`) without
touching the protocol runner (:mod:`evolve.eval.semi_supervised`)."""

from __future__ import annotations

import importlib
from typing import Any, Callable, Optional, Protocol, runtime_checkable

import torch
from torch import Tensor, nn

from evolve.inference.config import InferenceConfig
from evolve.utils.errors import InputError


@runtime_checkable
class StreamingCore(Protocol):
    """What the semi-supervised protocol needs of a streaming core (batch size 1).

    ``step(frame (3, H, W) float in [0, 1], voxel_grid (bins, H, W) or None, mask (H, W) int64
    or None, objects list[int] or None, end bool) -> (1+N, H, W) float32 probabilities`` with
    channel k+1 = ``object_ids[k]``; ``reset()`` starts a new video; ``prob_to_mask`` turns a
    step's output into an (H, W) id mask; ``device`` is where frames are processed.
    """

    device: torch.device

    @property
    def object_ids(self) -> list[int]: ...

    def reset(self) -> None: ...

    def step(self, frame: Tensor, voxel_grid: Optional[Tensor] = None, mask: Optional[Tensor] = None,
             objects: Optional[list[int]] = None, end: bool = False) -> Tensor: ...

    def prob_to_mask(self, prob: Tensor) -> Tensor: ...


CoreFactory = Callable[[nn.Module, Optional[InferenceConfig], Any], StreamingCore]

CORES: dict[str, str] = {
    "evolve": "evolve.inference.inference_core:InferenceCore",
    "emvos": "evolve.inference.emvos_core:EMVOSInferenceCore",
}
_REGISTERED: dict[str, CoreFactory] = {}


def register_core(arch: str, factory: CoreFactory) -> None:
    """Make ``factory(network, config, device)`` the streaming core of networks of ``arch``."""
    _REGISTERED[arch] = factory


def core_factory(arch: str) -> CoreFactory:
    """The core factory of ``arch``.

    Raises:
        InputError: no streaming core is known for ``arch`` (the message lists the known ones).
    """
    if arch in _REGISTERED:
        return _REGISTERED[arch]
    if arch not in CORES:
        known = sorted(set(CORES) | set(_REGISTERED))
        raise InputError(None, f"no streaming inference core for arch {arch!r}", f"register one (evolve.inference.cores.register_core); cores exist for {known}")
    module, attr = CORES[arch].split(":")
    factory = getattr(importlib.import_module(module), attr)
    _REGISTERED[arch] = factory
    return factory


def make_inference_core(network: nn.Module, config: Optional[InferenceConfig] = None, device: torch.device | str = "cpu") -> StreamingCore:
    """The streaming core of ``network`` (chosen by ``network.config.arch``, default ``evolve``).

    Raises:
        InputError: no core for the network's arch, or the core refuses its arguments.
    """
    arch = getattr(getattr(network, "config", None), "arch", "evolve")
    return core_factory(arch)(network, config, device)
