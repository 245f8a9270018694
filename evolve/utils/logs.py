"""One logging setup for every program: console lines that do not break tqdm bars, optional file.

Console output goes through ``tqdm.write`` so a progress bar on the terminal is redrawn below
the message instead of being torn in two.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

CONSOLE_FORMAT = "[%(asctime)s] %(levelname)s %(name)s: %(message)s"
DATE_FORMAT = "%H:%M:%S"


class TqdmHandler(logging.StreamHandler):
    """A console handler that prints through ``tqdm.write`` (to ``stderr``)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            from tqdm import tqdm

            tqdm.write(self.format(record), file=sys.stderr)
        except Exception:  # pragma: no cover - logging must never raise
            self.handleError(record)


def setup_logging(level: int = logging.INFO, log_file: str | Path | None = None, console_level: int | None = None, tag: str = "") -> None:
    """Replace the root logger's handlers: a tqdm-safe console handler and, optionally, a file.

    Args:
        level: level of the root logger and of the file handler.
        log_file: also write every record to this file (its folder is created).
        console_level: level of the console handler (default ``level``; training ranks other
            than 0 pass WARNING).
        tag: text put after the time in every line (``"r0"`` for rank 0).
    """
    fmt = logging.Formatter(CONSOLE_FORMAT.replace("%(asctime)s", f"%(asctime)s{' ' + tag if tag else ''}"), DATE_FORMAT)
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
        h.close()
    console = TqdmHandler()
    console.setFormatter(fmt)
    console.setLevel(level if console_level is None else console_level)
    root.addHandler(console)
    if log_file is not None:
        path = Path(log_file)
        path.parent.mkdir(parents=True, exist_ok=True)
        file_handler = logging.FileHandler(path)
        file_handler.setFormatter(fmt)
        file_handler.setLevel(level)
        root.addHandler(file_handler)
    root.setLevel(level)
