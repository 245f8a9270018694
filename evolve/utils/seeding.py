"""Seeds that are stable across processes, machines and runs, and a scoped global-RNG seed.

Python's ``hash()`` is salted per process, so every seed derived from names (sequence names,
stages, iterations) goes through :func:`stable_seed` instead.
"""

from __future__ import annotations

import contextlib
import hashlib
import random
from typing import Iterator

import numpy as np
import torch


def stable_seed(*parts: object) -> int:
    """A 63-bit integer from SHA-256 of the ``str()`` of ``parts`` joined by ``\\x1f``.

    Example: ``stable_seed(0, "blackswan", "events")``. Fits ``torch.Generator.manual_seed``.
    """
    text = "\x1f".join(str(p) for p in parts).encode("utf-8")
    return int.from_bytes(hashlib.sha256(text).digest()[:8], "little") & ((1 << 63) - 1)


def numpy_rng(*parts: object) -> np.random.Generator:
    """A numpy PCG64 generator seeded with :func:`stable_seed` of ``parts``."""
    return np.random.Generator(np.random.PCG64(stable_seed(*parts)))


@contextlib.contextmanager
def seeded_rng(seed: int) -> Iterator[None]:
    """Seed Python's ``random``, NumPy's global RNG and torch's CPU RNG for the block, then
    restore the previous states (so the caller's random streams are untouched)."""
    py_state, np_state = random.getstate(), np.random.get_state()
    with torch.random.fork_rng(devices=[]):
        random.seed(seed)
        np.random.seed(seed % (2**32))
        torch.manual_seed(seed)
        try:
            yield
        finally:
            random.setstate(py_state)
            np.random.set_state(np_state)
