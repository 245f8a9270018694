"""What machine a measurement ran on (benchmark result files name it)."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import torch


def cpu_model() -> str:
    """The CPU model string from /proc/cpuinfo, else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def device_name(device: torch.device | str) -> str:
    """``"NVIDIA H100 80GB HBM3"`` for a CUDA device, ``"CPU <model> (<n> threads)"`` otherwise."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    n = torch.get_num_threads()
    return f"CPU {cpu_model()} ({n} thread{'' if n == 1 else 's'})"


def machine_info() -> dict:
    """CPU, core counts, GPU, library versions and the load average, for a benchmark record."""
    return {
        "cpu": cpu_model(),
        "logical_cpus": os.cpu_count(),
        "cpus_available_to_this_process": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
    }
