"""Typed model configuration (DESIGN 3) and the YAML loader for ``configs/model/*.yaml``.

``ModelConfig`` is the single source of truth for every size and switch of the network. Its
defaults are the *base* model (ResNet-50 encoders, key_dim 256, the EVOLVE paper's choices);
``configs/model/base.yaml`` mirrors them and ``configs/model/small.yaml`` is a Hydra group file
(``defaults: [base, _self_]``) that swaps in ResNet-18 encoders.

The dataclasses are OmegaConf structured configs, so a Hydra train config can declare
``model: ModelConfig`` and select ``model=small`` / ``model=base`` as a config group, and a typo in
a key fails at composition time.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

from omegaconf import OmegaConf

from evolve.utils.errors import InputError

from evolve.model.backbones import RESNET_MS_DIMS
from evolve.model.memory_ops import AFFINITY_NORMS


@dataclass
class BackboneConfig:
    """The image (and event) encoder: a torchvision ResNet cut after layer3 (DESIGN 3).

    Attributes:
        type: torchvision ResNet name (resnet18 / resnet34 / resnet50 / resnet101).
        ms_dims: channels of (f16, f8, f4); must match ``type`` (base [1024, 512, 256],
            small [256, 128, 64]).
    """

    type: str = "resnet50"
    ms_dims: list[int] = field(default_factory=lambda: [1024, 512, 256])


@dataclass
class MaskEncoderConfig:
    """The mask encoder: a ResNet on RGB + mask + "others" mask (Cutie; DESIGN 3)."""

    type: str = "resnet18"


@dataclass
class ObjectTransformerConfig:
    """The dual-memory object transformer (DMOT, DESIGN 3): 3 blocks, 8 heads, 16 queries."""

    ff_dim: int = 2048
    num_heads: int = 8
    num_blocks: int = 3
    num_queries: int = 16


@dataclass
class ObjectSummarizerConfig:
    """Object summarizer (object memory tokens): num_summaries must equal num_queries."""

    num_summaries: int = 16
    add_pe: bool = True


@dataclass
class MaskDecoderConfig:
    """Mask decoder channel widths at stride 16 / 8 / 4 (``up_dims[0]`` must equal embed_dim)."""

    up_dims: list[int] = field(default_factory=lambda: [256, 128, 128])


@dataclass
class RefinementConfig:
    """MRM numbers (authors' ``weight_topk_queries``; DESIGN 3).

    For the ``top_k`` tokens with the highest IoU the update weight is ``beta + alpha * IoU``,
    for the rest ``beta``. ``threshold`` binarises both the per-token mask and the aux mask.
    The re-summariser (authors' ``ObjectSummarizer2``) adds the sine positional encoding
    (``add_pe``) and uses ``heads: linear`` (Linear-Linear feature and weight heads, no ReLU, as
    the authors); ``heads: mlp`` is our earlier form (Linear-ReLU-Linear features, one Linear for
    the weights).
    """

    top_k: int = 8
    alpha: float = 1.5
    beta: float = 0.8
    threshold: float = 0.5
    add_pe: bool = True
    heads: str = "linear"


@dataclass
class ModelConfig:
    """Every size and switch of the EVOLVE network (DESIGN 3). Defaults = the base model.

    Switches:
        events: True = EVOLVE; False = frames-only Cutie-style baseline on the same code path
            with no event parameters at all (no event encoder, event keys, event fuser, event
            summarizer, event queries or event pixel stream).
        edft: use event-guided deformable feature transfer. EDFT is *active* only when
            ``edft`` and (``events`` or ``offset_source == "image"``): with events off and the
            default ``offset_source: event`` there are no event features to take offsets from,
            so the baseline has no deformable convolution (plain Cutie keys and values).
        offset_source: "event" (paper, default) or "image" (the authors' last commit).
        modulated: False = DCNv1 as the authors; True = DCNv2 (adds 9 modulation channels to the
            offset convolution, sigmoid modulation).
        mrm: "shared" (one MRM on the image branch updates both query sets, as the authors'
            code) or "per_modality" (a second MRM summarises the event pixel stream and updates
            the event queries, as the paper's figure).
        fg_only_summaries: True = all 16 object-memory summaries pool the foreground mask (the
            authors); False = Cutie's 8 foreground + 8 background summaries.
        dmot_joint_attention: "authors" = the joint self-attention as the authors call Cutie's
            CrossAttention with ``mem = x``: ``LN(x) + MHA(LN(x) + pe, x + pe, x)``, then the
            FFN, then the block's input tokens added again after the split; "prenorm" = our
            earlier ``x + MHA(LN x + pe, LN x + pe, LN x)`` without the outer residual.
        query_read_norm: a LayerNorm on the pixel stream before each query read (our earlier
            form, residual from the un-normalised input); False = Cutie's and the authors'
            ``read_from_query.output_norm: False``.
        event_pixel_init_proj: a 1x1 projection of the event pixel stream before DMOT (our
            earlier form); False = the authors' (the event readout enters DMOT as it is).
        event_conv1_init: "fresh" = the event encoder's ``bins``-channel conv1 gets PyTorch's
            default Conv2d initialisation even when ImageNet weights are loaded (the authors);
            "rgb_mean" = every channel gets ``sum_rgb(W) / bins`` of the ImageNet conv1.
        edft_precision: "autocast" = on CUDA under autocast the deformable convolutions and the
            key convolutions run in the autocast dtype (so the fp16/bf16 kernels are used);
            "float32" = always in a float32 island. On the CPU both run in float32.
        affinity_norm: how the pixel-memory affinity is normalised, for the image-keyed and the
            event-keyed readouts, in training (full) and at inference (top-k):
            "memory_softmax" (Cutie, EVOLVE: softmax over the memory per query pixel),
            "query_softmax" (EMVOS's equalized matching: softmax over the query per memory
            token, readout scaled by M / L) or "topk_bijective" (BMVOS: every memory token keeps
            its ``bijective_k`` best query pixels, then the softmax over the memory).
            docs/emvos.md gives the formulas and the cost.
        bijective_k: K of ``topk_bijective`` (BMVOS: 4).
        equalized_scores: add EMVOS's masked max-pooled fg/bg equalized scores (2 channels per
            object and per keying) to the pixel fusers' input through a zero-initialised 1x1
            projection per fuser (false = no extra parameter).
        pretrained_backbone: local path to a torchvision ImageNet state dict of
            ``pixel_encoder.type`` (loads the image and the event encoder); None = random init.
        pretrained_mask_encoder: local path to a torchvision ImageNet state dict of
            ``mask_encoder.type``; None = random init.
    """

    arch: str = "evolve"
    name: str = "base"
    pixel_encoder: BackboneConfig = field(default_factory=BackboneConfig)
    mask_encoder: MaskEncoderConfig = field(default_factory=MaskEncoderConfig)
    pixel_dim: int = 256
    key_dim: int = 256
    value_dim: int = 256
    sensory_dim: int = 256
    embed_dim: int = 256
    pixel_mean: list[float] = field(default_factory=lambda: [0.485, 0.456, 0.406])
    pixel_std: list[float] = field(default_factory=lambda: [0.229, 0.224, 0.225])
    pixel_pe_scale: float = 32.0
    pixel_pe_temperature: float = 128.0
    object_transformer: ObjectTransformerConfig = field(default_factory=ObjectTransformerConfig)
    object_summarizer: ObjectSummarizerConfig = field(default_factory=ObjectSummarizerConfig)
    mask_decoder: MaskDecoderConfig = field(default_factory=MaskDecoderConfig)
    refinement: RefinementConfig = field(default_factory=RefinementConfig)
    events: bool = True
    event_bins: int = 5
    edft: bool = True
    offset_source: str = "event"
    modulated: bool = False
    mrm: str = "shared"
    fg_only_summaries: bool = True
    dmot_joint_attention: str = "authors"
    query_read_norm: bool = False
    event_pixel_init_proj: bool = False
    event_conv1_init: str = "fresh"
    edft_precision: str = "autocast"
    affinity_norm: str = "memory_softmax"
    bijective_k: int = 4
    equalized_scores: bool = False
    pretrained_backbone: Optional[str] = None
    pretrained_mask_encoder: Optional[str] = None

    @property
    def edft_active(self) -> bool:
        """Whether the network builds EDFT (see the class docstring)."""
        return self.edft and (self.events or self.offset_source == "image")

    def validate(self, source: str | os.PathLike | None = None) -> "ModelConfig":
        """Check the values the code relies on; return ``self``.

        Args:
            source: the YAML file the config came from (named in the error), or None.

        Raises:
            InputError: a value the network cannot be built with, naming the key and the fix.
        """

        def bad(problem: str, fix: str) -> None:
            raise InputError(source, f"model config: {problem}", fix)

        if self.arch != "evolve":
            bad(f"arch is {self.arch!r} in an EVOLVE config", "use arch: evolve, or load the config through evolve.model.registry")

        for key, arch in (("pixel_encoder.type", self.pixel_encoder.type), ("mask_encoder.type", self.mask_encoder.type)):
            if arch not in RESNET_MS_DIMS:
                bad(f"{key} is {arch!r}", f"use one of {sorted(RESNET_MS_DIMS)}")
        expected = RESNET_MS_DIMS[self.pixel_encoder.type]
        if list(self.pixel_encoder.ms_dims) != expected:
            bad(
                f"pixel_encoder.ms_dims {list(self.pixel_encoder.ms_dims)} do not match {self.pixel_encoder.type}",
                f"set pixel_encoder.ms_dims={expected}",
            )
        if self.offset_source not in ("event", "image"):
            bad(f"offset_source is {self.offset_source!r}", "use offset_source=event or offset_source=image")
        if self.mrm not in ("shared", "per_modality"):
            bad(f"mrm is {self.mrm!r}", "use mrm=shared or mrm=per_modality")
        choices = {"dmot_joint_attention": ("authors", "prenorm"), "event_conv1_init": ("fresh", "rgb_mean"),
                   "edft_precision": ("autocast", "float32")}
        for key, allowed in choices.items():
            if getattr(self, key) not in allowed:
                bad(f"{key} is {getattr(self, key)!r}", f"use one of {list(allowed)}")
        if self.affinity_norm not in AFFINITY_NORMS:
            bad(f"affinity_norm is {self.affinity_norm!r}", f"use one of {list(AFFINITY_NORMS)}")
        if self.bijective_k < 1:
            bad(f"bijective_k is {self.bijective_k}", "use a positive bijective_k (BMVOS: 4)")
        if self.refinement.heads not in ("linear", "mlp"):
            bad(f"refinement.heads is {self.refinement.heads!r}", "use refinement.heads=linear (the authors) or mlp")
        dims = {"pixel_dim": self.pixel_dim, "value_dim": self.value_dim, "embed_dim": self.embed_dim, "sensory_dim": self.sensory_dim}
        if len(set(dims.values())) != 1:
            bad(f"{dims} differ", "keep pixel_dim, value_dim, embed_dim and sensory_dim equal (the event summaries add pixel and value features, DMOT adds both streams)")
        if self.key_dim < 1:
            bad(f"key_dim is {self.key_dim}", "use a positive key_dim (EVOLVE 256, Cutie 64)")
        if self.event_bins < 1:
            bad(f"event_bins is {self.event_bins}", "use the voxel grid's number of bins (5)")
        ot = self.object_transformer
        if ot.num_blocks < 1 or ot.num_queries < 1:
            bad(f"object_transformer has {ot.num_blocks} blocks and {ot.num_queries} queries", "use at least 1 of each")
        if self.embed_dim % ot.num_heads != 0:
            bad(f"embed_dim {self.embed_dim} is not divisible by num_heads {ot.num_heads}", "pick num_heads dividing embed_dim")
        if self.object_summarizer.num_summaries != ot.num_queries:
            bad(
                f"object_summarizer.num_summaries {self.object_summarizer.num_summaries} != object_transformer.num_queries {ot.num_queries}",
                "set them equal (one summary per query)",
            )
        if not self.fg_only_summaries and self.object_summarizer.num_summaries % 2:
            bad("fg_only_summaries=false needs an even number of summaries", "use an even num_summaries")
        up = list(self.mask_decoder.up_dims)
        if len(up) != 3 or up[0] != self.embed_dim:
            bad(f"mask_decoder.up_dims {up}", f"give 3 widths, the first equal to embed_dim ({self.embed_dim})")
        if len(self.pixel_mean) != 3 or len(self.pixel_std) != 3:
            bad("pixel_mean / pixel_std need 3 values", "give RGB mean and std")
        if not 1 <= self.refinement.top_k:
            bad(f"refinement.top_k is {self.refinement.top_k}", "use a positive top_k (8)")
        return self


def load_model_config(name_or_path: str | os.PathLike = "base", overrides: Sequence[str] = ()) -> ModelConfig:
    """An EVOLVE config from ``configs/model/<name>.yaml`` (or a YAML path) with dot-list overrides
    (:func:`evolve.model.registry.load_model_config`, checked to be EVOLVE's).

    Args:
        name_or_path: ``"base"``, ``"small"`` or a path.
        overrides: Hydra-style ``key=value`` strings, e.g. ``["events=false", "key_dim=64"]``.

    Raises:
        InputError: missing file, bad YAML, an unknown key or a wrong type (the message names the
            key), a value :meth:`ModelConfig.validate` rejects, or a config of another network.
    """
    from evolve.model.registry import load_model_config as load_any

    cfg = load_any(name_or_path, overrides)
    if not isinstance(cfg, ModelConfig):
        raise InputError(os.fspath(name_or_path), f"not an EVOLVE model config (arch {cfg.arch!r})", "use model=small or model=base")
    return cfg


def model_config_from_dict(cfg: Any) -> ModelConfig:
    """Turn a ``DictConfig`` / dict (e.g. the ``model`` node of a Hydra train config) into a
    validated :class:`ModelConfig`. Already-typed configs are validated and returned as is.

    Raises:
        InputError: unknown keys, wrong types or invalid values.
    """
    if isinstance(cfg, ModelConfig):
        return cfg.validate()
    try:
        merged = OmegaConf.merge(OmegaConf.structured(ModelConfig), cfg)
        obj = OmegaConf.to_object(merged)
    except Exception as exc:
        raise InputError(None, f"model config does not match ModelConfig ({exc})", "fix the key or value named above") from exc
    assert isinstance(obj, ModelConfig)
    return obj.validate()
