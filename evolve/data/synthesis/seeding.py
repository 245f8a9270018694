"""Stable seeds: the same (seed, sequence name, purpose) gives the same number on every run,
machine and Python process (unlike ``hash()``, which is salted per process)."""

from __future__ import annotations

import hashlib

import numpy as np


def stable_seed(*parts: object) -> int:
    """A 63-bit integer derived from ``parts`` with SHA-256 of their ``str()`` joined by ``\\x1f``.

    Example: ``stable_seed(0, "blackswan", "events")``. Fits ``torch.Generator.manual_seed``.
    """
    text = "\x1f".join(str(p) for p in parts).encode("utf-8")
    return int.from_bytes(hashlib.sha256(text).digest()[:8], "little") & ((1 << 63) - 1)


def numpy_rng(*parts: object) -> np.random.Generator:
    """A numpy PCG64 generator seeded with :func:`stable_seed` of ``parts``."""
    return np.random.Generator(np.random.PCG64(stable_seed(*parts)))
