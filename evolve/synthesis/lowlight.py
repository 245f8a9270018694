"""Low-light frame synthesis: gamma darkening plus heteroscedastic Poisson-Gaussian noise.

Recipe (DESIGN 2.2 and 2.5; Lv et al., IJCV 2021 for the darkening; Brooks et al., CVPR 2019
"Unprocessing" for the noise levels), on sRGB values ``I`` in [0, 1]:

    x     = beta * (alpha * I) ** gamma                      alpha, beta, gamma fixed per video
    y     = x + n,  n ~ N(0, lambda_shot * x + lambda_read)  noise redrawn for every frame
    y_out = round(clip(y, 0, 1) * (2**bits - 1))             8-bit output

    log lambda_shot ~ U(log 1e-4, log 1.2e-2)
    log lambda_read ~ N(2.18 * log lambda_shot + 1.20, 0.26)

Every draw comes from a numpy generator seeded by (seed, sequence name, ...) through
:func:`evolve.utils.seeding.stable_seed`, so a sequence always gets the same
parameters and the same per-frame noise, whatever order or process it is converted in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from evolve.synthesis.config import LowLightConfig
from evolve.utils.seeding import numpy_rng


@dataclass(frozen=True)
class LowLightParams:
    """Per-video darkening parameters and noise levels.

    Attributes:
        alpha, beta, gamma: ``x = beta * (alpha * I) ** gamma``.
        lambda_shot, lambda_read: noise variance ``lambda_shot * x + lambda_read``; ``None``
            when noise is off or the levels are drawn per frame.
    """

    alpha: float
    beta: float
    gamma: float
    lambda_shot: float | None
    lambda_read: float | None


def sample_noise_levels(config: LowLightConfig, rng: np.random.Generator) -> tuple[float, float]:
    """Draw ``(lambda_shot, lambda_read)`` (Brooks et al. 2019; DESIGN 2.5).

    ``log lambda_shot ~ U(log lo, log hi)``; ``log lambda_read ~ N(slope * log lambda_shot + intercept, std)``.
    """
    lo, hi = config.lambda_shot_range
    log_shot = rng.uniform(math.log(lo), math.log(hi))
    log_read = rng.normal(config.read_log_slope * log_shot + config.read_log_intercept, config.read_log_std)
    return float(math.exp(log_shot)), float(math.exp(log_read))


def sample_lowlight_params(config: LowLightConfig, seed: int, sequence: str) -> LowLightParams:
    """Draw the per-video parameters of ``sequence`` (stable for a given seed and name).

    alpha ~ U(alpha_range), beta ~ U(beta_range), gamma ~ U(gamma_range), then (when noise is on
    and drawn per video) the noise levels, all from ``numpy_rng(seed, sequence, "lowlight")``.
    """
    rng = numpy_rng(seed, sequence, "lowlight")
    alpha = float(rng.uniform(*config.alpha_range))
    beta = float(rng.uniform(*config.beta_range))
    gamma = float(rng.uniform(*config.gamma_range))
    shot = read = None
    if config.noise and config.noise_params_per == "video":
        shot, read = sample_noise_levels(config, rng)
    return LowLightParams(alpha, beta, gamma, shot, read)


def darken(rgb: np.ndarray, params: LowLightParams) -> np.ndarray:
    """Apply ``beta * (alpha * I) ** gamma`` (Lv et al. 2021).

    Args:
        rgb: uint8 (H, W, 3) frame, or float (H, W, 3) in [0, 1].

    Returns:
        float32 (H, W, 3) in [0, beta].
    """
    x = rgb.astype(np.float32) / 255.0 if rgb.dtype == np.uint8 else np.clip(rgb.astype(np.float32), 0.0, 1.0)
    return (params.beta * np.power(params.alpha * x, params.gamma)).astype(np.float32)


def add_noise(x: np.ndarray, lambda_shot: float, lambda_read: float, rng: np.random.Generator) -> np.ndarray:
    """Heteroscedastic Gaussian approximation of Poisson-Gaussian noise, clipped to [0, 1].

    Args:
        x: float32 (H, W, 3) clean signal in [0, 1].
        lambda_shot, lambda_read: variance ``lambda_shot * x + lambda_read`` (Brooks et al. 2019, Eq. 5).

    Returns:
        float32 (H, W, 3) in [0, 1].
    """
    std = np.sqrt(lambda_shot * x + lambda_read).astype(np.float32)
    y = x + std * rng.standard_normal(x.shape, dtype=np.float32)
    return np.clip(y, 0.0, 1.0)


def quantize(x: np.ndarray, bits: int = 8) -> np.ndarray:
    """Round [0, 1] floats to ``2**bits - 1`` levels: uint8 for bits <= 8, else uint16."""
    levels = (1 << bits) - 1
    q = np.rint(np.clip(x, 0.0, 1.0) * levels)
    return q.astype(np.uint8 if bits <= 8 else np.uint16)


class LowLightSynthesizer:
    """Darkens the frames of one video: fixed (alpha, beta, gamma), noise per frame.

    Args:
        config: the recipe.
        seed: global seed.
        sequence: the sequence name (parameters are stable per name).

    The noise of frame ``index`` is drawn from ``numpy_rng(seed, sequence, "noise", index)``, so
    frames can be synthesised in any order with identical results.
    """

    def __init__(self, config: LowLightConfig, seed: int, sequence: str) -> None:
        self.config = config
        self.seed = seed
        self.sequence = sequence
        self.params = sample_lowlight_params(config, seed, sequence)

    def noise_levels(self, index: int) -> tuple[float, float] | None:
        """``(lambda_shot, lambda_read)`` used for frame ``index``; ``None`` without noise."""
        if not self.config.noise:
            return None
        if self.config.noise_params_per == "video":
            return self.params.lambda_shot, self.params.lambda_read
        return sample_noise_levels(self.config, numpy_rng(self.seed, self.sequence, "noise-levels", index))

    def clean(self, rgb: np.ndarray) -> np.ndarray:
        """Darkened, noise-free frame: float32 (H, W, 3) in [0, 1]."""
        return darken(rgb, self.params)

    def frame(self, rgb: np.ndarray, index: int) -> np.ndarray:
        """The low-light version of frame ``index``.

        Args:
            rgb: uint8 (H, W, 3) normal-light RGB frame.
            index: frame position in the video (0-based), selects the noise draw.

        Returns:
            uint8 (H, W, 3) (uint16 when ``bits > 8``) low-light frame.
        """
        x = self.clean(rgb)
        levels = self.noise_levels(index)
        if levels is not None:
            x = add_noise(x, levels[0], levels[1], numpy_rng(self.seed, self.sequence, "noise", index))
        return quantize(x, self.config.bits)
