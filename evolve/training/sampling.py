"""Deterministic, resumable data order for training.

Every sample is identified by ``(dataset index, sample seed)``. The seed is a function of the
run seed, the epoch and the position in the epoch only, and the dataset draws all of its
randomness (clip choice, augmentation, synthetic events) under that seed. So the batch at
iteration ``it`` is the same whether the run was interrupted or not, whichever worker loads
it, and resuming at ``it`` means skipping ``it`` batches' worth of positions without loading them.
"""

from __future__ import annotations

from typing import Iterator, Sequence

import torch
from torch.utils.data import Dataset, Sampler

from evolve.utils.seeding import stable_seed


class SeededConcat(Dataset):
    """Concatenation of datasets whose items are asked for as ``(index, seed)``.

    Each part must accept ``part[(local_index, seed)]`` and derive all of its randomness from
    ``seed`` (``VOSClipDataset`` and ``StaticClipDataset`` do).
    """

    def __init__(self, parts: Sequence[Dataset]) -> None:
        if not parts:
            raise ValueError("SeededConcat needs at least one dataset")
        self.parts = list(parts)
        self.offsets = [0]
        for p in self.parts:
            self.offsets.append(self.offsets[-1] + len(p))  # type: ignore[arg-type]

    def __len__(self) -> int:
        return self.offsets[-1]

    def __getitem__(self, key: tuple[int, int]):
        index, seed = key
        if not 0 <= index < len(self):
            raise IndexError(index)
        part = next(i for i in range(len(self.parts)) if index < self.offsets[i + 1])
        return self.parts[part][(index - self.offsets[part], seed)]


class ResumableSampler(Sampler[tuple[int, int]]):
    """Infinite stream of ``(index, seed)`` for one rank, resumable at any sample position.

    Epoch ``e`` is a permutation of the dataset drawn from ``stable_seed(seed, e)``; rank ``r``
    of ``world_size`` takes positions ``r, r + world_size, ...`` (the tail that does not divide
    evenly is dropped so all ranks see the same number of samples per epoch).

    Args:
        length: dataset size (>= world_size).
        seed: run seed.
        rank, world_size: this process and the number of processes.
        start: how many samples of THIS rank to skip (``iteration * per_rank_batch_size``).

    Raises:
        ValueError: dataset smaller than the number of ranks.
    """

    def __init__(self, length: int, seed: int, rank: int = 0, world_size: int = 1, start: int = 0) -> None:
        if length < world_size:
            raise ValueError(f"dataset has {length} items, fewer than the {world_size} processes")
        self.length, self.seed, self.rank, self.world_size, self.start = length, seed, rank, world_size, start
        self.per_rank = length // world_size

    def __iter__(self) -> Iterator[tuple[int, int]]:
        epoch, pos = divmod(self.start, self.per_rank)
        while True:
            g = torch.Generator().manual_seed(stable_seed(self.seed, "epoch", epoch))
            order = torch.randperm(self.length, generator=g)[: self.per_rank * self.world_size]
            mine = order[self.rank :: self.world_size].tolist()
            for p in range(pos, self.per_rank):
                global_pos = p * self.world_size + self.rank
                yield mine[p], stable_seed(self.seed, "sample", epoch, global_pos)
            epoch, pos = epoch + 1, 0

    def __len__(self) -> int:  # an infinite sampler; DataLoader only needs this for len(loader)
        return 2**62
