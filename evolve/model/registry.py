"""Networks by name: ``model=small|base`` are EVOLVE sizes; other networks are chosen by their
own config names (DESIGN 10). A model config names its network in ``arch``; the registry turns
a config node into that network's typed config, builds the network and recognises weights files.

Built-in architectures are imported only when asked for (no import-time work). A new network
plugs in with :func:`register_model` (or an entry in :data:`BUILTIN`) without touching the
trainer or the evaluation code.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence

import torch
from omegaconf import DictConfig, OmegaConf
from torch import Tensor, nn

from evolve.utils.errors import InputError

DEFAULT_ARCH = "evolve"


@dataclass(frozen=True)
class ModelSpec:
    """How to make and recognise one network.

    Attributes:
        arch: the value of ``arch`` in its model configs (``"evolve"``).
        title: human name for messages (``"EVOLVE"``).
        config_class: its typed config (a dataclass with ``arch``, ``name`` and ``validate()``).
        build: ``build(config, single_object) -> nn.Module``.
        owns_state_dict: True when a state dict's key names belong to this network (used to
            name the network a weights file was written by).
        event_bins: voxel-grid bins the network reads (0 when it takes no events).
    """

    arch: str
    title: str
    config_class: type
    build: Callable[[Any, bool], nn.Module]
    owns_state_dict: Callable[[Mapping[str, Tensor]], bool]
    event_bins: Callable[[Any], int]


BUILTIN: dict[str, str] = {
    "evolve": "evolve.model.evolve.spec:SPEC",
    "emvos": "evolve.model.emvos.spec:SPEC",
    "dma": "evolve.model.dma.spec:SPEC",
    "interaction": "evolve.model.interaction.spec:SPEC",
    "gltm": "evolve.model.gltm.spec:SPEC",
    "sgmg": "evolve.model.sgmg.spec:SPEC",
}
_REGISTERED: dict[str, ModelSpec] = {}


def register_model(spec: ModelSpec) -> None:
    """Make ``spec.arch`` selectable by model configs (replaces an earlier spec of that name)."""
    _REGISTERED[spec.arch] = spec


def architectures() -> list[str]:
    """Every selectable ``arch`` value."""
    return sorted(set(BUILTIN) | set(_REGISTERED))


def get_spec(arch: str) -> ModelSpec:
    """The :class:`ModelSpec` of ``arch``.

    Raises:
        InputError: unknown architecture (the message lists the known ones).
    """
    if arch in _REGISTERED:
        return _REGISTERED[arch]
    if arch not in BUILTIN:
        raise InputError(None, f"model config: unknown arch {arch!r}", f"use one of {architectures()}")
    module, attr = BUILTIN[arch].split(":")
    spec = getattr(importlib.import_module(module), attr)
    _REGISTERED[arch] = spec
    return spec


def model_config_from_node(node: Any, source: str | os.PathLike | None = None) -> Any:
    """Turn a model config node (Hydra's ``model``, a dict, or an already typed config) into the
    validated typed config of its ``arch`` (default ``evolve``).

    Unknown keys, wrong types and invalid values are refused, whichever way they were set
    (YAML, ``model.key=value`` or ``+model.key=value``).

    Raises:
        InputError: unknown arch, unknown key or bad value (the message names it).
    """
    if not isinstance(node, (dict, DictConfig)):
        arch = getattr(node, "arch", DEFAULT_ARCH)
        spec = get_spec(arch)
        if not isinstance(node, spec.config_class):
            raise InputError(source, f"model config of type {type(node).__name__} is not a {spec.config_class.__name__}", "pass a model config node")
        return node.validate()
    arch = node.get("arch", DEFAULT_ARCH) or DEFAULT_ARCH
    spec = get_spec(str(arch))
    try:
        merged = OmegaConf.merge(OmegaConf.structured(spec.config_class), node)
        obj = OmegaConf.to_object(merged)
    except Exception as exc:  # omegaconf raises ConfigKeyError / ValidationError subclasses
        raise InputError(source, f"model config does not match {spec.config_class.__name__} of arch {arch!r} ({exc})", "fix the key or value named above") from exc
    return obj.validate(source) if source is not None else obj.validate()


def build_model(config: Any, single_object: bool = False) -> nn.Module:
    """The network of a typed model config (from :func:`model_config_from_node`)."""
    return get_spec(config.arch).build(config, single_object)


def arch_of_state_dict(state: Mapping[str, Tensor]) -> Optional[str]:
    """The registered architecture whose parameter names a state dict has, or None."""
    for arch in architectures():
        if get_spec(arch).owns_state_dict(state):
            return arch
    return None


def event_bins(config: Any) -> int:
    """Voxel-grid bins the configured network reads (0 = it takes no events)."""
    return get_spec(config.arch).event_bins(config)


def check_weights_arch(config: Any, state: Mapping[str, Tensor], weights: str | os.PathLike | None) -> None:
    """Refuse a state dict written by another registered network than ``config`` builds.

    Raises:
        InputError: naming both networks (e.g. EMVOS weights for an EVOLVE config) and the fix.
    """
    spec = get_spec(config.arch)
    other = arch_of_state_dict(state)
    if other is not None and other != spec.arch:
        raise InputError(
            weights,
            f"these are weights of the {get_spec(other).title} network (arch {other!r}), but the model config builds {spec.title} (arch {spec.arch!r})",
            f"pass model=<a config with arch {other}> for these weights, or weights trained for {spec.title}",
        )


def load_network(config: Any, weights: str | os.PathLike, device: torch.device | str = "cpu") -> nn.Module:
    """Build the configured network on ``device`` in eval mode and load a weights file into it.

    Raises:
        InputError: unreadable file; weights of another network (the message names both);
            weights of another size or variant, or lacking tensors of the network.
    """
    from evolve.model.weights import load_weights_from, read_weights_file

    state = read_weights_file(weights)
    check_weights_arch(config, state, weights)
    spec = get_spec(config.arch)
    net = build_model(config).to(device).eval()
    fix = f"pass the model= config (size, events=) the weights were trained with (now {getattr(config, 'name', spec.arch)})"
    report = load_weights_from(net, state, weights, fix=fix)
    if report.missing:
        raise InputError(weights, f"the weights lack {len(report.missing)} tensors of the network ({report})", fix)
    return net


def model_config_dir() -> Path:
    """The ``model/`` folder of the configs shipped in the package (:mod:`evolve.configs`)."""
    from evolve.configs import CONFIG_DIR

    return CONFIG_DIR / "model"


def _load_yaml_with_defaults(path: Path, seen: tuple[Path, ...] = ()) -> DictConfig:
    """Compose one group file the way Hydra does for the forms used here.

    Supported ``defaults`` entries: names of sibling files in the same folder (``base``) and
    ``_self_``; entries are merged in order (``_self_`` is appended when absent, Hydra 1.1+).
    """
    if path in seen:
        raise InputError(path, "the defaults list is circular", "remove the cycle from the defaults lists")
    if not path.is_file():
        raise InputError(path, "model config file not found", f"use a name from {model_config_dir()} or an existing YAML path")
    try:
        raw = OmegaConf.load(path)
    except Exception as exc:  # YAML syntax errors come in several types
        raise InputError(path, f"cannot parse YAML ({exc})", "fix the YAML syntax") from exc
    if not isinstance(raw, DictConfig):
        raise InputError(path, "the file is not a YAML mapping", "write the model config as key: value pairs")
    defaults = raw.pop("defaults", None)
    entries: list[Any] = list(defaults) if defaults is not None else []
    if "_self_" not in entries:
        entries.append("_self_")
    merged = OmegaConf.create({})
    for entry in entries:
        if entry == "_self_":
            merged = OmegaConf.merge(merged, raw)
        elif isinstance(entry, str):
            sibling = path.with_name(entry if entry.endswith(".yaml") else f"{entry}.yaml")
            merged = OmegaConf.merge(merged, _load_yaml_with_defaults(sibling, seen + (path,)))
        else:
            raise InputError(path, f"unsupported defaults entry {entry!r}", "list sibling config names and _self_ only")
    return merged


def load_model_config(name_or_path: str | os.PathLike = "base", overrides: Sequence[str] = ()) -> Any:
    """Compose ``configs/model/<name>.yaml`` (or a YAML path) with dot-list overrides into the
    typed config of its ``arch`` (Hydra's group composition, for code outside a Hydra program).

    Args:
        name_or_path: ``"base"``, ``"small"`` (files in :func:`model_config_dir`) or a path.
        overrides: Hydra-style ``key=value`` strings, e.g. ``["events=false", "key_dim=64"]``.

    Returns:
        A validated typed config (:class:`~evolve.model.evolve.config.ModelConfig` for EVOLVE).

    Raises:
        InputError: missing file, bad YAML, an unknown key or a wrong type (the message names the
            key), or a value :meth:`ModelConfig.validate` rejects.
    """
    text = os.fspath(name_or_path)
    path = Path(text)
    if path.suffix not in (".yaml", ".yml"):
        path = model_config_dir() / f"{text}.yaml"
    composed = _load_yaml_with_defaults(path)
    if overrides:
        try:
            composed = OmegaConf.merge(composed, OmegaConf.from_dotlist(list(overrides)))
        except Exception as exc:
            raise InputError(path, f"bad override in {list(overrides)} ({exc})", "write overrides as key=value") from exc
    return model_config_from_node(composed, source=path)
