"""The YAML config mirrors the dataclasses; bad keys and values are rejected."""

from pathlib import Path

import pytest

from evolve.synthesis.config import SimulatorConfig, SynthesisConfig, load_synthesis_config
from evolve.utils.errors import InputError

DEFAULT_YAML = Path(__file__).resolve().parents[2] / "configs" / "synthesis" / "default.yaml"


def test_default_yaml_equals_dataclass_defaults():
    assert load_synthesis_config(DEFAULT_YAML) == SynthesisConfig()


def test_overrides_apply_and_are_typed():
    c = load_synthesis_config(DEFAULT_YAML, {"simulator": {"substeps": 8}, "target_density": None, "lowlight": {"gamma_range": [2, 3]}})
    assert c.simulator.substeps == 8 and c.target_density is None and c.lowlight.gamma_range == (2.0, 3.0)


@pytest.mark.parametrize(
    "bad",
    [
        {"simulator": {"substepz": 3}},
        {"simulator": {"substeps": 0}},
        {"simulator": {"interpolation": "cubic"}},
        {"lowlight": {"gamma_range": [5, 1]}},
        {"simulate_from": "moon"},
        {"fps": -1},
    ],
)
def test_bad_config_raises_input_error(bad):
    with pytest.raises(InputError):
        load_synthesis_config(DEFAULT_YAML, bad)


def test_missing_file_raises(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load_synthesis_config(tmp_path / "nope.yaml")


def test_with_threshold_keeps_off_on_ratio():
    c = SimulatorConfig(contrast_threshold=0.2, contrast_threshold_neg=0.3).with_threshold(0.4)
    assert c.contrast_threshold == 0.4 and c.contrast_threshold_neg == pytest.approx(0.6)
    assert SimulatorConfig().with_threshold(0.5).threshold_neg_mean == 0.5
