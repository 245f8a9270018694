"""Choosing the torch device a program runs on (one rule for every entry point)."""

from __future__ import annotations

import torch

from evolve.utils.errors import InputError

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def resolve_device(requested: str, local_rank: int = 0) -> torch.device:
    """The device for ``requested``: ``"auto"`` -> ``cuda:<local_rank mod #GPUs>`` when CUDA is
    available, else CPU; ``"cpu"`` and ``"cuda"`` / ``"cuda:<i>"`` are taken as given.

    Args:
        requested: ``auto | cpu | cuda | cuda:<index>``.
        local_rank: this process's rank on its node (torchrun's LOCAL_RANK); picks the GPU.

    Raises:
        InputError: an unknown value, or CUDA requested where no GPU is visible (the message
            says to use ``device=cpu`` or ``device=auto``).
    """
    text = str(requested).strip().lower()
    if text == "cpu":
        return torch.device("cpu")
    if text == "auto" or text == "cuda" or text.startswith("cuda:"):
        if torch.cuda.is_available():
            if text.startswith("cuda:"):
                index = int(text.split(":", 1)[1]) if text.split(":", 1)[1].isdigit() else -1
                if not 0 <= index < torch.cuda.device_count():
                    raise InputError(None, f"device={requested} but {torch.cuda.device_count()} GPU(s) are visible", "use device=cuda (one GPU per rank) or an index below the GPU count")
                return torch.device("cuda", index)
            return torch.device("cuda", local_rank % torch.cuda.device_count())
        if text != "auto":
            raise InputError(None, f"device={requested} was requested but no CUDA GPU is visible", "use device=cpu or device=auto")
        return torch.device("cpu")
    raise InputError(None, f"unknown device {requested!r}", f"use one of {', '.join(DEVICE_CHOICES)} (or cuda:<index>)")


def configure_tf32(device: torch.device, enabled: bool = True) -> bool:
    """Allow TF32 matmuls and cuDNN convolutions on Ampere and newer GPUs (compute capability 8+).

    TF32 keeps float32's range with a 10-bit mantissa in the tensor cores; PyTorch leaves matmul
    TF32 off by default. Nothing changes on the CPU or on older GPUs.

    Args:
        device: the device the program computes on.
        enabled: the ``tf32`` setting of the program's config.
    Returns:
        Whether TF32 is now allowed.
    """
    if device.type != "cuda":
        return False
    allowed = bool(enabled) and torch.cuda.get_device_capability(device)[0] >= 8
    torch.backends.cuda.matmul.allow_tf32 = allowed
    torch.backends.cudnn.allow_tf32 = allowed
    return allowed
