"""The task interface: what a task supplies to the task-agnostic trainer (DESIGN 10).

A task is one kind of training: semi-supervised VOS (EVOLVE, EMVOS), interactive VOS, referring
VOS, few-shot motion VOS. It supplies

- its training data (a ``Dataset`` of items keyed ``(index, seed)``, see
  :mod:`evolve.training.sampling`) and how to batch it;
- the wrapper that runs a batch through the network (``outputs = wrapper(batch)``);
- its losses (``losses = loss(outputs, batch)``, a dict with ``total_loss``);
- its evaluation protocol (used by ``eval_after_training``);
- optionally a picture of a batch for TensorBoard.

The trainer (:mod:`evolve.training.trainer`) and the stage loop (:mod:`evolve.training.runner`)
only call these methods, so a new task plugs in with :func:`register_task` or an entry in
:data:`BUILTIN` without editing them. Tasks are imported only when asked for.
"""

from __future__ import annotations

import abc
import importlib
from pathlib import Path
from typing import Any, Callable, ClassVar

import torch
from torch import nn
from torch.utils.data import Dataset

from evolve.utils.errors import InputError


class Task(abc.ABC):
    """One kind of training; see the module docstring.

    Attributes:
        name: the value of ``task=`` that selects it.
        architectures: model ``arch`` values the task can train (checked before anything runs).
    """

    name: ClassVar[str]
    architectures: ClassVar[tuple[str, ...]]

    def check_model(self, model_cfg: Any) -> None:
        """Refuse a network the task cannot train.

        Raises:
            InputError: ``model_cfg.arch`` not in :attr:`architectures`.
        """
        if model_cfg.arch not in self.architectures:
            able = [name for name in task_names() if name != self.name and model_cfg.arch in _task_class(name).architectures]
            hint = f"; arch {model_cfg.arch!r} trains with task={' or task='.join(able)}" if able else ""
            raise InputError(None, f"task {self.name!r} cannot train arch {model_cfg.arch!r}",
                             f"use a model= config with arch in {list(self.architectures)}, or another task={hint}")

    def preflight(self, stage: str, stage_cfg: Any, data_cfg: Any, model_cfg: Any) -> None:
        """Fast checks of the stage's data before any output is written (default: none).

        Raises:
            InputError: the data cannot be used (the message names the file and the fix).
        """

    @abc.abstractmethod
    def build_dataset(self, stage: str, stage_cfg: Any, data_cfg: Any, model_cfg: Any, seed: int) -> Dataset:
        """The training items of one stage; ``dataset[(index, seed)]`` draws all randomness from ``seed``."""

    def collate(self, items: list[Any]) -> Any:
        """Batch a list of items (default: stack tensors, keep ``info`` as a list)."""
        from evolve.training.loader import collate_clips

        return collate_clips(items)

    @abc.abstractmethod
    def build_wrapper(self, network: nn.Module, stage_cfg: Any) -> nn.Module:
        """The module whose ``forward(batch)`` returns the outputs the losses read."""

    @abc.abstractmethod
    def build_loss(self, stage_cfg: Any) -> Callable[[Any, Any], dict[str, torch.Tensor]]:
        """``loss(outputs, batch) -> {"total_loss": scalar, <term>: scalar, ...}``."""

    def image_logger(self, folder: Path, writer: Any, stage: str) -> Callable[[int, Any, Any], None] | None:
        """``log(iteration, batch, outputs)`` writing a picture (default: none)."""
        return None

    def evaluate(self, network: nn.Module, val_cfg: Any, model_cfg: Any, out_dir: Path, device: torch.device) -> dict[str, Any] | None:
        """Run the task's evaluation protocol on ``val_cfg``; returns its summary (default: none).

        Raises:
            InputError: the validation data cannot be used.
        """
        return None


BUILTIN: dict[str, str] = {
    "semi_supervised": "evolve.training.tasks.semi_supervised:SemiSupervisedTask",
    "emvos": "evolve.training.tasks.emvos:EMVOSTask",
    "few_shot": "evolve.training.tasks.few_shot:FewShotTask",
    "interactive": "evolve.training.tasks.interactive:InteractiveTask",
    "referring": "evolve.training.tasks.referring:ReferringTask",
}
_REGISTERED: dict[str, type[Task]] = {}


def register_task(task_class: type[Task]) -> None:
    """Make ``task_class.name`` selectable with ``task=`` (replaces an earlier one of that name)."""
    _REGISTERED[task_class.name] = task_class


def task_names() -> list[str]:
    """Every selectable task name."""
    return sorted(set(BUILTIN) | set(_REGISTERED))


def _task_class(name: str) -> type[Task]:
    if name not in _REGISTERED:
        if name not in BUILTIN:
            raise InputError(None, f"unknown task {name!r}", f"use task= one of {task_names()}")
        module, attr = BUILTIN[name].split(":")
        _REGISTERED[name] = getattr(importlib.import_module(module), attr)
    return _REGISTERED[name]


def get_task(name: str) -> Task:
    """A new instance of the task called ``name``.

    Raises:
        InputError: unknown task (the message lists the known ones).
    """
    return _task_class(name)()
