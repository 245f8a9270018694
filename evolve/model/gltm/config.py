"""Typed config of GLTM's networks (``arch: gltm``; configs/model/gltm.yaml)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Optional

from evolve.model.backbones import RESNET_MS_DIMS
from evolve.model.interaction.config import InteractionConfig
from evolve.utils.errors import InputError


@dataclass
class GLTMConfig:
    """Sizes and switches of :class:`~evolve.model.gltm.network.GLTM` (A-Net + T-Net).

    Attributes:
        arch: ``"gltm"``.
        name: a label.
        backbone: ResNet trunk of both encoders (GLTM: SE-ResNet-50; here torchvision ResNets).
        decoder_dim: decoder width of both networks.
        indicator_dim: channels of the indicator feature Z (A-Net output, T-Net global transfer).
        key_dim: channels of the stride-16 key the global-transfer affinity is computed on (a
            1x1 projection of the trunk feature; GLTM uses the 2048-d trunk feature itself).
        local_dim: channels of the stride-4 features correlated by the local transfer (GLTM 256).
        max_displacement: largest local-transfer displacement in stride-4 pixels (GLTM 8).
        displacement_stride: displacement step (GLTM 2: displacements -8, -6, ..., 8 per axis).
        prior_weight: weight of the local prior added in the decoder at stride 8 and 4 (GLTM 0.5).
        events: the voxel grid enters both encoders (frames only when False; same code).
        event_bins: B.
        pixel_mean, pixel_std: ImageNet normalisation.
        pretrained_backbone: local torchvision ImageNet state dict for both trunks, or None.
        anet_weights: an ``arch: interaction`` weights file to start the A-Net from (its config
            must match: backbone, decoder_dim, indicator_dim, events), or None.
    """

    arch: str = "gltm"
    name: str = "gltm"
    backbone: str = "resnet18"
    decoder_dim: int = 128
    indicator_dim: int = 256
    key_dim: int = 64
    local_dim: int = 64
    max_displacement: int = 8
    displacement_stride: int = 2
    prior_weight: float = 0.5
    events: bool = True
    event_bins: int = 5
    pixel_mean: list[float] = field(default_factory=lambda: [0.485, 0.456, 0.406])
    pixel_std: list[float] = field(default_factory=lambda: [0.229, 0.224, 0.225])
    pretrained_backbone: Optional[str] = None
    anet_weights: Optional[str] = None

    def interaction_config(self) -> InteractionConfig:
        """The config of the A-Net part (an :class:`InteractionConfig`)."""
        return InteractionConfig(
            name=f"{self.name}-anet", backbone=self.backbone, decoder_dim=self.decoder_dim, indicator_dim=self.indicator_dim,
            events=self.events, event_bins=self.event_bins, pixel_mean=list(self.pixel_mean), pixel_std=list(self.pixel_std),
            pretrained_backbone=self.pretrained_backbone,
        )

    def validate(self, source: str | os.PathLike | None = None) -> "GLTMConfig":
        """Check the values; return ``self``.

        Raises:
            InputError: naming the key and the fix.
        """
        def bad(problem: str, fix: str) -> None:
            raise InputError(source, f"model config: {problem}", fix)

        if self.arch != "gltm":
            bad(f"arch is {self.arch!r} in a GLTM config", "use arch: gltm")
        if self.backbone not in RESNET_MS_DIMS:
            bad(f"backbone is {self.backbone!r}", f"use one of {sorted(RESNET_MS_DIMS)}")
        if self.displacement_stride < 1 or self.max_displacement < 0 or self.max_displacement % self.displacement_stride:
            bad(f"max_displacement {self.max_displacement} / displacement_stride {self.displacement_stride}",
                "use a positive stride dividing max_displacement (GLTM 8 / 2)")
        if min(self.key_dim, self.local_dim, self.indicator_dim, self.event_bins) < 1 or self.decoder_dim < 8:
            bad("key_dim, local_dim, indicator_dim, event_bins must be >= 1 and decoder_dim >= 8", "fix the sizes")
        self.interaction_config().validate(source)
        return self
