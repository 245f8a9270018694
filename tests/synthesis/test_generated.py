"""The build marker of the generated datasets (evolve.synthesis.generated)."""

from __future__ import annotations

from evolve.synthesis.config import SynthesisConfig
from evolve.synthesis.generated import built_with, remove_generated, seeded_synthesis


def test_marker_matches_only_its_own_fingerprint(tmp_path):
    marker = tmp_path / "demo.json"
    assert not built_with(marker, "abc")  # no marker
    marker.write_text('{"fingerprint": "abc"}')
    assert built_with(marker, "abc") and not built_with(marker, "abd")
    marker.write_text('{"fingerprint": "ab')  # truncated JSON: a different build, never an exception
    assert not built_with(marker, "abc")
    marker.write_text('["abc"]')  # not an object
    assert not built_with(marker, "abc")


def test_remove_generated_touches_only_the_two_generated_folders(tmp_path):
    for sub in ("DAVIS", "LLE_DAVIS", "mine"):
        (tmp_path / sub).mkdir()
        (tmp_path / sub / "f.txt").write_text("x")
    remove_generated(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]


def test_seeded_synthesis_replaces_only_the_seed():
    synth = SynthesisConfig(target_density=0.8, voxels=False, seed=1)
    out = seeded_synthesis(synth, 7)
    assert out.seed == 7 and out.target_density == 0.8 and out.voxels is False and synth.seed == 1
    assert seeded_synthesis(synth, 1) is synth
