"""Spectrum-guided filtering (SgMg's SCF, Miao et al., ICCV 2023, Sec. 3.2, Eq. 2-4).

The features are taken to the frequency domain with a 2-D FFT, the high frequencies are damped
by an adaptive Gaussian gate, two 1x1 convolutions mix the real and imaginary parts, and the
inverse FFT brings the result back as a residual:

    c = sigmoid(MLP(GAP(Conv3x3(X))))            one scalar per sample, in (0, 1)
    Y = FFT2(X)                                   per channel, NOT fft-shifted
    G(u, v) = exp(-((u - H//2)^2 + (v - W//2)^2) / (2 sigma^2))
    Y' = Y * (1 - c G)
    Z = Conv1x1(ReLU(Conv1x1([Re Y'; Im Y'])))    2C -> 2C -> 2C channels
    out = X + Re(IFFT2(Z_re + i Z_im))

Because the spectrum is not shifted, index (H//2, W//2) holds the highest frequencies
(the Nyquist bin for even sizes), so ``1 - c G`` removes up to a fraction ``c`` of the
highest frequencies and keeps the lowest ones: an adaptive low-pass, i.e. an emphasis on
global structure. A point-wise product in frequency space is a global spatial filter.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def gaussian_spectrum_map(height: int, width: int, sigma: float, device: torch.device | str | None = None) -> Tensor:
    """SgMg's Gaussian G on the unshifted spectrum grid.

    ``G[u, v] = exp(-((u - height // 2)^2 + (v - width // 2)^2) / (2 sigma^2))``, u, v integer
    frequency-bin indices in FFT order.

    Returns:
        float32 (1, 1, height, width), 1 at the centre (the highest frequency bin).
    """
    u = torch.arange(height, dtype=torch.float32, device=device)[:, None]
    v = torch.arange(width, dtype=torch.float32, device=device)[None, :]
    g = torch.exp(-((u - height // 2) ** 2 + (v - width // 2) ** 2) / (2.0 * sigma * sigma))
    return g[None, None]


def spectral_gate(x: Tensor, coef: Tensor, gauss: Tensor) -> Tensor:
    """The gated spectrum ``FFT2(x) * (1 - coef * gauss)``.

    Args:
        x: float (N, C, H, W) features.
        coef: float (N,) or (N, 1, 1, 1) gate per sample in [0, 1].
        gauss: float (1, 1, H, W) or (N, 1, H, W) Gaussian map (:func:`gaussian_spectrum_map`).
    Returns:
        complex64 (N, C, H, W) spectrum (FFT order).
    """
    y = torch.fft.fft2(x.float())
    return y * (1.0 - coef.reshape(-1, 1, 1, 1).float() * gauss.float())


class SpectralFilter(nn.Module):
    """SgMg's adaptive low-frequency module (module docstring), one per use site.

    Args:
        dim: channels C.
        sigma: Gaussian width in frequency bins (SgMg 7).
    Shapes:
        forward(x (N, C, H, W), gauss (1, 1, h, w) or None) -> (out (N, C, H, W), gauss used
        (1, 1, H, W)). A given ``gauss`` is resized bilinearly to (H, W), as SgMg hands the
        first level's map down to the coarser levels; None builds it at (H, W).
    """

    def __init__(self, dim: int, sigma: float = 7.0) -> None:
        super().__init__()
        self.sigma = float(sigma)
        self.coef_conv = nn.Conv2d(dim, dim, 3, padding=1)
        self.coef_mlp = nn.Sequential(nn.Linear(dim, dim, bias=False), nn.ReLU(inplace=True), nn.Linear(dim, 1, bias=False))
        self.freq1 = nn.Conv2d(2 * dim, 2 * dim, 1)
        self.freq2 = nn.Conv2d(2 * dim, 2 * dim, 1)

    def gate(self, x: Tensor) -> Tensor:
        """The per-sample coefficient c = sigmoid(MLP(GAP(Conv3x3(x)))), float (N,)."""
        pooled = self.coef_conv(x).mean(dim=(2, 3))  # (N, C)
        return torch.sigmoid(self.coef_mlp(pooled)).squeeze(1)

    def forward(self, x: Tensor, gauss: Optional[Tensor] = None) -> tuple[Tensor, Tensor]:
        n, c, h, w = x.shape
        if gauss is None:
            gauss = gaussian_spectrum_map(h, w, self.sigma, x.device)
        elif tuple(gauss.shape[-2:]) != (h, w):
            gauss = F.interpolate(gauss, size=(h, w), mode="bilinear", align_corners=False)
        with torch.autocast(device_type=x.device.type, enabled=False):  # FFTs in float32
            xf = x.float()
            y = spectral_gate(xf, self.gate(xf), gauss)  # (N, C, H, W) complex
            z = self.freq2(F.relu(self.freq1(torch.cat([y.real, y.imag], dim=1))))  # (N, 2C, H, W)
            z_re, z_im = z.chunk(2, dim=1)
            spatial = torch.fft.ifft2(torch.complex(z_re, z_im), s=(h, w)).real
        return (xf + spatial).to(x.dtype), gauss
