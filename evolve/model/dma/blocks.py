"""Building blocks of DMA: trunks + FPN, the voxel-grid encoder, attention layers, encodings.

Shapes: a frame batch is ``(M, C, H, W)`` (M = every frame of every clip); token sequences are
``(L, B, C)`` (sequence first, as ``nn.MultiheadAttention`` defaults and the Mask2Former-style
layers the authors use).
"""

from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F
import torchvision
from torch import Tensor, nn

from evolve.model.backbones import ResNetTrunk


def _gn(c: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(8, c), c)


class SmallTrunk(nn.Module):
    """A 4-stage conv trunk for CPU experiments: strides 4, 8, 16, 32, GroupNorm + ReLU.

    Shapes: (M, 3, H, W) -> [c4 (M, w0, H/4, W/4), c8, c16, c32] with widths ``widths``.
    """

    def __init__(self, widths: list[int], in_channels: int = 3) -> None:
        super().__init__()
        w0, w1, w2, w3 = widths
        self.stem = nn.Sequential(nn.Conv2d(in_channels, w0, 3, 2, 1), _gn(w0), nn.ReLU(inplace=True),
                                  nn.Conv2d(w0, w0, 3, 2, 1), _gn(w0), nn.ReLU(inplace=True),
                                  nn.Conv2d(w0, w0, 3, 1, 1), _gn(w0), nn.ReLU(inplace=True))
        self.stages = nn.ModuleList()
        for cin, cout in ((w0, w1), (w1, w2), (w2, w3)):
            self.stages.append(nn.Sequential(nn.Conv2d(cin, cout, 3, 2, 1), _gn(cout), nn.ReLU(inplace=True),
                                             nn.Conv2d(cout, cout, 3, 1, 1), _gn(cout), nn.ReLU(inplace=True)))
        self.dims = list(widths)

    def forward(self, x: Tensor) -> list[Tensor]:
        out = [self.stem(x)]
        for s in self.stages:
            out.append(s(out[-1]))
        return out


class ResNetFull(nn.Module):
    """A torchvision ResNet to layer4 (strides 4..32), BN frozen (the shared trunk plus layer4).

    Shapes: (M, 3, H, W) -> [res2, res3, res4, res5] at strides 4, 8, 16, 32.
    """

    def __init__(self, arch: str) -> None:
        super().__init__()
        self.trunk = ResNetTrunk(arch, 3)
        self.layer4 = getattr(torchvision.models, arch)(weights=None).layer4
        c16 = self.trunk.ms_dims[0]
        self.dims = [self.trunk.ms_dims[2], self.trunk.ms_dims[1], c16, c16 * 2]

    def train(self, mode: bool = True) -> "ResNetFull":
        """BatchNorm stays in eval mode (frozen statistics, as the shared trunks)."""
        super().train(mode)
        for m in self.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.eval()
        return self

    def forward(self, x: Tensor) -> list[Tensor]:
        f16, f8, f4 = self.trunk(x)
        return [f4, f8, f16, self.layer4(f16)]


class FPN(nn.Module):
    """Feature pyramid at one width (the authors' top-down FPN: 1x1 lateral, upsample-add, 3x3 out).

    Shapes: [c4, c8, c16, c32] -> [p32, p16, p8, p4], each (M, dim, H/s, W/s).
    """

    def __init__(self, in_dims: list[int], dim: int) -> None:
        super().__init__()
        self.lateral = nn.ModuleList(nn.Conv2d(c, dim, 1) for c in in_dims)
        self.output = nn.ModuleList(nn.Conv2d(dim, dim, 3, padding=1) for _ in in_dims)
        for m in list(self.lateral) + list(self.output):
            nn.init.kaiming_uniform_(m.weight, a=1)
            nn.init.zeros_(m.bias)

    def forward(self, feats: list[Tensor]) -> list[Tensor]:
        prev = self.lateral[3](feats[3])
        out = [self.output[3](prev)]
        for level in (2, 1, 0):
            lat = self.lateral[level](feats[level])
            prev = lat + F.interpolate(prev, size=lat.shape[-2:], mode="bilinear", align_corners=False)
            out.append(self.output[level](prev))
        return out


class EventEncoder(nn.Module):
    """Voxel grid -> features at strides 4 and 8 (added to the frame-feature differences).

    Shapes: (M, B, H, W) float32 voxel grids -> (e4 (M, dim, H/4, W/4), e8 (M, dim, H/8, W/8)).
    The output convolutions start at zero, so an events-on network starts as the frames-only one.
    """

    def __init__(self, bins: int, widths: list[int], dim: int) -> None:
        super().__init__()
        a, b = widths
        self.s2 = nn.Sequential(nn.Conv2d(bins, a, 3, 2, 1), _gn(a), nn.ReLU(inplace=True))
        self.s4 = nn.Sequential(nn.Conv2d(a, b, 3, 2, 1), _gn(b), nn.ReLU(inplace=True), nn.Conv2d(b, b, 3, 1, 1), _gn(b), nn.ReLU(inplace=True))
        self.s8 = nn.Sequential(nn.Conv2d(b, b, 3, 2, 1), _gn(b), nn.ReLU(inplace=True))
        self.out4 = nn.Conv2d(b, dim, 1)
        self.out8 = nn.Conv2d(b, dim, 1)
        for m in (self.out4, self.out8):
            nn.init.zeros_(m.weight)
            nn.init.zeros_(m.bias)

    def forward(self, voxel: Tensor) -> tuple[Tensor, Tensor]:
        x4 = self.s4(self.s2(voxel))
        return self.out4(x4), self.out8(self.s8(x4))


def sinusoid(positions: Tensor, dim: int) -> Tensor:
    """Sinusoidal encoding (Vaswani et al. 2017): (L,) positions -> (L, dim), sin on even, cos on odd."""
    pos = positions.float()[:, None]
    div = torch.exp(torch.arange(0, dim, 2, device=positions.device, dtype=torch.float32) * (-math.log(10000.0) / dim))
    out = torch.zeros(positions.shape[0], dim, device=positions.device)
    out[:, 0::2] = torch.sin(pos * div)
    out[:, 1::2] = torch.cos(pos * div)
    return out


class CrossAttentionLayer(nn.Module):
    """``tgt + attn(tgt + query_pos, memory + pos, memory)`` then LayerNorm (post-norm).

    Shapes: tgt (Lq, B, C), memory (Lk, B, C) -> (Lq, B, C).
    """

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(dim, heads)
        self.norm = nn.LayerNorm(dim)

    def forward(self, tgt: Tensor, memory: Tensor, pos: Optional[Tensor] = None, query_pos: Optional[Tensor] = None) -> Tensor:
        q = tgt if query_pos is None else tgt + query_pos
        k = memory if pos is None else memory + pos
        return self.norm(tgt + self.attn(q, k, memory, need_weights=False)[0])


class SelfAttentionLayer(nn.Module):
    """``tgt + attn(tgt + query_pos, tgt + query_pos, tgt)`` then LayerNorm. Shapes: (L, B, C)."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(dim, heads)
        self.norm = nn.LayerNorm(dim)

    def forward(self, tgt: Tensor, query_pos: Optional[Tensor] = None) -> Tensor:
        q = tgt if query_pos is None else tgt + query_pos
        return self.norm(tgt + self.attn(q, q, tgt, need_weights=False)[0])


class FFNLayer(nn.Module):
    """``tgt + W2 relu(W1 tgt)`` then LayerNorm. Shapes: (L, B, C)."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, dim))
        self.norm = nn.LayerNorm(dim)

    def forward(self, tgt: Tensor) -> Tensor:
        return self.norm(tgt + self.net(tgt))


def masked_average(features: Tensor, mask: Tensor) -> Tensor:
    """Masked average pooling (appearance tokens): ``sum(f * m) / (sum(m) + 1e-6)``.

    Shapes: features (M, C, h, w), mask (M, H, W) in [0, 1] (bilinearly resized to h x w)
    -> (M, C).
    """
    if mask.shape[-2:] != features.shape[-2:]:
        mask = F.interpolate(mask[:, None], size=features.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
    m = mask.flatten(1)  # (M, hw)
    return (features.flatten(2) * m[:, None]).sum(-1) / (m.sum(-1, keepdim=True) + 1e-6)
