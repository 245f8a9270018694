"""Typed configuration of the EMVOS network (``arch: emvos``; configs ``model=emvos|emvos_small``).

EMVOS: Cho et al., "Pixel-Level Equalized Matching for Video Object Segmentation", arXiv 2209.03139
(2022). docs/emvos.md describes the network and our event extension.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Optional

from evolve.model.backbones import DENSENET_MS_DIMS, RESNET_MS_DIMS
from evolve.utils.errors import InputError


@dataclass
class EMVOSConfig:
    """Every size and switch of the EMVOS network. Defaults = the paper's sizes.

    Attributes:
        arch: ``"emvos"`` (the registry key).
        name: the config's name (``emvos``, ``emvos_small``), for logs and messages.
        encoder: ``densenet121`` (the paper's; s4/s8/s16 = denseblock1/2/3, 256/512/1024 channels).
        key_dim: channels of the two stride-16 keys (paper 512): the L2-normalised key of the
            surjective (cosine) matching and the raw key of the equalized matching.
        decoder_dim: channels of the decoder's blend convolutions and CBAM blocks (paper 256).
        events: True = a voxel-grid encoder's stride-16 features are concatenated with the
            DenseNet s16 feature before both key projections (our extension, docs/emvos.md);
            False = frames only (the paper), no event parameter at all.
        event_bins: voxel-grid bins read with events on (5).
        event_encoder: torchvision ResNet trunk of the voxel-grid encoder (``resnet18``: 256
            channels at stride 16).
        pixel_mean, pixel_std: ImageNet normalisation applied inside the network.
        pretrained_backbone: local path to a torchvision densenet121 ImageNet state dict. Given:
            the DenseNet is loaded and FROZEN (no gradient, computed under ``no_grad``, as the
            paper). None: random initialisation and the DenseNet trains.
    """

    arch: str = "emvos"
    name: str = "emvos"
    encoder: str = "densenet121"
    key_dim: int = 512
    decoder_dim: int = 256
    events: bool = True
    event_bins: int = 5
    event_encoder: str = "resnet18"
    pixel_mean: list[float] = field(default_factory=lambda: [0.485, 0.456, 0.406])
    pixel_std: list[float] = field(default_factory=lambda: [0.229, 0.224, 0.225])
    pretrained_backbone: Optional[str] = None

    @property
    def encoder_frozen(self) -> bool:
        """Whether the DenseNet is frozen (exactly when ImageNet weights are given)."""
        return self.pretrained_backbone is not None

    def validate(self, source: str | os.PathLike | None = None) -> "EMVOSConfig":
        """Check the values the network relies on; return ``self``.

        Raises:
            InputError: a value the network cannot be built with, naming the key and the fix.
        """

        def bad(problem: str, fix: str) -> None:
            raise InputError(source, f"model config: {problem}", fix)

        if self.arch != "emvos":
            bad(f"arch is {self.arch!r} in an EMVOS config", "use arch: emvos, or load the config through evolve.model.registry")
        if self.encoder not in DENSENET_MS_DIMS:
            bad(f"encoder is {self.encoder!r}", f"use one of {sorted(DENSENET_MS_DIMS)}")
        if self.event_encoder not in RESNET_MS_DIMS:
            bad(f"event_encoder is {self.event_encoder!r}", f"use one of {sorted(RESNET_MS_DIMS)}")
        for key in ("key_dim", "decoder_dim", "event_bins"):
            if getattr(self, key) < 1:
                bad(f"{key} is {getattr(self, key)}", f"use a positive {key}")
        if len(self.pixel_mean) != 3 or len(self.pixel_std) != 3:
            bad("pixel_mean / pixel_std need 3 values", "give RGB mean and std")
        return self
