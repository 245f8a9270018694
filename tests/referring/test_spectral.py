"""The spectral gate removes exactly the share of each frequency that SgMg's formula says."""

from __future__ import annotations

import math

import torch

from evolve.model.sgmg.spectral import SpectralFilter, gaussian_spectrum_map, spectral_gate

H = W = 16
SIGMA = 3.0


def cosine(u: int, v: int) -> torch.Tensor:
    """cos(2 pi (u y / H + v x / W)) on an H x W grid: energy only in bins (u, v) and (-u, -v)."""
    y = torch.arange(H, dtype=torch.float64)[:, None]
    x = torch.arange(W, dtype=torch.float64)[None, :]
    return torch.cos(2 * math.pi * (u * y / H + v * x / W))


def expected_factor(u: int, v: int, c: float) -> float:
    """1 - c G(u, v) with G on the unshifted grid, centred at (H//2, W//2)."""
    return 1 - c * math.exp(-((u - H // 2) ** 2 + (v - W // 2) ** 2) / (2 * SIGMA**2))


def test_gaussian_map_values():
    g = gaussian_spectrum_map(H, W, SIGMA)[0, 0]
    assert g.shape == (H, W)
    assert g[H // 2, W // 2] == 1.0  # the highest frequency bin
    assert math.isclose(float(g[0, 0]), math.exp(-(8**2 + 8**2) / 18), rel_tol=1e-6)  # DC barely touched
    assert math.isclose(float(g[5, 11]), math.exp(-(3**2 + 3**2) / 18), rel_tol=1e-6)


def test_gate_scales_each_frequency_by_one_minus_cG():
    # a low, a middle and the highest frequency, each with its own amplitude
    parts = {(1, 0): 1.0, (5, 11): 0.7, (8, 8): 0.4}
    x = sum(a * cosine(u, v) for (u, v), a in parts.items())[None, None].float()  # (1, 1, H, W)
    c = torch.tensor([0.8])
    y = spectral_gate(x, c, gaussian_spectrum_map(H, W, SIGMA))
    ref = torch.fft.fft2(x.double())[0, 0]
    for (u, v), a in parts.items():
        k = expected_factor(u, v, 0.8)
        assert math.isclose(float(y[0, 0, u, v].abs()), float(ref[u, v].abs()) * k, rel_tol=1e-4)
        assert math.isclose(float(y[0, 0, -u % H, -v % W].abs()), float(ref[-u % H, -v % W].abs()) * k, rel_tol=1e-4)
    # back in space: each cosine keeps exactly its factor of amplitude
    out = torch.fft.ifft2(y).real[0, 0].double()
    want = sum(a * expected_factor(u, v, 0.8) * cosine(u, v) for (u, v), a in parts.items())
    assert torch.allclose(out, want, atol=1e-5)
    # the highest frequency lost 80 %, the lowest almost nothing
    assert math.isclose(expected_factor(8, 8, 0.8), 0.2, rel_tol=1e-9)
    assert expected_factor(1, 0, 0.8) > 0.998
    # nothing else appears
    others = torch.ones(H, W, dtype=torch.bool)
    for (u, v) in parts:
        others[u, v] = others[-u % H, -v % W] = False
    assert float(y[0, 0][others].abs().max()) < 1e-3


def test_gate_zero_is_identity_and_per_sample():
    x = torch.randn(2, 3, H, W)
    g = gaussian_spectrum_map(H, W, SIGMA)
    y = spectral_gate(x, torch.tensor([0.0, 1.0]), g)
    assert torch.allclose(y[0], torch.fft.fft2(x[0]), atol=1e-4)
    assert torch.allclose(y[1], torch.fft.fft2(x[1]) * (1 - g[0]), atol=1e-4)


def test_filter_passes_gauss_down_and_keeps_shape():
    torch.manual_seed(0)
    f = SpectralFilter(4, sigma=SIGMA)
    x = torch.randn(2, 4, H, W)
    out, g = f(x)
    assert out.shape == x.shape and torch.allclose(g, gaussian_spectrum_map(H, W, SIGMA))
    c = f.gate(x)
    assert c.shape == (2,) and bool(((c > 0) & (c < 1)).all())
    out2, g2 = f(torch.randn(2, 4, H // 2, W // 2), g)  # the next (coarser) level gets the resized map
    assert g2.shape == (1, 1, H // 2, W // 2) and out2.shape == (2, 4, H // 2, W // 2)
    # with zero frequency convolutions the module is the identity (the residual only)
    for conv in (f.freq1, f.freq2):
        torch.nn.init.zeros_(conv.weight)
        torch.nn.init.zeros_(conv.bias)
    assert torch.allclose(f(x)[0], x, atol=1e-6)
