"""Learning-rate schedules (DESIGN 4): constant, step (x gamma at given iterations), poly."""

from __future__ import annotations

from typing import Callable, Sequence

import torch


def lr_lambda(kind: str, steps: Sequence[int], gamma: float, total: int, power: float = 0.9) -> Callable[[int], float]:
    """The LR multiplier as a function of the iteration.

    Args:
        kind: ``"constant"`` | ``"step"`` (multiply by ``gamma`` at each of ``steps``) | ``"poly"``
            ((1 - it/total) ** power).
        steps: iterations at which the step schedule decays.
        gamma: step decay factor (Cutie/EVOLVE: 0.1 at 100k and 115k of 125k).
        total: number of iterations of the stage (for poly).

    Raises:
        ValueError: unknown kind.
    """
    if kind == "constant":
        return lambda it: 1.0
    if kind == "step":
        ordered = sorted(int(s) for s in steps)
        return lambda it: gamma ** sum(it >= s for s in ordered)
    if kind == "poly":
        return lambda it: max(0.0, 1.0 - it / max(1, total)) ** power
    raise ValueError(f"lr_schedule must be constant|step|poly, got {kind!r}")


def build_scheduler(optimizer: torch.optim.Optimizer, kind: str, steps: Sequence[int], gamma: float, total: int):
    """A ``LambdaLR`` stepping once per iteration."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(kind, steps, gamma, total))
