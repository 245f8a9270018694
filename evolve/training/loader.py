"""The training DataLoader: resumable, seeded order over a task's dataset (task-agnostic)."""

from __future__ import annotations

from typing import Any, Callable, Iterator

import torch
from torch.utils.data import DataLoader, Dataset

from evolve.data.worker_errors import CarryErrors, carry_collate, raise_carried
from evolve.training.distributed import DistInfo
from evolve.training.sampling import ResumableSampler


def build_loader(
    dataset: Dataset, batch_size: int, info: DistInfo, seed: int, start_iteration: int, num_workers: int,
    collate: Callable[[list], Any] | None = None,
) -> Iterator[Any]:
    """Batches whose ``k``-th is the batch of iteration ``start_iteration + k``.

    ``batch_size`` is global and split over the processes. A bad file met by a worker is
    raised here as the reader's one-line :class:`~evolve.utils.errors.InputError` (file and
    fix), not as the worker's traceback.

    Raises:
        InputError: batch size not divisible by the number of processes; while iterating, a
            bad file.
    """
    from evolve.utils.errors import InputError

    if batch_size % info.world_size:
        raise InputError(None, f"batch_size {batch_size} is not divisible by the {info.world_size} processes",
                         "pick a global batch_size that is a multiple of --nproc_per_node")
    per_rank = batch_size // info.world_size
    sampler = ResumableSampler(len(dataset), seed, info.rank, info.world_size, start=start_iteration * per_rank)  # type: ignore[arg-type]
    loader = DataLoader(
        CarryErrors(dataset),
        batch_size=per_rank,
        sampler=sampler,
        num_workers=num_workers,
        pin_memory=info.device.type == "cuda",
        drop_last=True,
        persistent_workers=num_workers > 0,
        generator=torch.Generator(),  # keeps the loader from consuming the global RNG
        collate_fn=carry_collate(collate or collate_clips),
    )
    return (raise_carried(batch) for batch in loader)


def collate_clips(items: list[dict]) -> dict:
    """Stack clip tensors; keep ``info`` as a list of dicts."""
    out = {k: torch.stack([it[k] for it in items]) for k in items[0] if k != "info"}
    out["info"] = [it["info"] for it in items]
    return out
