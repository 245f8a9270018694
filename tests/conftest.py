"""Shared pytest fixtures.

``shared_data`` points at the real data beside the checkout (``../shared/data``, or the folder
named by ``EVOLVE_SHARED_DATA``); tests that use it are skipped cleanly when it is absent.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path | None:
    """The real-data folder, or None when this checkout has none beside it."""
    env = os.environ.get("EVOLVE_SHARED_DATA")
    path = Path(env) if env else REPO_ROOT.parent / "shared" / "data"
    return path if path.is_dir() else None


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = shared_data_dir()
    if path is None:
        pytest.skip("../shared/data is absent (fresh clone): real-data test skipped")
    return path


@pytest.fixture(scope="session")
def davis2016(shared_data: Path) -> Path:
    path = shared_data / "davis2016"
    if not path.is_dir():
        pytest.skip("../shared/data/davis2016 is absent")
    return path


@pytest.fixture(scope="session")
def davis346_recording(shared_data: Path) -> Path:
    path = shared_data / "events" / "davis346_sample.aedat4"
    if not path.is_file():
        pytest.skip("../shared/data/events/davis346_sample.aedat4 is absent")
    return path


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture(autouse=True)
def _seed_torch():
    torch.manual_seed(0)


@pytest.fixture(autouse=True)
def _grad_mode_is_restored():
    """A test that leaves autograd switched off breaks every later test that calls backward()."""
    yield
    assert torch.is_grad_enabled(), "this test left torch grad mode disabled; use `with torch.no_grad()`"
