"""Bookkeeping shared by the generated datasets (the demo set, the procedural sets): a marker file
with the fingerprint of the settings that built a folder, and removal of a stale build."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from evolve.synthesis.config import SynthesisConfig


def built_with(marker: Path, fingerprint: str) -> bool:
    """True when ``marker`` (JSON with a ``fingerprint`` key) exists and records ``fingerprint``;
    an unreadable or malformed marker counts as a different build."""
    if not marker.is_file():
        return False
    try:
        return json.loads(marker.read_text()).get("fingerprint") == fingerprint
    except (json.JSONDecodeError, OSError, AttributeError):
        return False


def remove_generated(root: Path) -> None:
    """Delete the two generated folders under ``root``: ``DAVIS`` (the normal-light source) and
    ``LLE_DAVIS`` (its low-light + event conversion). Nothing else under ``root`` is touched."""
    for sub in ("DAVIS", "LLE_DAVIS"):
        if (root / sub).is_dir():
            shutil.rmtree(root / sub)


def seeded_synthesis(synthesis: SynthesisConfig, seed: int) -> SynthesisConfig:
    """The synthesis settings with the generator's ``seed`` (one seed drives the whole set)."""
    if synthesis.seed == seed:
        return synthesis
    return SynthesisConfig(**{**synthesis.__dict__, "seed": seed})
