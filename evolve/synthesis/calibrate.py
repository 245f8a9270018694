"""Choose the mean contrast threshold C_mean that gives a target event density.

LLE-DAVIS has about 332k events per interval at 854x480, i.e. ~0.8 events/pixel/interval
(reference/events_and_lowlight.md 1.2); its thresholds were not disclosed, so we calibrate.

Density = total events / (pixels x intervals) over a fixed subset of intervals across the
dataset (:class:`CalibrationConfig`), simulated exactly as the converter will (same low-light
frames, same per-sequence simulator seed, same per-pixel threshold pattern). Each window
starts with uncounted warm-up intervals: right after a reset the reference equals the log
intensity (no residual), which under-counts compared with the rest of a video. The estimate
is stratified by sequence (each sequence's windows stand for all of its intervals). The density falls
monotonically as C_mean grows; C_mean is found by bisection in log C, each step trying the
log-log secant point (density is close to a power law in C) inside the current bracket.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from evolve.data.image_io import read_frame
from evolve.synthesis.config import SynthesisConfig
from evolve.synthesis.frames import prepare_frame
from evolve.synthesis.lowlight import LowLightSynthesizer
from evolve.utils.seeding import stable_seed
from evolve.synthesis.simulator import EventSimulator
from evolve.synthesis.source import SourceSequence


@dataclass
class CalibrationResult:
    """Outcome of :func:`calibrate_contrast_threshold`.

    Attributes:
        contrast_threshold: the chosen C_mean (log units).
        density: measured events/pixel/interval at that C_mean.
        target_density: the requested density.
        history: ``[(C_mean, density), ...]`` in evaluation order.
        num_sequences, num_intervals: size of the subset.
        converged: whether ``|density - target| <= rel_tolerance * target``.
    """

    contrast_threshold: float
    density: float
    target_density: float
    history: list = field(default_factory=list)
    num_sequences: int = 0
    num_intervals: int = 0
    converged: bool = False


@dataclass
class _Window:
    name: str
    start: int
    warmup: int  # leading intervals simulated but not counted
    weight: float  # sequence intervals / intervals counted in that sequence's windows
    lumas: list  # float32 (H, W) arrays, window_intervals + 1 of them
    flow_lumas: list


def window_starts(num_frames: int, windows: int, length: int) -> list[int]:
    """Start indices of up to ``windows`` evenly spaced windows of ``length`` intervals."""
    if num_frames < 2:
        return []
    last = num_frames - 1 - length
    if last <= 0:
        return [0]
    return sorted({int(round(v)) for v in np.linspace(0, last, windows)})


def _select(sequences: list[SourceSequence], max_sequences: int) -> list[SourceSequence]:
    if len(sequences) <= max_sequences:
        return list(sequences)
    idx = sorted({int(round(v)) for v in np.linspace(0, len(sequences) - 1, max_sequences)})
    return [sequences[i] for i in idx]


def load_windows(sequences: list[SourceSequence], config: SynthesisConfig) -> list[_Window]:
    """Read and darken the frames of the calibration subset (kept in memory)."""
    cal = config.calibration
    out: list[_Window] = []
    for seq in _select(sequences, cal.max_sequences):
        synth = LowLightSynthesizer(config.lowlight, config.seed, seq.name)
        n = len(seq.frames)
        length = cal.warmup_intervals + cal.window_intervals
        mine: list[_Window] = []
        for start in window_starts(n, cal.windows_per_sequence, length):
            stop = min(n, start + length + 1)
            warm = min(cal.warmup_intervals, max(0, stop - start - 2))  # keep >= 1 counted interval
            prepared = [prepare_frame(read_frame(seq.frames[i]), i, synth, config) for i in range(start, stop)]
            mine.append(_Window(seq.name, start, warm, 1.0, [p.luma for p in prepared], [p.flow_luma for p in prepared]))
        counted = sum(len(w.lumas) - 1 - w.warmup for w in mine)
        for w in mine:  # each sequence stands for all of its intervals (stratified estimate)
            w.weight = (n - 1) / counted
        out += mine
    return out


def measure_density(windows: list[_Window], config: SynthesisConfig, c_mean: float, device: torch.device | str = "cpu") -> float:
    """Estimated dataset events per pixel per interval with ON threshold mean ``c_mean``.

    Stratified by sequence: a sequence's counted intervals stand for all of its intervals, so
    long sequences weigh as much as they do in the dataset (pixel-weighted over all intervals).
    """
    sim_cfg = config.simulator.with_threshold(c_mean)
    dt = config.interval_us
    events = 0.0
    pixel_intervals = 0.0
    for w in windows:
        h, wd = w.lumas[0].shape
        sim = EventSimulator(sim_cfg, h, wd, seed=stable_seed(config.seed, w.name, "events"), device=device)
        sim.reset(w.lumas[0], w.flow_lumas[0])
        for j in range(1, len(w.lumas)):
            i = w.start + j
            n = sim.step_count(w.lumas[j], (i - 1) * dt, i * dt, w.flow_lumas[j])
            if j > w.warmup:
                events += w.weight * n
                pixel_intervals += w.weight * h * wd
    return events / max(pixel_intervals, 1)


def calibrate_contrast_threshold(
    sequences: list[SourceSequence],
    config: SynthesisConfig,
    target_density: float,
    device: torch.device | str = "cpu",
    log: Callable[[str], None] | None = None,
) -> CalibrationResult:
    """Find C_mean so the subset averages ``target_density`` events/pixel/interval.

    Args:
        sequences: the dataset's sequences (a subset is used, see :class:`CalibrationConfig`).
        config: synthesis config (its simulator threshold is replaced during the search).
        target_density: events per pixel per interval (LLE-DAVIS: ~0.8).
        device: where the simulator runs.
        log: optional progress callback (one line per evaluation).

    Returns:
        :class:`CalibrationResult`. When the target lies outside the densities reachable in
        ``[c_low, c_high]`` the nearest end is returned with ``converged=False``.

    Raises:
        ValueError: no sequence has two frames.
    """
    cal = config.calibration
    windows = load_windows(sequences, config)
    if not windows:
        raise ValueError("calibration needs at least one sequence with two or more frames")
    num_intervals = sum(len(w.lumas) - 1 - w.warmup for w in windows)
    history: list[tuple[float, float]] = []

    def f(c: float) -> float:
        d = measure_density(windows, config, c, device)
        history.append((c, d))
        if log:
            log(f"calibration: C_mean {c:.4f} -> {d:.4f} events/pixel/interval")
        return d

    def result(c: float, d: float) -> CalibrationResult:
        ok = abs(d - target_density) <= cal.rel_tolerance * target_density
        return CalibrationResult(c, d, target_density, history, len({w.name for w in windows}), num_intervals, ok)

    lo, hi = cal.c_low, cal.c_high
    f_lo, f_hi = f(lo), f(hi)
    if f_lo <= target_density:
        return result(lo, f_lo)
    if f_hi >= target_density:
        return result(hi, f_hi)
    best = (lo, f_lo) if abs(f_lo - target_density) < abs(f_hi - target_density) else (hi, f_hi)
    for it in range(cal.max_iterations):
        a, b = math.log(lo), math.log(hi)
        if f_hi > 0 and it % 3 != 2:
            # Secant in log-log space, kept inside the middle 90% of the bracket.
            s = a + (math.log(target_density) - math.log(f_lo)) * (b - a) / (math.log(f_hi) - math.log(f_lo))
            s = min(max(s, a + 0.05 * (b - a)), b - 0.05 * (b - a))
        else:
            s = 0.5 * (a + b)
        c = math.exp(s)
        d = f(c)
        if abs(d - target_density) < abs(best[1] - target_density):
            best = (c, d)
        if abs(d - target_density) <= cal.rel_tolerance * target_density:
            break
        if d > target_density:
            lo, f_lo = c, d
        else:
            hi, f_hi = c, d
    return result(*best)
