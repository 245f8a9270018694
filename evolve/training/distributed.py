"""Process-group setup from torchrun's environment, read at run time (never at import).

A plain ``python evolve/train.py`` runs as one process (rank 0 of 1); under
``torchrun --nproc_per_node N`` the RANK / WORLD_SIZE / LOCAL_RANK variables are read when
:func:`init_distributed` is called. Backend: NCCL on CUDA, Gloo on CPU.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from evolve.utils.devices import resolve_device


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits in the job.

    Attributes:
        rank: global rank (0..world_size-1).
        world_size: number of processes.
        local_rank: rank on this node (selects the GPU).
        device: the torch device this process computes on.
    """

    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        """True on rank 0 (the process that logs, shows progress and writes files)."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return default if value in (None, "") else int(value)


def init_distributed(device: str = "auto", timeout_s: int = 1800) -> DistInfo:
    """Read torchrun's environment and start the process group if ``WORLD_SIZE > 1``.

    Args:
        device: ``"auto" | "cpu" | "cuda"``.
        timeout_s: collective timeout in seconds.

    Returns:
        The :class:`DistInfo` of this process. With one process no group is created.

    Raises:
        InputError: an unknown device, or CUDA asked for where no GPU is visible.
    """
    rank = _env_int("RANK", 0)
    world_size = _env_int("WORLD_SIZE", 1)
    local_rank = _env_int("LOCAL_RANK", 0)
    dev = resolve_device(device, local_rank)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if world_size > 1 and not dist.is_initialized():
        backend = "nccl" if dev.type == "cuda" else "gloo"
        dist.init_process_group(
            backend=backend,
            rank=rank,
            world_size=world_size,
            timeout=datetime.timedelta(seconds=timeout_s),
            device_id=dev if dev.type == "cuda" else None,
        )
    return DistInfo(rank, world_size, local_rank, dev)


def barrier(info: DistInfo) -> None:
    """Wait for all ranks (no-op with one process)."""
    if info.distributed:
        if info.device.type == "cuda":
            dist.barrier(device_ids=[info.device.index])
        else:
            dist.barrier()


def all_reduce_mean(values: dict[str, float], info: DistInfo) -> dict[str, float]:
    """Average scalar metrics over ranks (every rank gets the same result)."""
    if not info.distributed or not values:
        return dict(values)
    keys = sorted(values)
    t = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=info.device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    t /= info.world_size
    return {k: float(v) for k, v in zip(keys, t.tolist())}


def any_rank(flag: bool, info: DistInfo) -> bool:
    """True if ``flag`` is True on any rank (so all ranks take the same branch)."""
    if not info.distributed:
        return flag
    t = torch.tensor([1 if flag else 0], dtype=torch.int32, device=info.device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def cleanup(info: DistInfo) -> None:
    """Destroy the process group if this job created one."""
    if info.distributed and dist.is_initialized():
        dist.destroy_process_group()


def all_gather_object(obj, info: DistInfo) -> list:
    """Every rank's ``obj`` (a picklable object), in rank order; ``[obj]`` with one process."""
    if not info.distributed:
        return [obj]
    out: list = [None] * info.world_size
    dist.all_gather_object(out, obj)
    return out
