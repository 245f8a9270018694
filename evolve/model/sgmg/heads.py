"""SgMg's segment-and-optimize heads (Miao et al., ICCV 2023, Sec. 3.3).

Segment: each query's controller output is the parameters of a small dynamic network
(CondInst, Tian et al., ECCV 2020, Sec. 3.2: 1x1 convolutions with ReLU between them, the
first fed the features plus the coordinates relative to the query's box centre). It runs on
the ENCODED features (the sum of the encoder's levels at stride 8), not on separately decoded
high-resolution features, and predicts ``patch^2`` channels per location: a ``patch x patch``
sub-pixel patch of logits.

Optimize (multi-granularity segmentation optimizer, MSO): the patch logits P are refined with
the backbone's stride-8 and stride-4 features,

    P8 = P + Conv3x3(ReLU(Conv3x3(ReLU([P; F8]))))
    P4 = up2(P8) + Conv3x3(ReLU(Conv3x3(ReLU([up2(P8); F4]))))
    mask logits = pixel_shuffle(P4, patch)           full resolution for patch = 4

so the granularity goes patch -> 1/8 -> 1/4 -> pixel.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def relative_coordinates(centres: Tensor, height: int, width: int) -> Tensor:
    """Offsets from every feature location to each query's box centre.

    Args:
        centres: (N, Q, 2) box centres (x, y) in [0, 1] of the frame.
        height, width: feature map size; location (i, j) sits at ((j + 0.5) / width,
            (i + 0.5) / height) of the frame.
    Returns:
        (N, Q, 2, height, width): ``centre - location`` in units of the frame's width (x) and
        height (y).
    """
    ys = (torch.arange(height, device=centres.device, dtype=centres.dtype) + 0.5) / height
    xs = (torch.arange(width, device=centres.device, dtype=centres.dtype) + 0.5) / width
    dx = centres[..., 0, None, None] - xs[None, None, None, :]  # (N, Q, 1, W)
    dy = centres[..., 1, None, None] - ys[None, None, :, None]  # (N, Q, H, 1)
    return torch.stack([dx.expand(-1, -1, height, width), dy.expand(-1, -1, height, width)], dim=2)


class DynamicMaskHead(nn.Module):
    """CondInst-style dynamic 1x1 convolutions per query (module docstring).

    Args:
        in_dim: channels of the mask features.
        channels: width of every dynamic layer and of the output (``patch^2``, 16 in SgMg).
        num_layers: dynamic layers (3).
    Shapes:
        forward(features (N, in_dim, h, w), params (N, Q, num_params), centres (N, Q, 2)) ->
        patch logits (N, Q, channels, h, w).
    """

    def __init__(self, in_dim: int, channels: int, num_layers: int) -> None:
        super().__init__()
        self.channels = channels
        self.weight_shapes = [(channels, in_dim + 2)] + [(channels, channels)] * (num_layers - 1)
        self.num_params = sum(o * i + o for o, i in self.weight_shapes)

    def split_params(self, params: Tensor) -> list[tuple[Tensor, Tensor]]:
        """(N, Q, num_params) -> per layer (weight (N, Q, out, in), bias (N, Q, out))."""
        if params.shape[-1] != self.num_params:
            raise ValueError(f"expected {self.num_params} dynamic parameters, got {params.shape[-1]}")
        lead = params.shape[:-1]
        sizes = [o * i for o, i in self.weight_shapes] + [o for o, _ in self.weight_shapes]
        chunks = torch.split(params, sizes, dim=-1)  # all weights first, then all biases (CondInst)
        n = len(self.weight_shapes)
        return [(chunks[k].reshape(*lead, o, i), chunks[n + k]) for k, (o, i) in enumerate(self.weight_shapes)]

    def forward(self, features: Tensor, params: Tensor, centres: Tensor) -> Tensor:
        n, c, h, w = features.shape
        q = params.shape[1]
        rel = relative_coordinates(centres.to(features.dtype), h, w)  # (N, Q, 2, h, w)
        x = torch.cat([features[:, None].expand(n, q, c, h, w), rel], dim=2).flatten(3)  # (N, Q, c+2, hw)
        layers = self.split_params(params)
        for k, (weight, bias) in enumerate(layers):
            x = torch.einsum("nqoi,nqil->nqol", weight, x) + bias[..., None]
            if k < len(layers) - 1:
                x = F.relu(x)
        return x.reshape(n, q, self.channels, h, w)


class MultiGranularityRefiner(nn.Module):
    """SgMg's MSO (module docstring).

    Args:
        channels: patch channels (``patch^2``); c8, c4: backbone channels at stride 8 and 4;
        patch: patch side (pixel-shuffle factor).
    Shapes:
        forward(patch (M, channels, h8, w8), f8 (M, c8, h8, w8), f4 (M, c4, h4, w4)) ->
        logits (M, 1, patch * h4, patch * w4).
    """

    def __init__(self, channels: int, c8: int, c4: int, patch: int) -> None:
        super().__init__()
        self.patch = patch
        self.conv1_8 = nn.Conv2d(channels + c8, channels, 3, padding=1)
        self.conv2_8 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv1_4 = nn.Conv2d(channels + c4, channels, 3, padding=1)
        self.conv2_4 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, patch: Tensor, f8: Tensor, f4: Tensor) -> Tensor:
        x = patch + self.conv2_8(F.relu(self.conv1_8(F.relu(torch.cat([patch, f8.to(patch.dtype)], dim=1)))))
        x = F.interpolate(x, size=f4.shape[-2:], mode="bilinear", align_corners=False)
        x = x + self.conv2_4(F.relu(self.conv1_4(F.relu(torch.cat([x, f4.to(x.dtype)], dim=1)))))
        return F.pixel_shuffle(x, self.patch)


def patch_to_mask(patch: Tensor, factor: int) -> Tensor:
    """Patch logits (..., factor^2, h, w) -> mask logits (..., h * factor, w * factor) (pixel shuffle)."""
    lead = patch.shape[:-3]
    c, h, w = patch.shape[-3:]
    return F.pixel_shuffle(patch.reshape(-1, c, h, w), factor).reshape(*lead, h * factor, w * factor)
