"""Typed configuration of the DMA network (``arch: dma``; configs/model/dma*.yaml).

The defaults are the small CPU-friendly size used for experiments on the procedural motion
set; the paper's sizes (Ying et al., ICCV 2025, section 4 and the authors' README) are in
``configs/model/dma_paper.yaml``: ResNet-50, FPN width 256, 8 heads, 1 + 15 queries, 6 Q-Former
layers, 3 enhancer layers, 88 object and 224 motion categories.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Optional

from evolve.model.backbones import RESNET_MS_DIMS
from evolve.utils.errors import InputError

BACKBONES = ("small", *sorted(RESNET_MS_DIMS))
MOTION_POOLING = ("sum", "masked")
PRESENCE = ("proposal", "way_masks")  # how inference scores a way's presence (DMA.segment_query)


@dataclass
class DMALossConfig:
    """Training loss weights (used by ``task=few_shot``); values of the authors' README command.

    Attributes:
        ce: binary cross-entropy of the masks (0.25). iou: soft-IoU loss of the masks (5.0).
        cls: presence-score BCE (query and ground-truth branches, support pairs) (1.0).
        cls_pos_weight: BCE weight of present ways (3.0, the authors').
        object_cls, motion_cls: auxiliary object / motion category CE on the support (0.005 each).
        ortho: orthogonality ``mean |cos(m, a)|`` of motion and appearance tokens (0.05).
        absent_masks: ours: the predicted masks of ways absent from the query are also trained
            (against empty targets), so the decoder learns to leave moving objects of other
            motions unlabelled (False = the authors: mask losses on present ways only).
    """

    ce: float = 0.25
    iou: float = 5.0
    cls: float = 1.0
    cls_pos_weight: float = 3.0
    object_cls: float = 0.005
    motion_cls: float = 0.005
    ortho: float = 0.05
    absent_masks: bool = False


@dataclass
class DMAConfig:
    """Every size and switch of DMA (defaults: the small size).

    Attributes:
        arch, name: ``dma`` and a label.
        backbone: ``small`` (a 4-stage conv trunk, GroupNorm, widths ``small_widths``) or a
            torchvision ResNet (``resnet18`` ... ``resnet50``; BN frozen, layer4 included).
        small_widths: channels of the small trunk at strides 4, 8, 16, 32.
        hidden_dim: FPN width and token size (paper 256).
        num_heads: attention heads (paper 8).
        num_queries: learned meta-motion queries besides the cls query (paper 15).
        qformer_layers: Q-Former layers (paper 6). enhancer_layers: prototype enhancer layers (3).
        ffn_ratio: FFN width / hidden_dim (paper 2).
        motion_pooling: ``sum`` (paper: motion tokens sum the motion map over space) or
            ``masked`` (sum inside the support mask / query proposal; ours).
        pixel_motion: ours: the per-pixel motion map (before the spatial sum) is added to the
            query features of the proposal head and the decoder, so they can tell moving from
            static objects of the same look. False = the paper's decoder.
        gt_branch: in training also decode with prototypes pooled from the ground-truth query
            masks (the authors' training).
        events: True = a voxel-grid encoder's features are added to the feature differences
            that make the motion tokens (and the per-pixel motion map); False = frames only
            (no event parameters at all).
        event_bins: voxel-grid bins B.
        event_widths: channels of the event encoder at strides 2 and 4 (then 8).
        num_object_classes, num_motion_classes: sizes of the auxiliary classifiers (0 = off).
        presence_scale: the presence score is ``scale * cos(h(P_q[0]), h(P_s[0]))`` (5).
        presence: which query prototype the presence score compares with the support:
            ``proposal`` (the paper: pooled under the class-agnostic proposal) or ``way_masks``
            (ours: pooled under each way's own predicted mask, detached; the paper's score is
            then trained too, as ``proposal_cls``). Also the default of inference.
        pixel_mean, pixel_std: RGB normalisation.
        pretrained_backbone: local torchvision ImageNet state dict of ``backbone`` (ResNets only).
        loss: :class:`DMALossConfig`.
    """

    arch: str = "dma"
    name: str = "dma"
    backbone: str = "small"
    small_widths: list[int] = field(default_factory=lambda: [32, 48, 64, 96])
    hidden_dim: int = 64
    num_heads: int = 4
    num_queries: int = 15
    qformer_layers: int = 2
    enhancer_layers: int = 1
    ffn_ratio: int = 2
    motion_pooling: str = "sum"
    pixel_motion: bool = True
    gt_branch: bool = True
    events: bool = True
    event_bins: int = 5
    event_widths: list[int] = field(default_factory=lambda: [16, 32])
    num_object_classes: int = 16
    num_motion_classes: int = 64
    presence_scale: float = 5.0
    presence: str = "proposal"
    pixel_mean: list[float] = field(default_factory=lambda: [0.485, 0.456, 0.406])
    pixel_std: list[float] = field(default_factory=lambda: [0.229, 0.224, 0.225])
    pretrained_backbone: Optional[str] = None
    loss: DMALossConfig = field(default_factory=DMALossConfig)

    def validate(self, source: str | os.PathLike | None = None) -> "DMAConfig":
        """Check the values; return ``self``.

        Raises:
            InputError: a value the network cannot be built with, naming the key and the fix.
        """

        def bad(problem: str, fix: str) -> None:
            raise InputError(source, f"DMA model config: {problem}", fix)

        if self.arch != "dma":
            bad(f"arch is {self.arch!r}", "use arch: dma")
        if self.backbone not in BACKBONES:
            bad(f"backbone is {self.backbone!r}", f"use one of {list(BACKBONES)}")
        if len(self.small_widths) != 4 or min(self.small_widths) < 1:
            bad(f"small_widths {list(self.small_widths)}", "give 4 positive widths (strides 4, 8, 16, 32)")
        if self.hidden_dim < 8 or self.hidden_dim % self.num_heads:
            bad(f"hidden_dim {self.hidden_dim} with {self.num_heads} heads", "use hidden_dim >= 8 divisible by num_heads")
        if self.hidden_dim % 2:
            bad(f"hidden_dim {self.hidden_dim} is odd", "use an even hidden_dim (sinusoidal encodings)")
        if self.num_queries < 1 or self.qformer_layers < 1 or self.enhancer_layers < 1 or self.ffn_ratio < 1:
            bad("num_queries, qformer_layers, enhancer_layers and ffn_ratio must be >= 1", "use positive sizes")
        if self.presence not in PRESENCE:
            bad(f"presence is {self.presence!r}", f"use one of {list(PRESENCE)}")
        if self.motion_pooling not in MOTION_POOLING:
            bad(f"motion_pooling is {self.motion_pooling!r}", f"use one of {list(MOTION_POOLING)}")
        if self.event_bins < 1 or len(self.event_widths) != 2:
            bad(f"event_bins {self.event_bins}, event_widths {list(self.event_widths)}", "use >= 1 bins and 2 widths")
        if self.num_object_classes < 0 or self.num_motion_classes < 0:
            bad("negative classifier size", "use 0 (off) or the number of categories")
        if len(self.pixel_mean) != 3 or len(self.pixel_std) != 3:
            bad("pixel_mean / pixel_std need 3 values", "give RGB mean and std")
        if self.pretrained_backbone and self.backbone == "small":
            bad("pretrained_backbone is set for the small trunk", "use a ResNet backbone or pretrained_backbone: null")
        return self
