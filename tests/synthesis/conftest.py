"""Fixtures: tiny source datasets for the converter tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.synthesis.tiny_datasets import make_davis2016, make_youtube_vos


@pytest.fixture
def davis2016_tiny(tmp_path: Path) -> Path:
    return make_davis2016(tmp_path / "src2016")


@pytest.fixture
def ytvos_tiny(tmp_path: Path) -> Path:
    return make_youtube_vos(tmp_path / "srcyt")
