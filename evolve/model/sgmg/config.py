"""Typed configuration of the SgMg network (``arch: sgmg``; ``configs/model/sgmg.yaml``).

Defaults are the small CPU-friendly model this project trains on the procedural referring set.
The paper's sizes (Miao et al., ICCV 2023, Sec. 4.1 and the authors' scripts) are listed in
``configs/model/sgmg.yaml`` and docs/referring.md: hidden width 256, 5 queries per frame, 4
encoder and 4 decoder layers with 8 heads and 2048-wide feed-forward blocks, a 3-layer
controller, 16 dynamic-mask channels (one 4x4 patch), Gaussian sigma 7; Video-Swin-T/B and
RoBERTa, which are replaced here by torchvision ResNets and a word-level encoder (or a local
Hugging Face encoder).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Optional

from evolve.model.backbones import RESNET_MS_DIMS
from evolve.utils.errors import InputError


@dataclass
class TextEncoderConfig:
    """The text encoder.

    Attributes:
        type: ``scratch`` (a word-level tokenizer built from the training expressions and a
            small transformer trained from scratch) or ``huggingface`` (a ``transformers``
            encoder and its tokenizer loaded from the local folder ``path``; extra ``text``).
        vocab_size: rows of the scratch word embedding, the padding and unknown tokens
            included; the training vocabulary must fit.
        max_words: longest sentence in tokens (longer ones are cut).
        dim, num_layers, num_heads, ff_dim: the scratch transformer's sizes.
        path: local Hugging Face model folder (``type: huggingface``).
        freeze: keep the Hugging Face encoder's weights fixed (SgMg ``--freeze_text_encoder``).
    """

    type: str = "scratch"
    vocab_size: int = 256
    max_words: int = 24
    dim: int = 64
    num_layers: int = 2
    num_heads: int = 4
    ff_dim: int = 128
    path: Optional[str] = None
    freeze: bool = True


@dataclass
class SgMgLossConfig:
    """Matching costs and loss weights (ReferFormer / SgMg defaults: class 2, box L1 5,
    GIoU 2, mask focal 2, Dice 5; focal alpha 0.25, gamma 2).

    ``aux_loss`` adds the class, box and patch-mask losses of every earlier decoder layer,
    each with its own matching.
    """

    class_weight: float = 2.0
    box_weight: float = 5.0
    giou_weight: float = 2.0
    mask_weight: float = 2.0
    dice_weight: float = 5.0
    focal_alpha: float = 0.25
    focal_gamma: float = 2.0
    aux_loss: bool = True


@dataclass
class SgMgConfig:
    """Every size and switch of the SgMg network.

    Attributes:
        backbone: torchvision ResNet of the image (and event) encoder (evolve.model.backbones).
        hidden_dim: width of the fused features, queries and text projection.
        num_queries: object queries per frame (SgMg 5; 1 by default: with this project's CPU
            budgets the class scores of 5 queries did not become sentence-dependent, docs/referring.md).
        num_levels: feature levels fused with the text: strides 8, 16 and, when 3, 32 (an extra
            stride-2 convolution on the stride-16 features, as SgMg's extra level).
        enc_layers, dec_layers, num_heads, ff_dim: transformer sizes (standard attention).
        controller_layers: layers of the dynamic mask head (CondInst).
        patch: side of the patch each mask-head location predicts (4: 16 channels, 4x4 pixels).
        sigma: width of the spectral Gaussian in frequency bins (SgMg 7).
        spectral: use the spectrum-guided filters (False = text fusion only; ablation).
        events: fuse an event encoder on the voxel grid into the image features; False =
            frames-only on the same code path, no event parameters.
        event_bins: bins of the voxel grid.
        text: :class:`TextEncoderConfig`.
        loss: :class:`SgMgLossConfig`.
        pretrained_backbone: local torchvision ImageNet state dict of ``backbone`` or None.
        pixel_mean, pixel_std: ImageNet normalisation applied inside the model.
    """

    arch: str = "sgmg"
    name: str = "sgmg"
    backbone: str = "resnet18"
    hidden_dim: int = 64
    num_queries: int = 1
    num_levels: int = 3
    enc_layers: int = 1
    dec_layers: int = 3
    num_heads: int = 4
    ff_dim: int = 128
    controller_layers: int = 3
    patch: int = 4
    sigma: float = 7.0
    spectral: bool = True
    events: bool = True
    event_bins: int = 5
    text: TextEncoderConfig = field(default_factory=TextEncoderConfig)
    loss: SgMgLossConfig = field(default_factory=SgMgLossConfig)
    pretrained_backbone: Optional[str] = None
    pixel_mean: list[float] = field(default_factory=lambda: [0.485, 0.456, 0.406])
    pixel_std: list[float] = field(default_factory=lambda: [0.229, 0.224, 0.225])

    def validate(self, source: str | os.PathLike | None = None) -> "SgMgConfig":
        """Check the values the network relies on; return ``self``.

        Raises:
            InputError: naming the key and the fix.
        """

        def bad(problem: str, fix: str) -> None:
            raise InputError(source, f"sgmg model config: {problem}", fix)

        if self.arch != "sgmg":
            bad(f"arch is {self.arch!r}", "use arch: sgmg")
        if self.backbone not in RESNET_MS_DIMS:
            bad(f"backbone is {self.backbone!r}", f"use one of {sorted(RESNET_MS_DIMS)}")
        if self.hidden_dim < 8 or self.hidden_dim % self.num_heads:
            bad(f"hidden_dim {self.hidden_dim} with {self.num_heads} heads", "use a hidden_dim divisible by num_heads (and >= 8)")
        if self.hidden_dim % 4:
            bad(f"hidden_dim {self.hidden_dim} is not divisible by 4", "use a multiple of 4 (the sine position encoding needs it)")
        if self.num_levels not in (2, 3):
            bad(f"num_levels is {self.num_levels}", "use 2 (strides 8, 16) or 3 (8, 16, 32)")
        if self.num_queries < 1 or self.dec_layers < 1 or self.enc_layers < 0:
            bad(f"{self.num_queries} queries, {self.enc_layers} encoder / {self.dec_layers} decoder layers", "use >= 1 query and decoder layer, >= 0 encoder layers")
        if self.controller_layers < 1 or self.patch < 1:
            bad(f"controller_layers {self.controller_layers}, patch {self.patch}", "use >= 1 of each (SgMg: 3 and 4)")
        if not self.sigma > 0:
            bad(f"sigma is {self.sigma}", "use a positive width in frequency bins (7)")
        if self.event_bins < 1:
            bad(f"event_bins is {self.event_bins}", "use the voxel grid's number of bins (5)")
        t = self.text
        if t.type not in ("scratch", "huggingface"):
            bad(f"text.type is {t.type!r}", "use text.type=scratch or text.type=huggingface")
        if t.type == "huggingface" and not t.path:
            bad("text.type=huggingface needs text.path", "set text.path to a local Hugging Face model folder")
        if t.type == "scratch" and (t.vocab_size < 3 or t.dim % t.num_heads or t.num_layers < 0 or t.dim % 2):
            bad(f"text vocab_size {t.vocab_size}, dim {t.dim}, heads {t.num_heads}", "use vocab_size >= 3 and an even dim divisible by num_heads")
        if t.max_words < 1:
            bad(f"text.max_words is {t.max_words}", "use a positive sentence length")
        if len(self.pixel_mean) != 3 or len(self.pixel_std) != 3:
            bad("pixel_mean / pixel_std need 3 values", "give RGB mean and std")
        return self
