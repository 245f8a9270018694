"""Weights files: reading them and loading them into a network, with Cutie's single-object <->
multi-object channel surgery (DESIGN 4). Every reader of a weights file (``weights=``,
``checkpoint=``, evaluation, pictures) goes through this module.

Files: a plain network ``state_dict`` (``<exp_id>_<stage>_last.pth``) or a full training
checkpoint (``..._ckpt_last.pth``, whose ``"weights"`` entry is the state dict); DDP ``module.``
and wrapper ``network.`` prefixes are stripped.

A single-object network (pre-training, 1 object per clip) has a 4-channel mask-encoder conv1
(RGB + mask) and 257-channel sensory compressions in the pixel fusers (sensory + mask); the
multi-object network adds the "others" mask: 5 and 258 channels. :func:`load_weights` adapts a
checkpoint of one kind to a network of the other:

- single -> multi: the old channels are copied unchanged and the new "others" channel is
  **zero-initialised**, so the multi-object network starts out computing exactly what the
  single-object one did for each object (the gradient of the new weights is not zero, so they
  train). Cutie initialises them orthogonally instead; zero keeps the loaded function intact.
- multi -> single: the "others" channel is dropped.

Any other shape mismatch (for example base weights into a small network) is refused with an
error naming the keys.
"""

from __future__ import annotations

import logging
import os
import pickle
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import Tensor, nn

from evolve.utils.errors import InputError

logger = logging.getLogger(__name__)

# Parameters whose input-channel count depends on single_object; the "others" channel is the last.
SURGERY_KEYS = (
    "mask_encoder.backbone.conv1.weight",
    "pixel_fuser.sensory_compress.weight",
    "event_fuser.sensory_compress.weight",
)


class WeightsMismatchError(ValueError):
    """A checkpoint whose tensors do not fit the network (another model size or variant)."""


@dataclass
class LoadReport:
    """What :func:`load_weights` did.

    Attributes:
        loaded: number of tensors copied into the network.
        missing: network keys absent from the checkpoint (left as initialised).
        unexpected: checkpoint keys the network does not have (ignored).
        adapted: keys that went through the single/multi-object channel surgery, with how.
    """

    loaded: int = 0
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    adapted: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        def names(keys: list[str]) -> str:
            return ", ".join(keys[:8]) + (f", ... (+{len(keys) - 8})" if len(keys) > 8 else "")

        lines = [f"loaded {self.loaded} tensors"]
        if self.adapted:
            lines.append(f"adapted {len(self.adapted)}: {names(self.adapted)}")
        if self.missing:
            lines.append(f"missing {len(self.missing)} (left as initialised): {names(self.missing)}")
        if self.unexpected:
            lines.append(f"unexpected {len(self.unexpected)} (ignored): {names(self.unexpected)}")
        return "; ".join(lines)


def _strip_prefixes(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Remove DDP ``module.`` and TrainWrapper ``network.`` prefixes shared by every key."""
    out = dict(state)
    for prefix in ("module.", "network."):
        if out and all(k.startswith(prefix) for k in out):
            out = {k[len(prefix) :]: v for k, v in out.items()}
    return out


def _describe(state: Mapping[str, Tensor]) -> str:
    """A guess of the model a state dict belongs to, for error messages."""
    if "pixel_encoder.layer1.0.conv3.weight" in state:
        size = "base (ResNet-50 image encoder)"
    elif "pixel_encoder.layer1.0.conv1.weight" in state:
        size = "small (ResNet-18/34 image encoder)"
    else:
        size = "unknown size"
    events = "events on" if any(k.startswith("event_encoder.") for k in state) else "events off"
    key = state.get("key_proj.key_proj.weight")
    kd = f", key_dim {key.shape[0]}" if key is not None else ""
    return f"{size}, {events}{kd}"


def read_torch_file(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> Any:
    """``torch.load`` of a weights or checkpoint file, with clear errors.

    Raises:
        InputError: the file is missing, truncated, or not a torch file.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(p, "file does not exist", "check the path given to weights= / checkpoint=")
    try:
        return torch.load(p, map_location=map_location, weights_only=False)
    except (RuntimeError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile, ValueError, OSError) as e:
        raise InputError(p, f"cannot load ({type(e).__name__}: {e})", "the file is truncated or not a torch checkpoint; use another copy") from e


def state_dict_of(obj: Any, path: str | os.PathLike) -> dict[str, Tensor]:
    """The network ``state_dict`` inside a loaded weights file or full checkpoint.

    Raises:
        InputError: the object holds no state dict (names ``path``).
    """
    if isinstance(obj, dict) and "weights" in obj and isinstance(obj["weights"], dict):
        obj = obj["weights"]
    if isinstance(obj, dict) and obj and all(isinstance(k, str) for k in obj) and all(isinstance(v, torch.Tensor) for v in obj.values()):
        return _strip_prefixes(obj)
    raise InputError(path, "no network state_dict inside", "pass a .pth written by evolve (weights or checkpoint file)")


def read_weights_file(path: str | os.PathLike) -> dict[str, Tensor]:
    """The network state dict of a weights file or full checkpoint (on the CPU).

    Raises:
        InputError: missing, unreadable, or no state dict inside.
    """
    return state_dict_of(read_torch_file(path), path)


def read_pretrained_state_dict(path: str | os.PathLike, network: str) -> dict[str, Tensor]:
    """A third-party ImageNet state dict file (torchvision's ResNet / DenseNet files), read with
    ``weights_only=True``; a ``{"state_dict": ...}`` or ``{"model": ...}`` wrapper is unwrapped.

    Args:
        path: local file (never downloaded).
        network: what the file should hold, for the messages (``"ResNet"``, ``"DenseNet"``).
    Returns:
        the state dict as stored (keys unchanged).
    Raises:
        InputError: missing or unreadable file, or no state dict inside (names the file and the fix).
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise InputError(path, f"pretrained {network} file not found", f"give a local torchvision {network} ImageNet state dict (.pth) or null for random init")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise InputError(path, f"cannot read the pretrained weights ({exc})", "give a torch.save()d state dict") from exc
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and key in state and isinstance(state[key], dict):
            state = state[key]
    if not isinstance(state, dict):
        raise InputError(path, "the file holds no state dict", f"save the {network} with torch.save(model.state_dict(), path)")
    return state


def load_weights_from(
    network: nn.Module, state_dict: Mapping[str, Tensor], source: str | os.PathLike, exact: bool = False, fix: str | None = None,
    check_only: bool = False,
) -> LoadReport:
    """:func:`load_weights`, with every refusal turned into an :class:`InputError` naming ``source``.

    Args:
        network: the network to fill.
        state_dict: its tensors (from :func:`read_weights_file`).
        source: the file (or a description) the tensors came from, for messages.
        exact: also refuse missing, unexpected or adapted tensors (resuming a checkpoint).
        fix: what to tell the user when the weights do not fit (a default names the model settings).
        check_only: check shapes and names without copying (works on a ``meta``-device network,
            so a run can refuse bad weights before it writes anything).

    Raises:
        InputError: shapes that do not fit, nothing loadable, or (``exact``) any difference.
    """
    fix = fix or "build the network with the model= config (and events=) the weights were trained with"
    try:
        report = load_weights(network, state_dict, check_only=check_only)
    except WeightsMismatchError as e:
        raise InputError(source, f"these weights do not fit the network ({e})", fix) from e
    if exact and (report.missing or report.unexpected or report.adapted):
        raise InputError(source, f"the weights do not match the network exactly ({report})", fix)
    return report


def load_weights(network: nn.Module, state_dict: Mapping[str, Tensor], strict: bool = False, check_only: bool = False) -> LoadReport:
    """Copy a network state dict into ``network`` with the single <-> multi-object surgery.

    Args:
        network: an :class:`~evolve.model.evolve.network.EVOLVE`.
        state_dict: tensors by name (``module.`` / ``network.`` prefixes are stripped), e.g.
            ``torch.load(weights_path, map_location="cpu")``.
        strict: also refuse missing or unexpected keys (shape mismatches are always refused).
        check_only: do every check and build the report, but copy nothing.
    Returns:
        :class:`LoadReport` (also logged: a warning when keys are missing or unexpected).
    Raises:
        WeightsMismatchError: shape mismatches other than the surgery channels (message names
            every key with both shapes and what the checkpoint looks like), nothing loadable, or
            with ``strict`` missing/unexpected keys.
    """
    state = _strip_prefixes(state_dict)
    own = network.state_dict()
    report = LoadReport()
    to_load: dict[str, Tensor] = {}
    mismatched = []
    for key, value in state.items():
        if key not in own:
            report.unexpected.append(key)
            continue
        target = own[key]
        if value.shape == target.shape:
            to_load[key] = value
        elif key in SURGERY_KEYS and value.dim() == target.dim() and value.shape[0] == target.shape[0] and value.shape[2:] == target.shape[2:] and abs(value.shape[1] - target.shape[1]) == 1:
            if value.shape[1] < target.shape[1]:
                extra = torch.zeros(value.shape[0], 1, *value.shape[2:], dtype=value.dtype)
                to_load[key] = torch.cat([value, extra], dim=1)
                report.adapted.append(f"{key} {value.shape[1]}->{target.shape[1]} input channels (new 'others' channel zero-initialised)")
            else:
                to_load[key] = value[:, : target.shape[1]].clone()
                report.adapted.append(f"{key} {value.shape[1]}->{target.shape[1]} input channels ('others' channel dropped)")
        else:
            mismatched.append(f"{key}: checkpoint {tuple(value.shape)} vs network {tuple(target.shape)}")
    report.missing = sorted(k for k in own if k not in state)
    if mismatched:
        shown = "\n  ".join(mismatched[:20]) + (f"\n  ... and {len(mismatched) - 20} more" if len(mismatched) > 20 else "")
        raise WeightsMismatchError(
            f"refusing to load: {len(mismatched)} tensors have other shapes than the network's:\n  {shown}\n"
            f"The checkpoint looks like model {_describe(state)}; the network is {_describe(own)}. "
            "Fix: build the network with the model config the weights were trained with (model=small|base, events, key_dim)."
        )
    if not to_load:
        raise WeightsMismatchError(f"refusing to load: no checkpoint key matches the network (checkpoint keys start {sorted(state)[:3]}). Fix: pass an EVOLVE network state dict.")
    if strict and (report.missing or report.unexpected):
        raise WeightsMismatchError(f"strict loading failed: {report}")
    report.loaded = len(to_load)
    if check_only:
        return report
    with torch.no_grad():
        for key, value in to_load.items():
            own[key].copy_(value.to(own[key].dtype))
    if report.missing or report.unexpected:
        logger.warning("load_weights: %s", report)
    else:
        logger.info("load_weights: %s", report)
    return report
