"""Seeds that are stable across processes and runs, and a scoped global-RNG seed."""

from __future__ import annotations

import contextlib
import hashlib
import random
from typing import Iterator

import numpy as np
import torch


def stable_seed(*parts: object) -> int:
    """A 63-bit seed from any printable parts (stable across processes and Python runs)."""
    digest = hashlib.sha256("/".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


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
