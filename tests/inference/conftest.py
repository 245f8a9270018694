"""Fixtures of the inference tests: one small network per session (construction takes seconds)."""

from __future__ import annotations

import pytest

from evolve.model.evolve import EVOLVE
from tests.model.helpers import build


@pytest.fixture(scope="session")
def small_net() -> EVOLVE:
    """EVOLVE-small with events, random init (seed 0), eval mode."""
    return build("small")
