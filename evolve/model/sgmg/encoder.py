"""SgMg's visual encoder in the low-light + event setting: a torchvision ResNet on the frame and,
with events on, a second ResNet on the voxel grid whose features are fused in at each scale.

Event fusion (ours; SgMg has no events): at each stride s in (4, 8, 16)

    F_s = I_s + sigmoid(Conv3x3([I_s; E_s])) * Conv1x1(E_s)

where I_s and E_s are the image and event trunk features. The gate decides per pixel and
channel how much event evidence (edges of moving objects, which survive low light) is added;
the 1x1 projection starts at zero, so a fresh network begins as its frames-only counterpart.
With ``events: false`` the event trunk and fusers do not exist and F_s = I_s.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn

from evolve.model.backbones import ResNetTrunk


class EventFusion(nn.Module):
    """``img + sigmoid(Conv3x3([img; ev])) * Conv1x1(ev)`` (module docstring).

    Shapes: img (N, C, h, w), ev (N, C, h, w) -> (N, C, h, w).
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.gate = nn.Conv2d(2 * dim, dim, 3, padding=1)
        self.proj = nn.Conv2d(dim, dim, 1)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, img: Tensor, ev: Tensor) -> Tensor:
        return img + torch.sigmoid(self.gate(torch.cat([img, ev], dim=1))) * self.proj(ev)


class SgMgEncoder(nn.Module):
    """Multi-scale visual features of frames (and their voxel grids).

    Args:
        backbone: torchvision ResNet name.
        events: build the event trunk and fusers.
        event_bins: voxel-grid bins.
        pixel_mean, pixel_std: ImageNet normalisation of the [0, 1] frames.
    Shapes:
        forward(rgb (N, 3, H, W) float in [0, 1], voxel (N, bins, H, W) float or None) ->
        [f16 (N, C16, H/16, W/16), f8 (N, C8, H/8, W/8), f4 (N, C4, H/4, W/4)] with
        (C16, C8, C4) = ``self.ms_dims``.
    Raises:
        ValueError: events on and no voxel grid, or a voxel grid of another shape.
    """

    def __init__(self, backbone: str, events: bool, event_bins: int, pixel_mean: list[float], pixel_std: list[float]) -> None:
        super().__init__()
        self.pixel_encoder = ResNetTrunk(backbone, 3)
        self.ms_dims = list(self.pixel_encoder.ms_dims)
        self.events = events
        self.event_bins = event_bins
        if events:
            self.event_encoder = ResNetTrunk(backbone, event_bins)
            self.event_fusers = nn.ModuleList(EventFusion(c) for c in self.ms_dims)
        self.register_buffer("pixel_mean", torch.tensor(pixel_mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("pixel_std", torch.tensor(pixel_std).view(1, 3, 1, 1), persistent=False)

    def forward(self, rgb: Tensor, voxel: Optional[Tensor] = None) -> list[Tensor]:
        feats = self.pixel_encoder((rgb - self.pixel_mean) / self.pixel_std)  # [f16, f8, f4]
        if not self.events:
            return feats
        if voxel is None:
            raise ValueError("this SgMg network has events on: pass the voxel grid of every frame (or build it with events: false)")
        if voxel.shape[0] != rgb.shape[0] or voxel.shape[1] != self.event_bins or voxel.shape[-2:] != rgb.shape[-2:]:
            raise ValueError(f"voxel grid {tuple(voxel.shape)} does not match frames {tuple(rgb.shape)} with {self.event_bins} bins")
        ev = self.event_encoder(voxel.to(rgb.dtype))
        return [fuse(i, e) for fuse, i, e in zip(self.event_fusers, feats, ev)]
