"""Fixtures of the model tests: networks are built once per session (construction takes seconds)."""

from __future__ import annotations

import pytest

from evolve.model.evolve import EVOLVE
from tests.model.helpers import build


@pytest.fixture(scope="session")
def small_net() -> EVOLVE:
    """EVOLVE-small with events (the paper's settings), random init, eval mode."""
    return build("small")


@pytest.fixture(scope="session")
def small_frames_only() -> EVOLVE:
    """EVOLVE-small with ``events: false``."""
    return build("small", ("events=false",))
