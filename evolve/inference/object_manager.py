"""Object ids <-> tensor indices for streaming inference (Cutie's object manager; DESIGN 5)."""

from __future__ import annotations

import torch
from torch import Tensor


class ObjectManager:
    """Maps user object ids (any positive integers, e.g. palette indices) to tensor channels.

    Objects get channels in the order they are first seen: the k-th object (k = 0, 1, ...) is
    channel ``k + 1`` of a (1+N, H, W) probability tensor (channel 0 is background) and index
    ``k`` of per-object tensors. Ids never change channel.
    """

    def __init__(self) -> None:
        self._ids: list[int] = []

    @property
    def object_ids(self) -> list[int]:
        """Object ids in channel order (channel k+1 <-> object_ids[k])."""
        return list(self._ids)

    @property
    def num_objects(self) -> int:
        """Number of registered objects N."""
        return len(self._ids)

    def __contains__(self, obj_id: int) -> bool:
        return int(obj_id) in self._ids

    def index_of(self, obj_id: int) -> int:
        """0-based per-object index of ``obj_id``. Raises KeyError for an unknown id."""
        try:
            return self._ids.index(int(obj_id))
        except ValueError:
            raise KeyError(f"unknown object id {obj_id}; known: {self._ids}") from None

    def add(self, obj_ids: list[int]) -> list[int]:
        """Register the ids not seen before (in the given order); return those new ids.

        Raises:
            ValueError: an id < 1 (0 is background) or a repeated id in ``obj_ids``.
        """
        ids = [int(i) for i in obj_ids]
        if any(i < 1 for i in ids):
            raise ValueError(f"object ids must be >= 1 (0 is background), got {ids}")
        if len(set(ids)) != len(ids):
            raise ValueError(f"repeated object ids in {ids}")
        new = [i for i in ids if i not in self._ids]
        self._ids.extend(new)
        return new

    def prob_to_mask(self, prob: Tensor) -> Tensor:
        """(1+N, H, W) probabilities -> (H, W) int64 object ids (argmax; 0 = background)."""
        lut = torch.tensor([0] + self._ids, dtype=torch.int64, device=prob.device)
        return lut[prob.argmax(dim=0)]
