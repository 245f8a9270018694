"""Checkpoints: network weights (for ``weights=`` and evaluation) and full training state
(for ``checkpoint=`` and automatic resume), written atomically.

Files in ``output/<exp_id>/`` (DESIGN 4):

- ``<exp_id>_<stage>_last.pth``       the network's ``state_dict`` only
- ``<exp_id>_<stage>_<it>.pth``       numbered weight snapshots (``save_weights_interval``)
- ``<exp_id>_<stage>_ckpt_last.pth``  everything needed to continue bit-for-bit: weights,
  optimizer, LR scheduler, grad scaler, iteration, RNG states, resolved config
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from evolve.model.weights import read_torch_file
from evolve.utils.errors import InputError

CHECKPOINT_FORMAT = 1


def weights_path(out_dir: Path, exp_id: str, stage: str, it: int | None = None) -> Path:
    """Path of the weights file of ``stage`` (``it`` None -> the ``_last`` file)."""
    tag = "last" if it is None else str(it)
    return Path(out_dir) / f"{exp_id}_{stage}_{tag}.pth"


def checkpoint_path(out_dir: Path, exp_id: str, stage: str) -> Path:
    """Path of the full training-state checkpoint of ``stage``."""
    return Path(out_dir) / f"{exp_id}_{stage}_ckpt_last.pth"


def capture_rng_state() -> dict[str, Any]:
    """RNG states of Python, NumPy, torch CPU and all CUDA devices."""
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Inverse of :func:`capture_rng_state` (CUDA states restored only when GPUs are visible)."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def read_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a full training checkpoint and check its format.

    Raises:
        InputError: not a full checkpoint (e.g. a weights-only file was passed to checkpoint=).
    """
    obj = read_torch_file(path, map_location)
    required = ("format", "it", "weights", "optimizer", "stage")
    if not isinstance(obj, dict) or any(k not in obj for k in required):
        raise InputError(
            path,
            "not a full training checkpoint (weights only?)",
            "use weights=<file> to initialise from network weights, or checkpoint=<..._ckpt_last.pth> to resume",
        )
    if obj["format"] != CHECKPOINT_FORMAT:
        raise InputError(path, f"checkpoint format {obj['format']} is not {CHECKPOINT_FORMAT}", "resume with the evolve version that wrote it")
    return obj
