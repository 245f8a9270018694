"""The event simulator against analytic answers and slow loop oracles."""

import math

import numpy as np
import pytest
import torch

from evolve.data.events import validate_events
from evolve.synthesis.config import SimulatorConfig
from evolve.synthesis.interpolation import bidirectional_flow, flow_interpolate
from evolve.synthesis.simulator import EventSimulator, rgb_to_luma, simulate_frames

EPS = 1e-3
DT = 40000.0


def _cfg(**kw):
    base = dict(contrast_threshold=0.2, threshold_sigma=0.0, substeps=4, interpolation="linear")
    base.update(kw)
    return SimulatorConfig(**base)


def _luma_for_log(levels):
    """Intensity whose log(I + eps) equals ``levels`` (float64)."""
    return np.exp(np.asarray(levels, np.float64)) - EPS


def _per_pixel(chunk, h, w):
    on = np.zeros((h, w), int)
    off = np.zeros((h, w), int)
    np.add.at(on, (chunk.y[chunk.p > 0], chunk.x[chunk.p > 0]), 1)
    np.add.at(off, (chunk.y[chunk.p < 0], chunk.x[chunk.p < 0]), 1)
    return on, off


@pytest.mark.parametrize("interp", ["linear", "log"])
def test_identical_frames_give_no_events(rng, interp):
    frame = rng.random((20, 30)).astype(np.float32)
    sim = EventSimulator(_cfg(threshold_sigma=0.03, interpolation=interp), 20, 30, seed=1)
    sim.reset(frame)
    for i in range(1, 4):
        assert len(sim.step(frame.copy(), (i - 1) * DT, i * DT)) == 0


@pytest.mark.parametrize("substeps", [1, 3, 7])
def test_linear_log_rise_fires_at_exact_times(substeps):
    # Pixel j rises in log intensity by D_j over one interval: floor(D/C) ON events at k*C/D.
    c = 0.2
    rises = np.array([0.05, 0.21, 0.5, 0.93, 1.37, 2.05])
    start = np.full(len(rises), math.log(0.02 + EPS))
    f0 = torch.tensor(_luma_for_log(start)[None, :])
    f1 = torch.tensor(_luma_for_log(start + rises)[None, :])
    sim = EventSimulator(_cfg(contrast_threshold=c, substeps=substeps, interpolation="log"), 1, len(rises), dtype=torch.float64)
    sim.reset(f0)
    t0 = 80000.0
    chunk = sim.step(f1, t0, t0 + DT)
    assert np.all(chunk.p == 1)
    for j, d in enumerate(rises):
        times = np.sort(chunk.t[chunk.x == j])
        n = int(math.floor(d / c))
        assert len(times) == n
        np.testing.assert_allclose(times, t0 + np.arange(1, n + 1) * c / d * DT, rtol=0, atol=1e-6)


def test_float32_state_times_within_float_tolerance():
    c, d = 0.2, 0.93
    f0 = np.full((1, 1), 0.05, np.float64)
    f1 = _luma_for_log(np.log(f0 + EPS) + d)
    sim = EventSimulator(_cfg(contrast_threshold=c, substeps=5, interpolation="log"), 1, 1)
    sim.reset(torch.tensor(f0, dtype=torch.float32))
    chunk = sim.step(torch.tensor(f1, dtype=torch.float32), 0, DT)
    np.testing.assert_allclose(chunk.t, np.arange(1, 5) * c / d * DT, atol=0.05)  # 0.05 us of 40000


def _oracle_linear_intensity(i0, i1, ref, c_on, c_off, k_sub, t0, t1):
    """Slow transcription: L at sub-step ends from intensities linear in time, L linear inside a
    sub-step, an event each time L - ref reaches +-C (ref moves by C)."""
    events = []
    levels = [math.log(i0 + (i1 - i0) * j / k_sub + EPS) for j in range(k_sub + 1)]
    for j in range(k_sub):
        la, lb = levels[j], levels[j + 1]
        ta = t0 + (t1 - t0) * j / k_sub
        tb = t0 + (t1 - t0) * (j + 1) / k_sub
        while lb - ref >= c_on:
            ref += c_on
            events.append((ta + (ref - la) / (lb - la) * (tb - ta), 1))
        while ref - lb >= c_off:
            ref -= c_off
            events.append((ta + (ref - la) / (lb - la) * (tb - ta), -1))
    return events, ref


def test_linear_intensity_interpolation_matches_loop_oracle(rng):
    h, w, k_sub = 3, 4, 4
    frames = [rng.uniform(0.01, 1.0, (h, w)) for _ in range(4)]
    cfg = _cfg(contrast_threshold=0.15, contrast_threshold_neg=0.25, substeps=k_sub)
    sim = EventSimulator(cfg, h, w, seed=0, dtype=torch.float64)
    sim.reset(torch.tensor(frames[0]))
    refs = np.log(frames[0] + EPS)
    for i in range(1, len(frames)):
        chunk = sim.step(torch.tensor(frames[i]), (i - 1) * DT, i * DT)
        for y in range(h):
            for x in range(w):
                want, refs[y, x] = _oracle_linear_intensity(
                    frames[i - 1][y, x], frames[i][y, x], refs[y, x], 0.15, 0.25, k_sub, (i - 1) * DT, i * DT
                )
                sel = (chunk.x == x) & (chunk.y == y)
                got = sorted(zip(chunk.t[sel], chunk.p[sel]))
                assert len(got) == len(want)
                for (tg, pg), (tw, pw) in zip(got, sorted(want)):
                    assert pg == pw and tg == pytest.approx(tw, abs=1e-6)
        np.testing.assert_allclose(sim.reference.numpy(), refs, atol=1e-9)


def test_reversing_time_swaps_polarities(rng):
    h, w = 16, 16
    a = rng.uniform(0.0, 1.0, (h, w)).astype(np.float32)
    b = rng.uniform(0.0, 1.0, (h, w)).astype(np.float32)
    cfg = _cfg(substeps=4)
    fwd = simulate_frames(cfg, [a, b])[0]
    bwd = simulate_frames(cfg, [b, a])[0]
    on_f, off_f = _per_pixel(fwd, h, w)
    on_b, off_b = _per_pixel(bwd, h, w)
    assert len(fwd) > 100
    np.testing.assert_array_equal(on_f, off_b)
    np.testing.assert_array_equal(off_f, on_b)


def test_same_seed_same_events_different_seed_different(rng):
    frames = [rng.uniform(0, 1, (24, 24)).astype(np.float32) for _ in range(3)]
    cfg = _cfg(threshold_sigma=0.03, shot_noise_rate_hz=20.0)
    a = simulate_frames(cfg, frames, seed=5)
    b = simulate_frames(cfg, frames, seed=5)
    c = simulate_frames(cfg, frames, seed=6)
    for ca, cb in zip(a, b):
        for f in ("x", "y", "t", "p"):
            np.testing.assert_array_equal(getattr(ca, f), getattr(cb, f))
    assert any(len(ca) != len(cc) or not np.array_equal(ca.t, cc.t) for ca, cc in zip(a, c))


def test_threshold_mismatch_has_configured_spread():
    sim = EventSimulator(SimulatorConfig(contrast_threshold=0.3, threshold_sigma=0.03), 200, 200, seed=3)
    for c in (sim.c_on, sim.c_off):
        assert float(c.std()) == pytest.approx(0.03, abs=0.001)
        assert float(c.mean()) == pytest.approx(0.3, abs=0.001)
    assert not torch.equal(sim.c_on, sim.c_off)  # drawn separately for ON and OFF
    low = EventSimulator(SimulatorConfig(contrast_threshold=0.02, threshold_sigma=0.03), 200, 200, seed=3)
    assert float(low.c_on.min()) == pytest.approx(0.01)
    # Fraction clamped = P(N(0.02, 0.03) < 0.01) = Phi(-1/3) = 0.3694.
    assert float((low.c_on == 0.01).float().mean()) == pytest.approx(0.3694, abs=0.01)


def test_residual_is_kept_across_intervals():
    # +0.13 in log per interval with C = 0.2: crossings at cumulative 0.2, 0.4, 0.6,
    # i.e. in intervals 2, 4 and 5 (a reference reset to L each frame would never fire).
    c, d = 0.2, 0.13
    base = math.log(0.01 + EPS)
    sim = EventSimulator(_cfg(contrast_threshold=c, substeps=2, interpolation="log"), 1, 1, dtype=torch.float64)
    sim.reset(torch.tensor(_luma_for_log([[base]])))
    counts, times = [], []
    for i in range(1, 6):
        ch = sim.step(torch.tensor(_luma_for_log([[base + i * d]])), (i - 1) * DT, i * DT)
        counts.append(len(ch))
        times += list(ch.t)
    assert counts == [0, 1, 0, 1, 1]
    np.testing.assert_allclose(times, [k * c / d * DT for k in (1, 2, 3)], atol=1e-6)


def test_refractory_period_suppresses_close_events():
    # D = 2.0, C = 0.1: 20 events every 2000 us. A 3000 us refractory period keeps every other one.
    c, d = 0.1, 2.0
    f0 = _luma_for_log([[math.log(0.001 + EPS)]])
    f1 = _luma_for_log([[math.log(0.001 + EPS) + d]])
    for tau, want in ((0.0, np.arange(1, 21) * 2000.0), (1500.0, np.arange(1, 21) * 2000.0), (3000.0, np.arange(1, 21, 2) * 2000.0)):
        sim = EventSimulator(_cfg(contrast_threshold=c, substeps=3, interpolation="log", refractory_us=tau), 1, 1, dtype=torch.float64)
        sim.reset(torch.tensor(f0))
        ch = sim.step(torch.tensor(f1), 0, DT)
        np.testing.assert_allclose(ch.t, want, atol=1e-6)
    # The reference still advanced by all 20 thresholds (ESIM semantics).
    assert float(sim.reference[0, 0]) == pytest.approx(math.log(0.001 + EPS) + d, abs=1e-9)


def test_leak_events_fire_at_the_leak_rate():
    # Static frame, leak 8.5 Hz (no spread): the reference decays by C every 1/8.5 s.
    cfg = _cfg(leak_rate_hz=8.5, leak_spread_decades=0.0, substeps=2)
    frame = np.full((2, 3), 0.3)
    sim = EventSimulator(cfg, 2, 3, dtype=torch.float64)
    sim.reset(torch.tensor(frame))
    chunks = [sim.step(torch.tensor(frame), (i - 1) * DT, i * DT) for i in range(1, 26)]  # 1 s
    t = np.concatenate([c.t for c in chunks])
    p = np.concatenate([c.p for c in chunks])
    assert np.all(p == 1)
    assert len(t) == 8 * 6
    np.testing.assert_allclose(np.unique(np.round(t, 3)), np.arange(1, 9) / 8.5 * 1e6, atol=1e-3)


def test_shot_noise_rate_on_a_dark_static_frame():
    rate, h, w, n_int = 50.0, 64, 64, 10  # expected R * T = 50 * 0.4 s = 20 events per pixel
    frame = np.zeros((h, w), np.float32)
    sim = EventSimulator(_cfg(shot_noise_rate_hz=rate), h, w, seed=2)
    sim.reset(frame)
    chunks = [sim.step(frame, (i - 1) * DT, i * DT) for i in range(1, n_int + 1)]
    total = sum(len(c) for c in chunks)
    assert total / (h * w) == pytest.approx(20.0, rel=0.03)
    on = sum(int((c.p > 0).sum()) for c in chunks)
    assert on / total == pytest.approx(0.5, abs=0.02)
    for i, c in enumerate(chunks, start=1):
        assert c.t.min() >= (i - 1) * DT and c.t.max() <= i * DT


def test_chunks_are_valid_sorted_and_inside_the_interval(rng):
    h, w = 30, 40
    frames = [rng.uniform(0, 1, (h, w)).astype(np.float32) for _ in range(4)]
    chunks = simulate_frames(_cfg(threshold_sigma=0.03), frames, fps=25.0, t0_us=1000.0)
    assert len(chunks) == 3
    for i, c in enumerate(chunks, start=1):
        v = validate_events(c.x, c.y, c.t, c.p, source="sim", sensor_size=(h, w))
        assert len(v) == len(c) > 0
        assert c.t.min() >= 1000.0 + (i - 1) * DT and c.t.max() <= 1000.0 + i * DT


def test_step_count_matches_step(rng):
    frames = [rng.uniform(0, 1, (20, 20)).astype(np.float32) for _ in range(4)]
    cfg = _cfg(threshold_sigma=0.03)
    a = EventSimulator(cfg, 20, 20, seed=1)
    b = EventSimulator(cfg, 20, 20, seed=1)
    a.reset(frames[0])
    b.reset(frames[0])
    for i in range(1, 4):
        assert a.step_count(frames[i], (i - 1) * DT, i * DT) == len(b.step(frames[i], (i - 1) * DT, i * DT))
    assert torch.equal(a.reference, b.reference)


def test_flow_interpolation_follows_motion():
    # A smooth pattern shifted 6 px right: the flow-interpolated midpoint is close to the pattern
    # shifted 3 px, much closer than the linear blend.
    h, w = 48, 64
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)

    def pattern(shift):
        return (0.5 + 0.2 * np.sin((xx - shift) / 4.0) * np.cos(yy / 5.0) + 0.2 * np.exp(-((xx - 20 - shift) ** 2 + (yy - 24) ** 2) / 60)).astype(np.float32)

    a, b, mid = pattern(0), pattern(6), pattern(3)
    f01, f10 = bidirectional_flow(a, b, "medium")
    assert np.median(f01[8:-8, 10:-10, 0]) == pytest.approx(6.0, abs=0.5)
    got = flow_interpolate(torch.from_numpy(a), torch.from_numpy(b), torch.from_numpy(f01), torch.from_numpy(f10), 0.5).numpy()
    inner = (slice(8, -8), slice(10, -10))
    err_flow = np.abs(got - mid)[inner].mean()
    err_blend = np.abs(0.5 * (a + b) - mid)[inner].mean()
    assert err_flow < 0.4 * err_blend
    sim = EventSimulator(_cfg(interpolation="flow", substeps=4), h, w)
    sim.reset(a)
    assert len(sim.step(b, 0, DT)) > 0


def test_bad_calls_raise():
    sim = EventSimulator(_cfg(), 4, 5)
    with pytest.raises(RuntimeError):
        sim.step(np.zeros((4, 5), np.float32), 0, DT)
    with pytest.raises(ValueError):
        sim.reset(np.zeros((5, 4), np.float32))
    with pytest.raises(ValueError):
        sim.reset(np.zeros((4, 5), np.uint8))
    sim.reset(np.zeros((4, 5), np.float32))
    with pytest.raises(ValueError):
        sim.step(np.zeros((4, 5), np.float32), DT, DT)
    with pytest.raises(ValueError):
        SimulatorConfig(interpolation="cubic")


def test_rgb_to_luma_weights():
    rgb = np.zeros((1, 3, 3), np.uint8)
    rgb[0, 0, 0] = rgb[0, 1, 1] = rgb[0, 2, 2] = 255
    np.testing.assert_allclose(rgb_to_luma(rgb)[0], [0.299, 0.587, 0.114], atol=1e-6)
    t = torch.from_numpy(rgb)
    np.testing.assert_allclose(rgb_to_luma(t)[0].numpy(), [0.299, 0.587, 0.114], atol=1e-6)
