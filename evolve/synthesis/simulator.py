"""ESIM-style event simulator in torch, vectorised over pixels (CPU or CUDA).

Pixel model (DESIGN 2.5; reference/events_and_lowlight.md 1.1 and 1.5; Rebecq et al.,
"ESIM", CoRL 2018; Gehrig et al., "Video to Events", CVPR 2020):

- ``L = ln(I + eps)`` of the luma ``I`` in [0, 1] (eps 1e-3).
- Each pixel keeps a reference level ``L_ref``. Whenever ``L - L_ref`` reaches ``+C_on`` an ON
  event fires and ``L_ref += C_on``; whenever it reaches ``-C_off`` an OFF event fires and
  ``L_ref -= C_off``. The reference moves by whole thresholds, so the sub-threshold residual
  is kept across sub-steps and frames (it is never reset to ``L``).
- Per-pixel thresholds ``C ~ N(C_mean, sigma)`` clamped to ``>= threshold_min``, drawn once per
  simulator (one sequence), separately for ON and OFF.
- Each frame interval is split into K sub-steps; the intermediate frames are linear in
  intensity (``linear``), linear in log intensity (``log``) or DIS-flow warped (``flow``). Inside
  a sub-step ``L`` is interpolated linearly in time, so the k-th crossing happens at
  ``t = t_a + (L_ref + k C - L_a) / (L_b - L_a) * (t_b - t_a)`` (exact for that model).
- Optional refractory period (ESIM semantics: a suppressed event still moves the reference),
  leak events (the reference decays by ``R_leak(x) C_on dt``, ``R_leak(x) = R * 10^(s N(0,1))``,
  as v2e) and shot noise (per polarity, probability ``R_shot / 2 * dt * (1 - 0.75 I)`` per
  sub-step, uniform time, reference reset to the current level, as v2e).

All randomness is seeded by ``seed``: the per-pixel thresholds and leak rates come from a CPU
``torch.Generator`` (identical on every device), shot noise from a generator on the
simulator's device. The same seed, input and device give identical events; without shot
noise, CPU and CUDA agree up to floating-point rounding.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch

from evolve.data.events import EventChunk
from evolve.synthesis.config import SimulatorConfig
from evolve.synthesis.interpolation import bidirectional_flow, flow_interpolate

# ITU-R BT.601 luma weights (as OpenCV's RGB2GRAY and vid2e).
LUMA_WEIGHTS = (0.299, 0.587, 0.114)


def rgb_to_luma(rgb: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
    """BT.601 luma ``0.299 R + 0.587 G + 0.114 B`` in [0, 1].

    Args:
        rgb: (H, W, 3) uint8 (divided by 255), uint16 (divided by 65535) or float in [0, 1];
            numpy array or tensor.

    Returns:
        float32 (H, W), same library as the input.
    """
    if isinstance(rgb, torch.Tensor):
        x = rgb.to(torch.float32)
        if rgb.dtype == torch.uint8:
            x = x / 255.0
        w = torch.tensor(LUMA_WEIGHTS, dtype=torch.float32, device=rgb.device)
        return (x * w).sum(-1)
    a = np.asarray(rgb)
    scale = 255.0 if a.dtype == np.uint8 else 65535.0 if a.dtype == np.uint16 else 1.0
    x = a.astype(np.float32) / np.float32(scale)
    return (x @ np.asarray(LUMA_WEIGHTS, np.float32)).astype(np.float32)


class EventSimulator:
    """Streaming event simulator for one sequence (frames in, one event chunk per interval out).

    Args:
        config: simulator parameters (thresholds, sub-steps, interpolation, noise).
        height, width: frame size in pixels.
        seed: seeds the per-pixel thresholds, leak rates and noise (``torch.Generator``).
        device: where the state lives and the work runs (``"cpu"``, ``"cuda"``, ...).
        dtype: float dtype of the state (float32 default; float64 for exactness tests).

    Usage::

        sim = EventSimulator(cfg, h, w, seed=0, device="cpu")
        sim.reset(luma0)                          # float (H, W) in [0, 1]
        chunk = sim.step(luma1, 0.0, 40000.0)     # events of [0, 40000) microseconds

    Attributes:
        c_on, c_off: float (H, W) per-pixel ON/OFF contrast thresholds (log units).
    """

    def __init__(
        self,
        config: SimulatorConfig,
        height: int,
        width: int,
        seed: int = 0,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> None:
        if height < 1 or width < 1:
            raise ValueError(f"frame size must be positive, got {height}x{width}")
        self.config = config
        self.height, self.width = int(height), int(width)
        self.device = torch.device(device)
        self.dtype = dtype
        shape = (self.height, self.width)
        # Per-sequence maps come from a CPU generator, so they are the same on every device.
        cpu_gen = torch.Generator(device="cpu")
        cpu_gen.manual_seed(int(seed))
        z = torch.randn((2, *shape), generator=cpu_gen, dtype=torch.float64).to(self.device, dtype)  # (2, H, W)
        self.c_on = (config.contrast_threshold + config.threshold_sigma * z[0]).clamp_min(config.threshold_min)
        self.c_off = (config.threshold_neg_mean + config.threshold_sigma * z[1]).clamp_min(config.threshold_min)
        self.leak_rate = None
        if config.leak_rate_hz > 0:
            spread = torch.randn(shape, generator=cpu_gen, dtype=torch.float64).to(self.device, dtype)  # (H, W)
            self.leak_rate = config.leak_rate_hz * torch.pow(10.0, config.leak_spread_decades * spread)  # (H, W) Hz
        # Per-step noise is drawn on the simulator's device.
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(int(seed) ^ 0x5EED)
        self._intensity: torch.Tensor | None = None  # (H, W) luma of the last frame
        self._log: torch.Tensor | None = None  # (H, W) ln(luma + eps) of the last frame
        self._ref: torch.Tensor | None = None  # (H, W) reference level L_ref
        self._t_last: torch.Tensor | None = None  # (H, W) float64 time of the last emitted event, us
        self._flow_source: np.ndarray | None = None  # last frame for flow estimation (H, W) float32

    # ------------------------------------------------------------------ state
    def _as_luma(self, luma: np.ndarray | torch.Tensor, name: str) -> torch.Tensor:
        t = torch.as_tensor(luma)
        if t.dim() != 2 or tuple(t.shape) != (self.height, self.width):
            raise ValueError(f"{name} must be (H, W) = ({self.height}, {self.width}), got {tuple(t.shape)}")
        if not torch.is_floating_point(t):
            raise ValueError(f"{name} must be a float luma in [0, 1], got dtype {t.dtype}")
        return t.to(device=self.device, dtype=self.dtype).clamp(0.0, 1.0)

    def _log_of(self, intensity: torch.Tensor) -> torch.Tensor:
        return torch.log(intensity + self.config.log_eps)

    def reset(self, first_luma: np.ndarray | torch.Tensor, flow_luma: np.ndarray | None = None) -> None:
        """Start a sequence at ``first_luma``: the reference level is set to its log intensity.

        Args:
            first_luma: float (H, W) luma in [0, 1] (numpy or tensor).
            flow_luma: optional float (H, W) frame that optical flow is computed on instead of
                ``first_luma`` (``interpolation="flow"`` only; e.g. the normal-light frame).

        Raises:
            ValueError: wrong shape or dtype.
        """
        intensity = self._as_luma(first_luma, "first_luma")
        self._intensity = intensity
        self._log = self._log_of(intensity)
        self._ref = self._log.clone()
        self._t_last = torch.full((self.height, self.width), -math.inf, dtype=torch.float64, device=self.device)
        if self.config.interpolation == "flow":
            src = first_luma if flow_luma is None else flow_luma
            self._flow_source = np.asarray(torch.as_tensor(src).detach().cpu().float().numpy(), np.float32)

    @property
    def reference(self) -> torch.Tensor:
        """float (H, W) current reference levels ``L_ref`` (log units); after :meth:`reset`."""
        if self._ref is None:
            raise RuntimeError("call reset(first_luma) before using the simulator")
        return self._ref

    # ------------------------------------------------------------------ sub-steps
    def _substep_logs(
        self, next_intensity: torch.Tensor, next_log: torch.Tensor, flow_luma: np.ndarray | None
    ) -> list[torch.Tensor]:
        """Log intensities at the K sub-step ends, the last being the new frame."""
        cfg = self.config
        k_total = cfg.substeps
        fracs = [k / k_total for k in range(1, k_total)]
        if cfg.interpolation == "log":
            mids = [self._log + (next_log - self._log) * f for f in fracs]
        elif cfg.interpolation == "linear":
            mids = [self._log_of(self._intensity + (next_intensity - self._intensity) * f) for f in fracs]
        else:  # flow
            nxt = np.asarray(torch.as_tensor(flow_luma if flow_luma is not None else next_intensity).detach().cpu().float().numpy(), np.float32)
            mids = []
            if fracs:
                f01, f10 = bidirectional_flow(self._flow_source, nxt, cfg.flow_preset)
                f01_t = torch.from_numpy(f01).to(self.device, self.dtype)  # (H, W, 2)
                f10_t = torch.from_numpy(f10).to(self.device, self.dtype)  # (H, W, 2)
                for f in fracs:
                    mid = flow_interpolate(self._intensity, next_intensity, f01_t, f10_t, f).clamp(0.0, 1.0)
                    mids.append(self._log_of(mid))
            self._flow_source = nxt
        return mids + [next_log]

    def _crossings(
        self, log_a: torch.Tensor, log_b: torch.Tensor, t_a: float, t_b: float, count_only: bool
    ) -> tuple | int:
        """Threshold crossings of one sub-step; advances the reference. Returns events or a count."""
        cfg = self.config
        ref = self._ref
        dt_us = t_b - t_a
        target_b = log_b
        drift = None
        if self.leak_rate is not None:
            # Leak: the reference decays linearly during the sub-step; equivalently L drifts up.
            drift = self.leak_rate * self.c_on * (dt_us * 1e-6)  # (H, W) log units
            target_b = log_b + drift
        diff = target_b - ref  # (H, W)
        n_on = torch.floor(diff / self.c_on).clamp_min_(0)  # (H, W) number of ON crossings
        n_off = torch.floor(-diff / self.c_off).clamp_min_(0)  # (H, W) number of OFF crossings
        n = (n_on + n_off).reshape(-1)  # only one of the two is non-zero per pixel
        if count_only:
            total = int(n.sum().item())
            if total:
                self._ref = ref + n_on * self.c_on - n_off * self.c_off
                if drift is not None:
                    self._ref = self._ref - drift
            elif drift is not None:
                self._ref = ref - drift
            return total
        active = torch.nonzero(n > 0).squeeze(1)  # (A,) flat pixel indices
        events = None
        if active.numel():
            counts = n[active].long()  # (A,)
            flat_on = (n_on.reshape(-1)[active] > 0)  # (A,) bool
            c_flat = torch.where(flat_on, self.c_on.reshape(-1)[active], self.c_off.reshape(-1)[active])
            sign = torch.where(flat_on, 1.0, -1.0).to(self.dtype)  # (A,)
            src = torch.repeat_interleave(counts)  # (E,) index into the A active pixels
            pix = active[src]  # (E,) flat pixel of each event
            first = torch.cumsum(counts, 0) - counts  # (A,) index of each pixel's first event
            k = torch.arange(src.numel(), device=self.device) - first[src] + 1  # (E,) crossing rank 1..n
            # Crossing levels and their times, in float64 for exact timestamps.
            la_a = log_a.reshape(-1)[active].double()  # (A,)
            step_a = (sign * c_flat).double()  # (A,) signed threshold
            slope_a = target_b.reshape(-1)[active].double() - la_a  # (A,) change of L over the sub-step
            offset_a = ref.reshape(-1)[active].double() - la_a  # (A,) reference relative to L_a
            ok = slope_a.abs() > 1e-12  # a flat L (possible only with leak/noise resets) fires at t_a
            inv = torch.where(ok, 1.0 / torch.where(ok, slope_a, torch.ones_like(slope_a)), torch.zeros_like(slope_a))
            # frac_k = (L_ref + k*C - L_a) / (L_b - L_a) = base + k * inc, per active pixel.
            base, inc = offset_a * inv, step_a * inv  # (A,)
            frac = (base[src] + k.double() * inc[src]).clamp_(0.0, 1.0)  # (E,) position in the sub-step
            t = t_a + frac * dt_us  # (E,) float64 microseconds
            pol = torch.where(flat_on, 1, -1).to(torch.int8)[src]  # (E,)
            keep = None
            if cfg.refractory_us > 0:
                keep = self._refractory(pix, k, t)
            events = (pix, t, pol) if keep is None else (pix[keep], t[keep], pol[keep])
            self._ref = ref + n_on * self.c_on - n_off * self.c_off
        if drift is not None:
            self._ref = self._ref - drift
        return events

    def _refractory(self, pix: torch.Tensor, k: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Keep an event only if more than ``refractory_us`` after the pixel's last emitted one.

        Events of one pixel are visited in crossing order (k = 1, 2, ...), one rank at a time.
        """
        keep = torch.zeros(pix.numel(), dtype=torch.bool, device=self.device)
        t_last = self._t_last.reshape(-1)
        tau = self.config.refractory_us
        for rank in range(1, int(k.max().item()) + 1):
            idx = torch.nonzero(k == rank).squeeze(1)  # events that are their pixel's rank-th
            ok = (t[idx] - t_last[pix[idx]]) > tau
            chosen = idx[ok]
            keep[chosen] = True
            t_last[pix[chosen]] = t[chosen]
        return keep

    def _shot_noise(self, intensity_b: torch.Tensor, log_b: torch.Tensor, t_a: float, t_b: float):
        """Shot-noise events of one sub-step (v2e model); resets the reference where they fire."""
        cfg = self.config
        dt_s = (t_b - t_a) * 1e-6
        p_each = (cfg.shot_noise_rate_hz / 2.0) * dt_s * (1.0 - 0.75 * intensity_b)  # (H, W) per polarity
        u = torch.rand((self.height, self.width), generator=self.generator, device=self.device, dtype=self.dtype)
        on = u < p_each
        off = (u >= p_each) & (u < 2.0 * p_each)
        fire = (on | off).reshape(-1)
        pix = torch.nonzero(fire).squeeze(1)  # (S,)
        if pix.numel() == 0:
            return None
        frac = torch.rand(pix.numel(), generator=self.generator, device=self.device, dtype=torch.float64)
        t = t_a + frac * (t_b - t_a)
        pol = torch.where(on.reshape(-1)[pix], 1, -1).to(torch.int8)
        ref = self._ref.reshape(-1).clone()
        ref[pix] = log_b.reshape(-1)[pix]
        self._ref = ref.view(self.height, self.width)
        if cfg.refractory_us > 0:
            t_last = self._t_last.reshape(-1)
            ok = (t - t_last[pix]).abs() > cfg.refractory_us
            pix, t, pol = pix[ok], t[ok], pol[ok]
            t_last[pix] = torch.maximum(t_last[pix], t)
        return pix, t, pol

    # ------------------------------------------------------------------ public API
    def step(
        self,
        next_luma: np.ndarray | torch.Tensor,
        t_start_us: float,
        t_end_us: float,
        flow_luma: np.ndarray | None = None,
    ) -> EventChunk:
        """Simulate the interval from the last frame to ``next_luma``.

        Args:
            next_luma: float (H, W) luma in [0, 1] of the frame that ends the interval.
            t_start_us, t_end_us: interval times in microseconds, ``0 <= t_start < t_end``.
            flow_luma: optional (H, W) frame for flow estimation (``interpolation="flow"``).

        Returns:
            :class:`EventChunk` sorted by t: x, y int64 (pixels), t float64 microseconds in
            ``[t_start, t_end]`` (exact crossing times; an event exactly at ``t_end`` means the
            level was crossed at the new frame), p int8 in {-1, +1}. It satisfies
            :func:`evolve.data.events.validate_events`.

        Raises:
            RuntimeError: :meth:`reset` was not called.
            ValueError: bad shape/dtype or times.
        """
        return self._advance(next_luma, t_start_us, t_end_us, flow_luma, count_only=False)

    def step_count(self, next_luma: np.ndarray | torch.Tensor, t_start_us: float, t_end_us: float,
                   flow_luma: np.ndarray | None = None) -> int:
        """Like :meth:`step` (same state update) but returns only the number of events.

        Faster (no timestamps) when there is no refractory period and no shot noise; used by the
        threshold calibration.
        """
        return self._advance(next_luma, t_start_us, t_end_us, flow_luma, count_only=True)

    def _advance(self, next_luma, t_start_us: float, t_end_us: float, flow_luma, count_only: bool):
        if self._ref is None:
            raise RuntimeError("call reset(first_luma) before step()")
        t_start_us, t_end_us = float(t_start_us), float(t_end_us)
        if not (math.isfinite(t_start_us) and math.isfinite(t_end_us) and 0 <= t_start_us < t_end_us):
            raise ValueError(f"need 0 <= t_start_us < t_end_us, got {t_start_us}, {t_end_us}")
        cfg = self.config
        exact_count = count_only and cfg.refractory_us == 0 and cfg.shot_noise_rate_hz == 0
        intensity = self._as_luma(next_luma, "next_luma")
        log_next = self._log_of(intensity)
        logs = self._substep_logs(intensity, log_next, flow_luma)  # K tensors (H, W)
        k_total = cfg.substeps
        parts: list[tuple] = []
        count = 0
        log_a = self._log
        prev_intensity = self._intensity
        for j, log_b in enumerate(logs):
            t_a = t_start_us + (t_end_us - t_start_us) * j / k_total
            t_b = t_end_us if j == k_total - 1 else t_start_us + (t_end_us - t_start_us) * (j + 1) / k_total
            out = self._crossings(log_a, log_b, t_a, t_b, exact_count)
            if exact_count:
                count += out
            elif out is not None:
                parts.append(out)
            if cfg.shot_noise_rate_hz > 0:
                frac_b = (j + 1) / k_total
                intensity_b = prev_intensity + (intensity - prev_intensity) * frac_b
                noise = self._shot_noise(intensity_b, log_b, t_a, t_b)
                if noise is not None:
                    parts.append(noise)
            log_a = log_b
        self._intensity, self._log = intensity, log_next
        if exact_count:
            return count
        if count_only:
            return int(sum(p[0].numel() for p in parts))
        return self._to_chunk(parts)

    def _to_chunk(self, parts: list[tuple]) -> EventChunk:
        if not parts:
            return EventChunk(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float64), np.zeros(0, np.int8))
        pix = torch.cat([p[0] for p in parts])  # (E,)
        t = torch.cat([p[1] for p in parts])  # (E,) float64
        pol = torch.cat([p[2] for p in parts])  # (E,)
        t, order = torch.sort(t, stable=True)
        pix, pol = pix[order], pol[order]
        x = (pix % self.width).cpu().numpy().astype(np.int64)
        y = torch.div(pix, self.width, rounding_mode="floor").cpu().numpy().astype(np.int64)
        return EventChunk(x, y, t.cpu().numpy(), pol.cpu().numpy().astype(np.int8))


def simulate_frames(
    config: SimulatorConfig,
    lumas: Sequence[np.ndarray | torch.Tensor] | np.ndarray | torch.Tensor,
    seed: int = 0,
    device: torch.device | str = "cpu",
    fps: float = 25.0,
    t0_us: float = 0.0,
) -> list[EventChunk]:
    """Events of a whole clip: one chunk per interval (``len(lumas) - 1`` chunks).

    Args:
        config: simulator parameters.
        lumas: T float lumas (H, W) in [0, 1], or a (T, H, W) array/tensor.
        seed: simulator seed.
        device: where to run.
        fps: frame rate; interval ``i`` (ending at frame ``i``) spans
            ``[t0 + (i-1) 1e6/fps, t0 + i 1e6/fps)`` microseconds.
        t0_us: time of the first frame in microseconds.

    Returns:
        List of :class:`EventChunk`; element ``i - 1`` belongs to frame ``i``.

    Raises:
        ValueError: fewer than one frame, or frames of different sizes.
    """
    if isinstance(lumas, (np.ndarray, torch.Tensor)):
        frames = [lumas[i] for i in range(lumas.shape[0])]  # (T, H, W) -> T x (H, W)
    else:
        frames = list(lumas)
    if not frames:
        raise ValueError("simulate_frames needs at least one frame")
    h, w = frames[0].shape[-2:]
    sim = EventSimulator(config, h, w, seed=seed, device=device)
    sim.reset(frames[0])
    dt = 1e6 / fps
    return [sim.step(f, t0_us + (i - 1) * dt, t0_us + i * dt) for i, f in enumerate(frames) if i > 0]
