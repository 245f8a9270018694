"""Typed configuration of low-light synthesis, the event simulator and the converter.

The defaults mirror ``configs/synthesis/default.yaml`` (a test checks that they agree).
Ranges and formulas: DESIGN 2.2 (LLE-DAVIS recipe), 2.5 (our synthesis tool) and
``reference/events_and_lowlight.md`` sections 1.5 and 3.

Load a YAML file with :func:`load_synthesis_config`; an unknown key is an error (OmegaConf
structured config), and every value is checked in ``__post_init__``.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Tuple

from evolve.utils.errors import InputError

INTERPOLATIONS = ("linear", "log", "flow")
SIMULATE_FROM = ("lowlight", "lowlight_clean", "normal")
NOISE_PARAMS_PER = ("video", "frame")


def _range(name: str, value: Any, low: float = -math.inf, high: float = math.inf) -> Tuple[float, float]:
    """Check a ``(min, max)`` pair (lists from YAML accepted) and return it as a tuple."""
    if len(value) != 2:
        raise ValueError(f"{name} must be a (min, max) pair, got {value!r}")
    a, b = float(value[0]), float(value[1])
    if not (low <= a <= b <= high):
        raise ValueError(f"{name} = ({a}, {b}) must satisfy {low} <= min <= max <= {high}")
    return (a, b)


@dataclass
class LowLightConfig:
    """Low-light synthesis ``I_low = beta * (alpha * I) ** gamma`` plus Poisson-Gaussian noise.

    Source: DESIGN 2.2 / 2.5; Lv et al. (IJCV 2021) for the darkening ranges; Brooks et al.
    (CVPR 2019, "Unprocessing") for the noise levels. ``alpha, beta, gamma`` are drawn once per
    video; the noise realisation is redrawn for every frame.

    Attributes:
        alpha_range: U(min, max) of the linear pre-scale alpha.
        beta_range: U(min, max) of the linear post-scale beta.
        gamma_range: U(min, max) of the gamma exponent.
        noise: add heteroscedastic Gaussian noise of variance ``lambda_shot * x + lambda_read``.
        lambda_shot_range: ``log lambda_shot ~ U(log min, log max)``.
        read_log_slope, read_log_intercept, read_log_std:
            ``log lambda_read ~ N(slope * log lambda_shot + intercept, std)``.
        noise_params_per: ``video`` draws (lambda_shot, lambda_read) once per video (the noise
            distribution is fixed, its realisation is per frame); ``frame`` redraws them per frame.
        bits: output quantisation (8 = uint8 frames).
    """

    alpha_range: Tuple[float, float] = (0.9, 1.0)
    beta_range: Tuple[float, float] = (0.5, 1.0)
    gamma_range: Tuple[float, float] = (1.5, 5.0)
    noise: bool = True
    lambda_shot_range: Tuple[float, float] = (1e-4, 1.2e-2)
    read_log_slope: float = 2.18
    read_log_intercept: float = 1.20
    read_log_std: float = 0.26
    noise_params_per: str = "video"
    bits: int = 8

    def __post_init__(self) -> None:
        self.alpha_range = _range("lowlight.alpha_range", self.alpha_range, 0.0)
        self.beta_range = _range("lowlight.beta_range", self.beta_range, 0.0)
        self.gamma_range = _range("lowlight.gamma_range", self.gamma_range, 1e-6)
        self.lambda_shot_range = _range("lowlight.lambda_shot_range", self.lambda_shot_range, 1e-12)
        if self.read_log_std < 0:
            raise ValueError("lowlight.read_log_std must be >= 0")
        if self.noise_params_per not in NOISE_PARAMS_PER:
            raise ValueError(f"lowlight.noise_params_per must be one of {NOISE_PARAMS_PER}, got {self.noise_params_per!r}")
        if not 1 <= self.bits <= 16:
            raise ValueError(f"lowlight.bits must be in 1..16, got {self.bits}")


@dataclass
class SimulatorConfig:
    """ESIM-style event simulator (DESIGN 2.5; reference/events_and_lowlight.md 1.5).

    Attributes:
        contrast_threshold: C_mean of the ON threshold, in log-intensity units.
        contrast_threshold_neg: C_mean of the OFF threshold; ``None`` = same as ON.
        threshold_sigma: per-pixel mismatch, ``C ~ N(C_mean, sigma)`` drawn once per sequence.
        threshold_min: lower clamp of every per-pixel threshold.
        log_eps: ``L = ln(I + eps)`` with luma ``I`` in [0, 1].
        substeps: K sub-steps per frame interval (4 mimics 25 -> 100 fps).
        interpolation: intermediate frames ``linear`` in intensity, ``log`` (linear in log
            intensity) or ``flow`` (OpenCV DIS optical flow, warped and blended).
        flow_preset: DIS preset for ``flow``: ``ultrafast``, ``fast`` or ``medium``.
        refractory_us: refractory period in microseconds (0 = none). As ESIM, the reference
            level advances even when an event is suppressed.
        leak_rate_hz: leak-event rate per pixel in Hz (0 = none); the reference decays by
            ``rate * C_on * dt``, with a per-pixel log-normal rate spread.
        leak_spread_decades: std of ``log10`` of the per-pixel leak-rate factor.
        shot_noise_rate_hz: shot-noise event rate per pixel in Hz at luma 0 (0 = none),
            scaled by ``1 - 0.75 * I``; a noise event resets the reference to the current level.
    """

    contrast_threshold: float = 0.2
    contrast_threshold_neg: Optional[float] = None
    threshold_sigma: float = 0.03
    threshold_min: float = 0.01
    log_eps: float = 1e-3
    substeps: int = 4
    interpolation: str = "linear"
    flow_preset: str = "fast"
    refractory_us: float = 0.0
    leak_rate_hz: float = 0.0
    leak_spread_decades: float = 0.1
    shot_noise_rate_hz: float = 0.0

    def __post_init__(self) -> None:
        if not self.contrast_threshold > 0:
            raise ValueError(f"simulator.contrast_threshold must be > 0, got {self.contrast_threshold}")
        if self.contrast_threshold_neg is not None and not self.contrast_threshold_neg > 0:
            raise ValueError(f"simulator.contrast_threshold_neg must be > 0, got {self.contrast_threshold_neg}")
        if self.threshold_sigma < 0 or self.threshold_min <= 0:
            raise ValueError("simulator.threshold_sigma must be >= 0 and simulator.threshold_min > 0")
        if not self.log_eps > 0:
            raise ValueError(f"simulator.log_eps must be > 0, got {self.log_eps}")
        if self.substeps < 1:
            raise ValueError(f"simulator.substeps must be >= 1, got {self.substeps}")
        if self.interpolation not in INTERPOLATIONS:
            raise ValueError(f"simulator.interpolation must be one of {INTERPOLATIONS}, got {self.interpolation!r}")
        if self.flow_preset not in ("ultrafast", "fast", "medium"):
            raise ValueError(f"simulator.flow_preset must be ultrafast, fast or medium, got {self.flow_preset!r}")
        for name in ("refractory_us", "leak_rate_hz", "leak_spread_decades", "shot_noise_rate_hz"):
            if getattr(self, name) < 0:
                raise ValueError(f"simulator.{name} must be >= 0")

    @property
    def threshold_neg_mean(self) -> float:
        """C_mean of the OFF threshold (the ON one when ``contrast_threshold_neg`` is None)."""
        return self.contrast_threshold if self.contrast_threshold_neg is None else self.contrast_threshold_neg

    def with_threshold(self, c_mean: float) -> "SimulatorConfig":
        """A copy with ON threshold ``c_mean``; an explicit OFF threshold keeps its ratio to ON."""
        neg = None
        if self.contrast_threshold_neg is not None:
            neg = self.contrast_threshold_neg * c_mean / self.contrast_threshold
        return dataclasses.replace(self, contrast_threshold=float(c_mean), contrast_threshold_neg=neg)


@dataclass
class CalibrationConfig:
    """Choice of C_mean for a target event density (``--target-density``).

    Density = events / (pixels * intervals) over a subset of intervals across the dataset:
    ``windows_per_sequence`` windows of ``window_intervals`` consecutive intervals, evenly
    spaced in each of up to ``max_sequences`` sequences (evenly spaced over the dataset), each
    window preceded by ``warmup_intervals`` simulated but uncounted intervals (after a reset the
    reference has no residual yet, which under-counts). Each sequence's windows stand for all of
    its intervals (a stratified estimate of the pixel-weighted dataset density).
    C_mean is found by bisection in log C between ``c_low`` and ``c_high`` (each step tries the
    log-log secant point and falls back to the midpoint), stopping at ``rel_tolerance``.
    """

    max_sequences: int = 16
    windows_per_sequence: int = 6
    window_intervals: int = 2
    warmup_intervals: int = 1
    c_low: float = 0.02
    c_high: float = 4.0
    rel_tolerance: float = 0.01
    max_iterations: int = 24

    def __post_init__(self) -> None:
        if min(self.max_sequences, self.windows_per_sequence, self.window_intervals, self.max_iterations) < 1:
            raise ValueError("calibration counts must be >= 1")
        if self.warmup_intervals < 0:
            raise ValueError("calibration.warmup_intervals must be >= 0")
        if not 0 < self.c_low < self.c_high:
            raise ValueError("calibration needs 0 < c_low < c_high")
        if not 0 < self.rel_tolerance < 1:
            raise ValueError("calibration.rel_tolerance must be in (0, 1)")


@dataclass
class SynthesisConfig:
    """Everything the converter (``evolve-synthesize``) needs.

    Attributes:
        seed: global seed; every random draw is seeded by (seed, sequence name, purpose).
        fps: frame rate assumed for the source (LLE-DAVIS: 25), so interval ``i`` spans
            ``[(i-1) * 1e6/fps, i * 1e6/fps)`` microseconds.
        target_density: events per pixel per interval to calibrate C_mean to (LLE-DAVIS ~0.8);
            ``None`` uses ``simulator.contrast_threshold`` as given.
        simulate_from: events from the ``lowlight`` 8-bit noisy frames (LLE-DAVIS),
            ``lowlight_clean`` (darkened, noise-free, not quantised) or the ``normal`` frames.
        voxels: also write ``EventVoxel/<seq>/<frame>.npy`` float32 (num_bins, H, W).
        num_bins: voxel-grid bins B (EVOLVE: 5).
        jpeg_quality: quality of written JPEGs (normal frames re-encoded from non-JPEG, low-light).
    """

    seed: int = 0
    fps: float = 25.0
    target_density: Optional[float] = 0.8
    simulate_from: str = "lowlight"
    voxels: bool = False
    num_bins: int = 5
    jpeg_quality: int = 95
    lowlight: LowLightConfig = field(default_factory=LowLightConfig)
    simulator: SimulatorConfig = field(default_factory=SimulatorConfig)
    calibration: CalibrationConfig = field(default_factory=CalibrationConfig)

    def __post_init__(self) -> None:
        if not self.fps > 0:
            raise ValueError(f"fps must be > 0, got {self.fps}")
        if self.target_density is not None and not self.target_density > 0:
            raise ValueError(f"target_density must be > 0, got {self.target_density}")
        if self.simulate_from not in SIMULATE_FROM:
            raise ValueError(f"simulate_from must be one of {SIMULATE_FROM}, got {self.simulate_from!r}")
        if self.num_bins < 1:
            raise ValueError("num_bins must be >= 1")
        if not 1 <= self.jpeg_quality <= 100:
            raise ValueError("jpeg_quality must be in 1..100")

    @property
    def interval_us(self) -> float:
        """Length of one frame interval in microseconds (40000 at 25 fps)."""
        return 1e6 / self.fps


def load_synthesis_config(path: str | os.PathLike | None = None, overrides: dict | None = None) -> SynthesisConfig:
    """Read a synthesis YAML (keys of :class:`SynthesisConfig`) and apply ``overrides``.

    Args:
        path: YAML file; ``None`` = the dataclass defaults (same values as default.yaml).
        overrides: nested dict merged last (e.g. ``{"simulator": {"substeps": 8}}``).

    Raises:
        InputError: the file is missing, is not YAML, has an unknown key or a bad value.
    """
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    base = OmegaConf.structured(SynthesisConfig)
    src = path if path is not None else "overrides"
    try:
        parts = [base]
        if path is not None:
            if not Path(path).is_file():
                raise InputError(path, "config file does not exist", "pass an existing YAML, e.g. configs/synthesis/default.yaml")
            parts.append(OmegaConf.load(path))
        if overrides:
            parts.append(OmegaConf.create(overrides))
        merged = OmegaConf.merge(*parts)
        return OmegaConf.to_object(merged)
    except InputError:
        raise
    except (OmegaConfBaseException, ValueError, TypeError) as e:
        raise InputError(src, f"invalid synthesis config ({e})", "use the keys and value ranges of configs/synthesis/default.yaml") from e


def config_to_dict(config: Any) -> dict:
    """A JSON-ready dict of a config dataclass (tuples become lists)."""

    def conv(v: Any) -> Any:
        if isinstance(v, tuple):
            return [conv(a) for a in v]
        if isinstance(v, dict):
            return {k: conv(a) for k, a in v.items()}
        if isinstance(v, list):
            return [conv(a) for a in v]
        return v

    return conv(dataclasses.asdict(config))
