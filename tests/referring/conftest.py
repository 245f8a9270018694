"""Fixtures of the referring tests: a tiny on-disk referring set (LLE-DAVIS layout + procedural records)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.referring.fixtures import make_referring_root


@pytest.fixture(scope="session")
def referring_root(tmp_path_factory) -> Path:
    """``<tmp>/data/procedural_referring/LLE_DAVIS``: 2 train + 1 val videos of 3 frames at 64x64."""
    base = tmp_path_factory.mktemp("data")
    return make_referring_root(base / "procedural_referring" / "LLE_DAVIS", train=2, val=1, frames=3, size=64)
