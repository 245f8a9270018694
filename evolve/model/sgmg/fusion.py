"""Cross-modal fusion of one feature level: spectral filter, text gating, spectral filter
(SgMg's spectrum-guided cross-modal fusion, Miao et al., ICCV 2023, Sec. 3.2)."""

from __future__ import annotations

from typing import Optional

from torch import Tensor, nn

from evolve.model.sgmg.spectral import SpectralFilter


class VisionLanguageFusion(nn.Module):
    """Multiplicative text gating ``V' = V * MHA(q = V, k = T + pos_T, v = T)``
    (ReferFormer / SgMg's vision-language fusion module).

    Args:
        dim: token width; num_heads: attention heads.
    Shapes:
        visual (N, L, dim), text (N, Lt, dim), text_pad (N, Lt) bool (True = padding),
        text_pos (N, Lt, dim) or None -> (N, L, dim).
    """

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(dim, num_heads, batch_first=True)

    def forward(self, visual: Tensor, text: Tensor, text_pad: Optional[Tensor] = None, text_pos: Optional[Tensor] = None) -> Tensor:
        key = text if text_pos is None else text + text_pos
        attended, _ = self.attn(visual, key, text, key_padding_mask=text_pad, need_weights=False)
        return visual * attended


class SpectrumGuidedFusion(nn.Module):
    """One level of SCF: ``SpectralFilter -> VisionLanguageFusion -> SpectralFilter``.

    Args:
        dim: channels; num_heads: attention heads; sigma: Gaussian width (bins);
        spectral: False drops both spectral filters (text gating only; ablation).
    Shapes:
        forward(x (N, dim, h, w), text (N, Lt, dim), text_pad (N, Lt), text_pos (N, Lt, dim),
        gauss (1, 1, h', w') or None) -> (x (N, dim, h, w), gauss (1, 1, h, w) or None).
    """

    def __init__(self, dim: int, num_heads: int, sigma: float = 7.0, spectral: bool = True) -> None:
        super().__init__()
        self.pre = SpectralFilter(dim, sigma) if spectral else None
        self.vl = VisionLanguageFusion(dim, num_heads)
        self.post = SpectralFilter(dim, sigma) if spectral else None

    def forward(self, x: Tensor, text: Tensor, text_pad: Optional[Tensor], text_pos: Optional[Tensor], gauss: Optional[Tensor] = None) -> tuple[Tensor, Optional[Tensor]]:
        if self.pre is not None:
            x, gauss = self.pre(x, gauss)
        n, c, h, w = x.shape
        tokens = x.flatten(2).transpose(1, 2)  # (N, hw, C)
        tokens = self.vl(tokens, text, text_pad, text_pos)
        x = tokens.transpose(1, 2).reshape(n, c, h, w)
        if self.post is not None:
            x, gauss = self.post(x, gauss)
        return x, gauss
