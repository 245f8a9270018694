"""The interaction-to-mask network (GLTM's A-Net role; Heo et al., ECCV 2020, section 3.1).

Input per object: the RGB frame, the object's mask from the previous round (0.5 everywhere in
round 1), its positive and negative scribble maps (:func:`evolve.data.scribbles.interaction_maps`)
and, with events on, the frame's voxel grid, concatenated into one 6 (+ B) channel image.
A ResNet trunk (stride 16, BN frozen) and :class:`~evolve.model.interaction.blocks.MaskDecoder`
give the mask logits; the **indicator feature** Z (GLTM's ``ConverterEncoder``) summarises the
segmentation at stride 16: the stride-4 decoder feature is brought to stride 16 by two stride-2
convolutions, concatenated with the trunk's stride-16 feature and projected by a 1x1
convolution. GLTM's transfer network spreads Z to other frames (:mod:`evolve.model.gltm`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from evolve.model.backbones import ResNetTrunk
from evolve.model.interaction.blocks import MaskDecoder, pad_to_16, up
from evolve.model.interaction.config import InteractionConfig


@dataclass
class InteractionOutput:
    """What the interaction network returns for a batch of (frame, object) pairs.

    Attributes:
        logits: (B, 1, H, W) float mask logits at the input size.
        indicator: (B, C_z, ceil(H/16), ceil(W/16)) indicator feature Z.
    """

    logits: Tensor
    indicator: Tensor


class IndicatorHead(nn.Module):
    """Stride-4 decoder feature + stride-16 trunk feature -> indicator Z (stride 16).

    Shapes: feat4 (B, C4d, 4h, 4w), f16 (B, C16, h, w) -> (B, C_z, h, w).
    """

    def __init__(self, feat_dim: int, trunk_dim: int, out_dim: int) -> None:
        super().__init__()
        self.down1 = nn.Conv2d(feat_dim, feat_dim, 3, stride=2, padding=1)
        self.down2 = nn.Conv2d(feat_dim, feat_dim, 3, stride=2, padding=1)
        self.project = nn.Conv2d(feat_dim + trunk_dim, out_dim, 1)

    def forward(self, feat4: Tensor, f16: Tensor) -> Tensor:
        x = F.relu(self.down2(F.relu(self.down1(feat4))))
        if x.shape[-2:] != f16.shape[-2:]:
            x = up(x, tuple(f16.shape[-2:]))
        return self.project(torch.cat([x, f16], dim=1))


class InteractionNet(nn.Module):
    """Scribbles (+ events) -> mask logits and indicator feature.

    Args:
        config: :class:`InteractionConfig`.
    """

    def __init__(self, config: InteractionConfig) -> None:
        super().__init__()
        self.config = config
        self.events = config.events
        self.encoder = ResNetTrunk(config.backbone, config.in_channels)
        c16, c8, c4 = self.encoder.ms_dims
        self.decoder = MaskDecoder((c16, c8, c4), config.decoder_dim)
        self.indicator_head = IndicatorHead(2 * config.decoder_dim, c16, config.indicator_dim)
        self.register_buffer("pixel_mean", torch.tensor(config.pixel_mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("pixel_std", torch.tensor(config.pixel_std).view(1, 3, 1, 1), persistent=False)
        if config.pretrained_backbone:
            self.encoder.load_imagenet(config.pretrained_backbone, "orthogonal")

    def forward(self, image: Tensor, prev_mask: Tensor, positive: Tensor, negative: Tensor, voxel: Tensor | None = None) -> InteractionOutput:
        """Segment one object per batch item.

        Args:
            image: (B, 3, H, W) float RGB in [0, 1].
            prev_mask: (B, 1, H, W) float in [0, 1]: the object's mask of the previous round
                (0.5 everywhere in round 1).
            positive, negative: (B, 1, H, W) float scribble maps in [0, 1].
            voxel: (B, bins, H, W) float voxel grid; required with events on, ignored otherwise.
        Returns:
            :class:`InteractionOutput` (logits at (H, W); any H, W: padded to /16 inside).
        Raises:
            ValueError: events on and no voxel grid, or inputs of different sizes.
        """
        h, w = image.shape[-2:]
        parts = [(image - self.pixel_mean.to(image.dtype)) / self.pixel_std.to(image.dtype), prev_mask, positive, negative]
        if self.events:
            if voxel is None:
                raise ValueError("the interaction network has events on: pass the (B, bins, H, W) voxel grid")
            parts.append(voxel)
        if any(p.shape[-2:] != (h, w) for p in parts):
            raise ValueError(f"inputs must share the frame size {(h, w)}: {[tuple(p.shape) for p in parts]}")
        x, _ = pad_to_16(torch.cat(parts, dim=1))
        f16, f8, f4 = self.encoder(x)
        logits4, feat4 = self.decoder(f16, f8, f4)
        logits = up(logits4, tuple(x.shape[-2:]))[..., :h, :w]
        return InteractionOutput(logits=logits, indicator=self.indicator_head(feat4, f16))
