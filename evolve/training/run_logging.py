"""Stopping a training run cleanly on SIGINT / SIGTERM."""

from __future__ import annotations

import logging
import signal
from types import FrameType
from typing import Optional


class GracefulStop:
    """Turns SIGINT/SIGTERM into a flag checked between iterations (then save and exit).

    ``signum`` records the signal, so the program can exit with ``128 + signum`` and a
    scheduler sees the interruption. A second signal restores the default handler behaviour
    (immediate stop). Use as a context manager around the training loop.
    """

    def __init__(self) -> None:
        self.requested = False
        self.signum: Optional[int] = None
        self._previous: dict[int, object] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:
            signal.signal(signum, signal.SIG_DFL)
            signal.raise_signal(signum)
        self.requested = True
        self.signum = signum
        logging.getLogger(__name__).warning("signal %d: will save a checkpoint and stop after this iteration", signum)

    def __call__(self) -> bool:
        return self.requested

    def __enter__(self) -> "GracefulStop":
        for s in (signal.SIGINT, signal.SIGTERM):
            try:
                self._previous[s] = signal.signal(s, self._handle)
            except ValueError:  # not the main thread: leave signals alone
                pass
        return self

    def __exit__(self, *exc) -> None:
        for s, h in self._previous.items():
            signal.signal(s, h)  # type: ignore[arg-type]
