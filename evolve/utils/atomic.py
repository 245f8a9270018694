"""Atomic file writes: write to a temporary name in the same folder, then rename.

A reader never sees a half-written file, and an interrupted writer leaves at most a
``*.tmp-<pid>-<n>`` file behind (never a truncated file under the final name).
"""

from __future__ import annotations

import contextlib
import itertools
import os
from pathlib import Path
from typing import IO, Any, Iterator

_counter = itertools.count()


def _temp_name(path: Path) -> Path:
    return path.with_name(f"{path.name}.tmp-{os.getpid()}-{next(_counter)}")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success rename it to ``path``.

    The parent folder is created if needed. If the body raises, the temporary file is
    removed and ``path`` is left untouched (an existing file keeps its old content).

    Example::

        with atomic_path("out/00001.npz") as tmp:
            np.savez(tmp, x=x)          # np.savez would append .npz to a name without it,
                                        # so pass an open file object when in doubt
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_name(final)
    try:
        yield tmp
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temporary file for writing; rename it to ``path`` when the block succeeds.

    Args:
        path: final file name.
        mode: a write mode (``"w"``, ``"wb"``, ``"wt"``).

    Raises:
        ValueError: if ``mode`` is not a write mode.
    """
    if not mode.startswith("w"):
        raise ValueError(f"atomic_open needs a write mode, got {mode!r}")
    with atomic_path(path) as tmp:
        with open(tmp, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save(obj)`` to a temporary file in the same folder, then rename (never a torn file).

    The object is serialised in memory first, so a failure while pickling leaves nothing behind.
    """
    import io

    import torch

    buf = io.BytesIO()
    torch.save(obj, buf)
    with atomic_open(path, "wb") as f:
        f.write(buf.getvalue())
