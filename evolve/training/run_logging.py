"""Per-rank log files and console output for a training or evaluation run."""

from __future__ import annotations

import logging
import signal
import sys
import time
from pathlib import Path
from types import FrameType

from evolve.training.distributed import DistInfo


def setup_logging(out_dir: Path, info: DistInfo, name: str = "train") -> Path:
    """Log to ``out_dir/<date>-<name>-rank<r>.log`` (INFO) and to the console (rank 0: INFO, others: WARNING).

    Returns the log file path.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{time.strftime('%Y-%m-%d_%H-%M-%S')}-{name}-rank{info.rank}.log"
    fmt = logging.Formatter(f"[%(asctime)s r{info.rank}] %(levelname)s %(name)s: %(message)s", "%H:%M:%S")
    file_handler = logging.FileHandler(path)
    file_handler.setFormatter(fmt)
    console = logging.StreamHandler(sys.stderr)
    console.setFormatter(fmt)
    console.setLevel(logging.INFO if info.is_main else logging.WARNING)
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    root.addHandler(file_handler)
    root.addHandler(console)
    root.setLevel(logging.INFO)
    return path


class GracefulStop:
    """Turns SIGINT/SIGTERM into a flag checked between iterations (then save and exit cleanly).

    A second signal restores the default handler behaviour (immediate stop).
    Use as a context manager around the training loop.
    """

    def __init__(self) -> None:
        self.requested = False
        self._previous: dict[int, object] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:
            signal.signal(signum, signal.SIG_DFL)
            signal.raise_signal(signum)
        self.requested = True
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
