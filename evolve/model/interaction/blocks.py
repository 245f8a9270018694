"""Decoder blocks shared by the interaction network and GLTM's transfer network.

The layout follows GLTM/ATNet's decoders (Heo et al., ECCV 2020, section 3): a stride-16
trunk feature goes through convolutions and a small atrous context module; two refinement
steps bring it to stride 8 and stride 4 with the encoder's skip features; a mask prior may be
added at stride 8 and stride 4 (the transfer network's local-transfer prior, weight 0.5);
the stride-4 feature, concatenated with the upsampled context, gives one logit per pixel.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def pad_to_16(x: Tensor) -> tuple[Tensor, tuple[int, int]]:
    """Zero-pad (B, C, H, W) at the bottom/right to multiples of 16; returns the tensor and (H, W)."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % 16, (-w) % 16
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph))
    return x, (h, w)


def up(x: Tensor, size: tuple[int, int]) -> Tensor:
    """Bilinear resize (align_corners False) of (B, C, h, w) to ``size``."""
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


class Refine(nn.Module):
    """One decoder step: skip feature + upsampled coarser feature, then a residual block.

    Shapes: skip (B, C_skip, H, W), coarse (B, D, H/2, W/2) -> (B, D, H, W).
    """

    def __init__(self, skip_dim: int, dim: int) -> None:
        super().__init__()
        self.skip = nn.Conv2d(skip_dim, dim, 3, padding=1)
        self.res1 = nn.Conv2d(dim, dim, 3, padding=1)
        self.res2 = nn.Conv2d(dim, dim, 3, padding=1)

    def forward(self, skip: Tensor, coarse: Tensor) -> Tensor:
        m = self.skip(skip) + up(coarse, tuple(skip.shape[-2:]))
        return m + self.res2(F.relu(self.res1(F.relu(m))))


class AtrousContext(nn.Module):
    """A small ASPP (DeepLabv3): 1x1, 3x3 dilated 2 and 4, and image pooling, projected to D.

    Shapes: (B, C, h, w) -> (B, D, h, w).
    """

    def __init__(self, in_dim: int, dim: int) -> None:
        super().__init__()
        self.b0 = nn.Conv2d(in_dim, dim, 1)
        self.b1 = nn.Conv2d(in_dim, dim, 3, padding=2, dilation=2)
        self.b2 = nn.Conv2d(in_dim, dim, 3, padding=4, dilation=4)
        self.pool = nn.Conv2d(in_dim, dim, 1)
        self.project = nn.Conv2d(4 * dim, dim, 1)

    def forward(self, x: Tensor) -> Tensor:
        g = self.pool(x.mean(dim=(2, 3), keepdim=True)).expand(-1, -1, *x.shape[-2:])
        y = torch.cat([F.relu(self.b0(x)), F.relu(self.b1(x)), F.relu(self.b2(x)), F.relu(g)], dim=1)
        return F.relu(self.project(y))


class MaskDecoder(nn.Module):
    """Stride-16/8/4 features -> one mask logit per pixel at stride 4 (and the stride-4 feature).

    Args:
        dims: (C16, C8, C4) of the encoder features; the stride-16 input may have any C16.
        dim: decoder width D.
        prior_weight: weight of the optional one-channel prior added at stride 8 and 4 (GLTM 0.5).
    Shapes: f16 (B, C16, h, w), f8 (B, C8, 2h, 2w), f4 (B, C4, 4h, 4w), prior4 (B, 1, 4h, 4w) or
        None -> logits4 (B, 1, 4h, 4w), feature4 (B, 2D, 4h, 4w).
    """

    def __init__(self, dims: tuple[int, int, int], dim: int, prior_weight: float = 0.5) -> None:
        super().__init__()
        c16, c8, c4 = dims
        self.context = AtrousContext(c16, dim)
        self.conv16a = nn.Conv2d(c16, dim, 3, padding=1)
        self.conv16b = nn.Conv2d(dim, dim, 3, padding=1)
        self.refine8 = Refine(c8, dim)
        self.refine4 = Refine(c4, dim)
        self.head1 = nn.Conv2d(2 * dim, dim, 3, padding=1)
        self.head2 = nn.Conv2d(dim, 1, 1)
        self.prior_weight = prior_weight

    def forward(self, f16: Tensor, f8: Tensor, f4: Tensor, prior4: Optional[Tensor] = None) -> tuple[Tensor, Tensor]:
        m16 = self.conv16b(F.relu(self.conv16a(F.relu(f16))))
        m8 = self.refine8(f8, m16)
        if prior4 is not None:
            m8 = m8 + self.prior_weight * F.interpolate(prior4, size=tuple(m8.shape[-2:]), mode="area")
        m4 = self.refine4(f4, m8)
        if prior4 is not None:
            m4 = m4 + self.prior_weight * prior4
        feat4 = torch.cat([m4, up(self.context(f16), tuple(m4.shape[-2:]))], dim=1)
        return self.head2(F.relu(self.head1(F.relu(feat4)))), feat4
