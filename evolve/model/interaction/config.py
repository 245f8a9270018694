"""Typed config of the interaction-to-mask network (``arch: interaction``; configs/model/interaction.yaml)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Optional

from evolve.model.backbones import RESNET_MS_DIMS
from evolve.utils.errors import InputError


@dataclass
class InteractionConfig:
    """Sizes and switches of :class:`~evolve.model.interaction.network.InteractionNet`.

    Attributes:
        arch: ``"interaction"``.
        name: a label (weights files and logs).
        backbone: torchvision ResNet trunk (conv1..layer3, stride 16), BN frozen.
        decoder_dim: channels of the decoder (GLTM: 256; smaller for CPU).
        indicator_dim: channels of the indicator feature Z at stride 16 (GLTM: 2048).
        events: True = the voxel grid enters the encoder next to RGB and the three interaction
            maps (input 6 + event_bins channels); False = frames only (6 channels), same code.
        event_bins: voxel-grid bins B.
        pixel_mean, pixel_std: ImageNet normalisation of the RGB channels.
        pretrained_backbone: local torchvision ImageNet state dict of ``backbone`` or None.
    """

    arch: str = "interaction"
    name: str = "interaction"
    backbone: str = "resnet18"
    decoder_dim: int = 128
    indicator_dim: int = 256
    events: bool = True
    event_bins: int = 5
    pixel_mean: list[float] = field(default_factory=lambda: [0.485, 0.456, 0.406])
    pixel_std: list[float] = field(default_factory=lambda: [0.229, 0.224, 0.225])
    pretrained_backbone: Optional[str] = None

    @property
    def in_channels(self) -> int:
        """Encoder input channels: RGB + previous mask + positive + negative (+ B voxel bins)."""
        return 6 + (self.event_bins if self.events else 0)

    def validate(self, source: str | os.PathLike | None = None) -> "InteractionConfig":
        """Check the values; return ``self``.

        Raises:
            InputError: naming the key and the fix.
        """
        if self.arch != "interaction":
            raise InputError(source, f"model config: arch is {self.arch!r} in an interaction-network config", "use arch: interaction")
        if self.backbone not in RESNET_MS_DIMS:
            raise InputError(source, f"model config: backbone is {self.backbone!r}", f"use one of {sorted(RESNET_MS_DIMS)}")
        if self.decoder_dim < 8 or self.indicator_dim < 1 or self.event_bins < 1:
            raise InputError(source, "model config: decoder_dim < 8, indicator_dim < 1 or event_bins < 1", "use decoder_dim >= 8 and positive indicator_dim, event_bins")
        if len(self.pixel_mean) != 3 or len(self.pixel_std) != 3:
            raise InputError(source, "model config: pixel_mean / pixel_std need 3 values", "give RGB mean and std")
        return self
