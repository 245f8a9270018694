"""Bad-input errors that cross the DataLoader worker boundary as one clear line.

torch re-raises an exception from a worker process as its type rebuilt from a message holding
the whole worker traceback (30 lines for one truncated file). Datasets wrapped in
:class:`CarryErrors` instead return a :class:`CarriedError` value for an
:class:`~evolve.utils.errors.InputError`; :func:`carry_collate` passes it through the batch, and
the consumer calls :func:`raise_carried` to raise the original error (file, problem, fix).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional

from torch.utils.data import Dataset

from evolve.utils.errors import InputError


@dataclass(frozen=True)
class CarriedError:
    """An :class:`InputError` raised while loading an item, as a picklable value."""

    path: Optional[str]
    problem: Optional[str]
    fix: Optional[str]
    message: str

    @classmethod
    def of(cls, error: InputError) -> "CarriedError":
        """Carry ``error``."""
        return cls(error.path, error.problem, error.fix, str(error))

    def error(self) -> InputError:
        """The error to raise again in the consuming process."""
        if self.problem is None and self.fix is None:
            return InputError(self.message)
        return InputError(self.path, self.problem, self.fix)


class CarryErrors(Dataset):
    """Wraps a map-style dataset: ``InputError`` in ``__getitem__`` becomes a :class:`CarriedError` value."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, key: Any) -> Any:
        try:
            return self.dataset[key]
        except InputError as e:
            return CarriedError.of(e)


def carry_collate(collate: Optional[Callable[[list], Any]]) -> Callable[[list], Any]:
    """A collate function that returns the first :class:`CarriedError` of a batch instead of collating."""

    def wrapped(items: list) -> Any:
        for item in items:
            if isinstance(item, CarriedError):
                return item
        return collate(items) if collate is not None else items

    return wrapped


def raise_carried(item: Any) -> Any:
    """Raise the error a :class:`CarriedError` carries; return any other value unchanged.

    Raises:
        InputError: when ``item`` is a :class:`CarriedError`.
    """
    if isinstance(item, CarriedError):
        raise item.error()
    return item
