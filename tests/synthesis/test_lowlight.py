"""Low-light synthesis: parameter ranges, stability per sequence name, the formula and the noise."""

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from evolve.synthesis.config import LowLightConfig
from evolve.synthesis.lowlight import (
    LowLightParams,
    LowLightSynthesizer,
    add_noise,
    darken,
    sample_lowlight_params,
    sample_noise_levels,
)

REPO = Path(__file__).resolve().parents[2]
NAMES = [f"seq-{i}" for i in range(300)]


def test_params_in_range_and_spread_over_it():
    cfg = LowLightConfig()
    ps = [sample_lowlight_params(cfg, 0, n) for n in NAMES]
    a = np.array([p.alpha for p in ps])
    b = np.array([p.beta for p in ps])
    g = np.array([p.gamma for p in ps])
    shot = np.array([p.lambda_shot for p in ps])
    assert a.min() >= 0.9 and a.max() <= 1.0 and b.min() >= 0.5 and b.max() <= 1.0
    assert g.min() >= 1.5 and g.max() <= 5.0
    assert shot.min() >= 1e-4 and shot.max() <= 1.2e-2
    # Uniform draws cover their ranges (300 samples: the extreme 10% of each end is hit).
    assert g.min() < 1.85 and g.max() > 4.65 and np.mean(g) == pytest.approx(3.25, abs=0.2)
    assert b.min() < 0.55 and b.max() > 0.95


def test_params_stable_per_name_and_seed():
    cfg = LowLightConfig()
    assert sample_lowlight_params(cfg, 0, "bear") == sample_lowlight_params(cfg, 0, "bear")
    assert sample_lowlight_params(cfg, 0, "bear") != sample_lowlight_params(cfg, 0, "boat")
    assert sample_lowlight_params(cfg, 0, "bear") != sample_lowlight_params(cfg, 1, "bear")


def test_params_stable_across_processes_with_different_hash_salt():
    code = (
        "from evolve.synthesis.config import LowLightConfig;"
        "from evolve.synthesis.lowlight import sample_lowlight_params as s;"
        "print(repr(s(LowLightConfig(), 3, 'blackswan')))"
    )
    outs = {
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                       cwd=REPO, env={"PYTHONHASHSEED": str(salt), "PYTHONPATH": str(REPO)}).stdout
        for salt in (1, 2)
    }
    assert len(outs) == 1 and "alpha" in outs.pop()


def test_noise_levels_follow_the_log_linear_model():
    cfg = LowLightConfig()
    rng = np.random.default_rng(0)
    draws = np.array([sample_noise_levels(cfg, rng) for _ in range(4000)])
    ls, lr = np.log(draws[:, 0]), np.log(draws[:, 1])
    assert ls.min() >= math.log(1e-4) and ls.max() <= math.log(1.2e-2)
    slope, intercept = np.polyfit(ls, lr, 1)
    assert slope == pytest.approx(2.18, abs=0.03)
    assert intercept == pytest.approx(1.20, abs=0.2)
    assert np.std(lr - (2.18 * ls + 1.20)) == pytest.approx(0.26, abs=0.01)


def test_darken_formula():
    p = LowLightParams(alpha=0.9, beta=0.6, gamma=2.5, lambda_shot=None, lambda_read=None)
    rgb = np.array([[[0, 128, 255]]], np.uint8)
    want = 0.6 * (0.9 * np.array([0, 128, 255]) / 255.0) ** 2.5
    np.testing.assert_allclose(darken(rgb, p)[0, 0], want, rtol=1e-5)


def test_noise_variance_is_shot_times_signal_plus_read():
    x = np.full((200, 200, 3), 0.2, np.float32)
    y = add_noise(x, 0.01, 1e-4, np.random.default_rng(1))
    assert float(y.var()) == pytest.approx(0.01 * 0.2 + 1e-4, rel=0.03)
    assert float(y.mean()) == pytest.approx(0.2, abs=1e-3)
    assert y.min() >= 0.0


def test_synthesizer_fixed_params_noise_per_frame(rng):
    rgb = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
    s = LowLightSynthesizer(LowLightConfig(), 0, "dog")
    f0, f0b, f1 = s.frame(rgb, 0), s.frame(rgb, 0), s.frame(rgb, 1)
    assert f0.dtype == np.uint8 and f0.shape == rgb.shape
    np.testing.assert_array_equal(f0, f0b)  # same frame index -> same noise draw
    assert not np.array_equal(f0, f1)  # noise redrawn per frame
    assert s.noise_levels(0) == s.noise_levels(7)  # noise levels fixed per video by default
    per_frame = LowLightSynthesizer(LowLightConfig(noise_params_per="frame"), 0, "dog")
    assert per_frame.noise_levels(0) != per_frame.noise_levels(1)
    clean = LowLightSynthesizer(LowLightConfig(noise=False), 0, "dog")
    want = np.rint(np.clip(darken(rgb, clean.params), 0, 1) * 255)
    np.testing.assert_array_equal(clean.frame(rgb, 3), want.astype(np.uint8))
    assert clean.frame(rgb, 0).mean() < rgb.mean()
