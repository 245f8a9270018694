"""The EVOLVE network: stateless primitives, no monolithic forward (DESIGN 1 and 3).

``EVOLVE`` owns every parameter. The training unroll (:mod:`evolve.model.evolve.train_wrapper`) and
the streaming inference core (:mod:`evolve.inference`) call the same primitives, so one set of
weights serves both. Per frame:

1. :meth:`EVOLVE.encode_frame` -> :class:`FrameFeatures` (image encoder, event encoder, image
   keys after EDFT, event keys, offsets, decoder skips = image + event features);
2. :meth:`EVOLVE.read_pixel_memory` twice (image-keyed and event-keyed affinity over the same
   deformed values, normalised as ``model.affinity_norm`` says; with ``equalized_scores`` also
   EMVOS's fg/bg scores), then :meth:`EVOLVE.fuse_and_transform` (two pixel fusers, DMOT + MRM);
   :meth:`EVOLVE.read_memory` does both with full softmax (training);
3. :meth:`EVOLVE.segment` (mask decoder, soft aggregation, sensory update);
4. :meth:`EVOLVE.encode_mask` (memory write: deformed value, deep sensory update, image and
   event object summaries); :meth:`EVOLVE.compute_aux` (auxiliary logits for the losses).
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, fields, replace
from typing import Callable, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from evolve.model.evolve.config import ModelConfig
from evolve.model.evolve.decoder import LinearPredictor, MaskDecoder, PixelFeatureFuser
from evolve.model.backbones import ResNetTrunk
from evolve.model.evolve.encoders import EDFT, KeyProjection, MaskEncoder, edft_dtype
from evolve.model.layers import aggregate_probabilities, fp32_island
from evolve.model.memory_ops import anisotropic_l2_similarity, equalized_scores, readout, readout_weights
from evolve.model.evolve.summarizer import ObjectSummarizer
from evolve.model.evolve.transformer import DualMemoryObjectTransformer

logger = logging.getLogger(__name__)


@dataclass
class FrameFeatures:
    """What the network computes from one (batch of) frame(s); h, w = H/16, W/16.

    Attributes:
        skip8, skip4: decoder skips (B, C8, H/8, W/8), (B, C4, H/4, W/4): image features plus
            event features (EVOLVE) or image features alone.
        pix_feat: (B, 256, h, w) image pixel feature (1x1 projection of f16).
        key, selection: (B, Ck, h, w) float32 image key (after EDFT) and selection in (0, 1).
        shrinkage: (B, 1, h, w) float32, >= 1.
        offset: (B, 18, h, w) float32 EDFT offsets of this frame, or None without EDFT.
        modulation: (B, 9, h, w) float32 DCNv2 modulation, or None.
        event_feat: (B, 256, h, w) event feature, or None without events.
        event_key, event_shrinkage, event_selection: event keys (float32), or None.
    """

    skip8: Tensor
    skip4: Tensor
    pix_feat: Tensor
    key: Tensor
    shrinkage: Tensor
    selection: Tensor
    offset: Optional[Tensor] = None
    modulation: Optional[Tensor] = None
    event_feat: Optional[Tensor] = None
    event_key: Optional[Tensor] = None
    event_shrinkage: Optional[Tensor] = None
    event_selection: Optional[Tensor] = None

    def map(self, fn: Callable[[Tensor], Tensor]) -> "FrameFeatures":
        """Apply ``fn`` to every tensor field (None fields stay None)."""
        return replace(self, **{f.name: (None if getattr(self, f.name) is None else fn(getattr(self, f.name))) for f in fields(self)})

    def at_time(self, batch: int, time: int, t: int) -> "FrameFeatures":
        """Features of frame ``t`` from features of ``batch * time`` frames flattened batch-major."""
        return self.map(lambda x: x.view(batch, time, *x.shape[1:])[:, t])


@dataclass
class MaskMemory:
    """Output of :meth:`EVOLVE.encode_mask` (one memory frame).

    Attributes:
        value: (B, N, Cv, h, w) mask value for the pixel memory, already deformed by EDFT with
            this frame's offsets (the raw value without EDFT).
        sensory: (B, N, Cs, h, w) float32 sensory memory (deep-updated or passed through).
        summary: (B, N, Q, C+1) float32 image object-memory summary (sums, area).
        event_summary: (B, N, Q, C+1) float32 event object-memory summary, or None.
        mask16: (B, N, h, w) float32 object probabilities area-pooled to stride 16 (the memory
            masks of ``equalized_scores``).
    """

    value: Tensor
    sensory: Tensor
    summary: Tensor
    event_summary: Optional[Tensor] = None
    mask16: Optional[Tensor] = None


class EVOLVE(nn.Module):
    """The EVOLVE network (DESIGN 3): Cutie's memory network plus events, EDFT, dual memory, DMOT, MRM.

    Args:
        config: a validated :class:`ModelConfig` (``load_model_config`` or Hydra's ``model``).
        single_object: build the single-object variant (mask encoder without the "others"
            channel; pre-training with 1 object per clip, as Cutie).

    Top-level modules (names are stable checkpoint prefixes): ``pixel_encoder``, ``pix_feat_proj``,
    ``key_proj``, ``edft`` (EDFT only), ``event_encoder``, ``event_feat_proj``,
    ``event_key_proj``, ``event_fuser``, ``event_summarizer`` (events only), ``mask_encoder``,
    ``pixel_fuser``, ``object_summarizer``, ``object_transformer``, ``mask_decoder``,
    ``aux_head``. With ``events: false`` no parameter name contains "event".

    Raises:
        InputError: an invalid config, or a pretrained file that cannot be used.
    """

    def __init__(self, config: ModelConfig, single_object: bool = False) -> None:
        super().__init__()
        config.validate()
        self.config = config
        self.single_object = single_object
        self.events = config.events
        self.edft_active = config.edft_active
        self.offset_source = config.offset_source
        c16 = config.pixel_encoder.ms_dims[0]
        self.register_buffer("pixel_mean", torch.tensor(config.pixel_mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("pixel_std", torch.tensor(config.pixel_std).view(1, 3, 1, 1), persistent=False)

        self.pixel_encoder = ResNetTrunk(config.pixel_encoder.type, 3)
        self.pix_feat_proj = nn.Conv2d(c16, config.pixel_dim, 1)
        self.key_proj = KeyProjection(c16, config.pixel_dim, config.key_dim)
        if self.edft_active:
            self.edft = EDFT(c16, config.pixel_dim, config.value_dim, config.modulated)
        if self.events:
            self.event_encoder = ResNetTrunk(config.pixel_encoder.type, config.event_bins,
                                             conv1_init="default" if config.event_conv1_init == "fresh" else "resnet")
            self.event_feat_proj = nn.Conv2d(c16, config.pixel_dim, 1)
            self.event_key_proj = KeyProjection(c16, config.pixel_dim, config.key_dim)
            self.event_fuser = PixelFeatureFuser(config.pixel_dim, config.value_dim, config.sensory_dim, config.embed_dim, single_object,
                                                 config.equalized_scores)
        self.mask_encoder = MaskEncoder(config.mask_encoder.type, config.pixel_dim, config.value_dim, config.sensory_dim, single_object)
        self.pixel_fuser = PixelFeatureFuser(config.pixel_dim, config.value_dim, config.sensory_dim, config.embed_dim, single_object,
                                             config.equalized_scores)
        summ = config.object_summarizer
        make_summarizer = lambda: ObjectSummarizer(  # noqa: E731
            config.value_dim, config.embed_dim, summ.num_summaries, summ.add_pe, config.fg_only_summaries, config.pixel_pe_scale, config.pixel_pe_temperature
        )
        self.object_summarizer = make_summarizer()
        if self.events:
            self.event_summarizer = make_summarizer()
        self.object_transformer = DualMemoryObjectTransformer(config)
        self.mask_decoder = MaskDecoder(config.pixel_encoder.ms_dims, config.mask_decoder.up_dims, config.sensory_dim)
        self.aux_head = LinearPredictor(config.sensory_dim, config.pixel_dim)
        self._load_pretrained()

    # ------------------------------------------------------------------ construction helpers
    def _load_pretrained(self) -> None:
        cfg = self.config
        parts = []
        if cfg.pretrained_backbone:
            self.pixel_encoder.load_imagenet(cfg.pretrained_backbone, "mean")
            if self.events:
                self.event_encoder.load_imagenet(cfg.pretrained_backbone, "keep" if cfg.event_conv1_init == "fresh" else "mean")
            parts.append(f"image{'+event' if self.events else ''} encoder ({cfg.pixel_encoder.type}) <- ImageNet {cfg.pretrained_backbone}")
        else:
            parts.append(f"image{'+event' if self.events else ''} encoder ({cfg.pixel_encoder.type}) <- random init")
        if cfg.pretrained_mask_encoder:
            self.mask_encoder.backbone.load_imagenet(cfg.pretrained_mask_encoder, "orthogonal")
            parts.append(f"mask encoder ({cfg.mask_encoder.type}) <- ImageNet {cfg.pretrained_mask_encoder}")
        else:
            parts.append(f"mask encoder ({cfg.mask_encoder.type}) <- random init")
        logger.info("EVOLVE-%s backbone initialisation: %s", cfg.name, "; ".join(parts))

    def forward(self, *args, **kwargs):  # noqa: D401
        """Not used: call the primitives, :class:`~evolve.model.evolve.train_wrapper.TrainWrapper` or
        :class:`~evolve.inference.InferenceCore`."""
        raise NotImplementedError("EVOLVE has no forward(); use TrainWrapper for training or InferenceCore for inference")

    # ------------------------------------------------------------------ encoders
    def normalize(self, image: Tensor) -> Tensor:
        """ImageNet normalisation of RGB in [0, 1]: (B, 3, H, W) -> (B, 3, H, W)."""
        return (image - self.pixel_mean.to(image.dtype)) / self.pixel_std.to(image.dtype)

    def encode_image(self, image: Tensor) -> tuple[list[Tensor], Tensor]:
        """Image encoder. image (B, 3, H, W) RGB in [0, 1], H and W multiples of 16.

        Returns:
            [f16, f8, f4] ((B, C16, H/16, W/16), (B, C8, H/8, W/8), (B, C4, H/4, W/4)) and the
            pixel feature (B, 256, H/16, W/16).
        """
        ms = self.pixel_encoder(self.normalize(image))
        return ms, self.pix_feat_proj(ms[0])

    def encode_events(self, voxel: Tensor) -> tuple[list[Tensor], Tensor]:
        """Event encoder on the voxel grid (B, bins, H, W) (no normalisation, DESIGN 2.4).

        Returns:
            [e16, e8, e4] and the event feature (B, 256, H/16, W/16).
        Raises:
            RuntimeError: the network was built with ``events: false``.
        """
        if not self.events:
            raise RuntimeError("this network was built with events: false; it has no event encoder")
        ms = self.event_encoder(voxel)
        return ms, self.event_feat_proj(ms[0])

    def transform_key(self, f16: Tensor, offset_source: Optional[Tensor] = None) -> tuple[Tensor, Tensor, Tensor, Optional[Tensor], Optional[Tensor]]:
        """Image key projection with EDFT (DESIGN 3).

        x = Conv1x1(f16); with EDFT x = DeformConv(x, offsets(offset_source)); then key,
        shrinkage, selection from x (:class:`~evolve.model.evolve.encoders.KeyProjection`).
        With ``edft_precision: autocast`` under autocast the deformable convolution runs in the
        autocast dtype (the reduced-precision kernels) and the surrounding convolutions under
        autocast (Cutie computes its keys under autocast too); with ``float32`` everything is an
        fp32 island. The outputs are float32 (the affinity is an fp32 island).

        Args:
            f16: (B, C16, h, w) image feature.
            offset_source: (B, C16, h, w) raw stride-16 event (or image) feature for the offsets;
                required when EDFT is active.
        Returns:
            key (B, Ck, h, w), shrinkage (B, 1, h, w), selection (B, Ck, h, w), offset
            (B, 18, h, w) or None, modulation (B, 9, h, w) or None; all float32.
        """
        dtype = edft_dtype(f16.device.type, self.config.edft_precision)
        island = dtype == torch.float32
        with fp32_island(f16.device.type) if island else contextlib.nullcontext():
            x = self.key_proj.feature_proj(f16.float() if island else f16)
            offset = modulation = None
            if self.edft_active:
                if offset_source is None:
                    raise ValueError("EDFT is active: pass the offset source feature")
                offset, modulation = self.edft.offsets(offset_source.float() if island else offset_source)
                x = self.edft.feature_deform(x, offset, modulation, dtype)
            key, shrinkage, selection = self.key_proj.keys(x)
        offset = None if offset is None else offset.float()
        modulation = None if modulation is None else modulation.float()
        return key.float(), shrinkage.float(), selection.float(), offset, modulation


    def transform_event_key(self, e16: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Event key projection (own, not deformed), float32: e16 (B, C16, h, w) -> key, shrinkage, selection."""
        with fp32_island(e16.device.type):
            return self.event_key_proj(e16.float())

    def encode_frame(self, image: Tensor, voxel: Optional[Tensor] = None) -> FrameFeatures:
        """Everything computed from a frame before memory is read.

        Args:
            image: (B, 3, H, W) RGB in [0, 1]; H, W multiples of 16.
            voxel: (B, bins, H, W) voxel grid (required when events are on; ignored otherwise).
        Returns:
            :class:`FrameFeatures`.
        Raises:
            ValueError: missing voxel grid, or a voxel grid of another size / bin count.
        """
        if image.shape[-2] % 16 or image.shape[-1] % 16:
            raise ValueError(f"image size {tuple(image.shape[-2:])} is not a multiple of 16; pad it first")
        ms, pix_feat = self.encode_image(image)
        f16, f8, f4 = ms
        if not self.events:
            key, shrinkage, selection, offset, modulation = self.transform_key(f16, f16 if self.edft_active else None)
            return FrameFeatures(f8, f4, pix_feat, key, shrinkage, selection, offset, modulation)
        if voxel is None:
            raise ValueError("this network has events on: pass the voxel grid of every frame")
        if voxel.shape[0] != image.shape[0] or voxel.shape[-2:] != image.shape[-2:] or voxel.shape[1] != self.config.event_bins:
            raise ValueError(f"voxel grid {tuple(voxel.shape)} does not match image {tuple(image.shape)} with {self.config.event_bins} bins")
        ems, event_feat = self.encode_events(voxel.to(image.dtype))
        e16, e8, e4 = ems
        source = e16 if self.offset_source == "event" else f16
        key, shrinkage, selection, offset, modulation = self.transform_key(f16, source)
        ekey, eshrinkage, eselection = self.transform_event_key(e16)
        return FrameFeatures(f8 + e8, f4 + e4, pix_feat, key, shrinkage, selection, offset, modulation, event_feat, ekey, eshrinkage, eselection)

    def _others(self, masks: Tensor) -> Optional[Tensor]:
        """"Others" mask per object: (sum of the other objects' masks) clamped to [0, 1]; None in single-object mode."""
        if self.single_object:
            return None
        return (masks.sum(dim=1, keepdim=True) - masks).clamp(0, 1)

    def encode_mask(self, image: Tensor, frame: FrameFeatures, sensory: Tensor, masks: Tensor, deep_update: bool = True) -> MaskMemory:
        """Memory write for one frame (DESIGN 3): value, deep sensory update, object summaries.

        The mask encoder fuses with ``pix_feat + event_feat`` (EVOLVE); the value for the pixel
        memory is deformed with this frame's EDFT offsets; the image summaries pool the raw value,
        the event summaries pool ``event_feat + value``.

        Args:
            image: (B, 3, H, W) RGB in [0, 1].
            frame: this frame's :class:`FrameFeatures`.
            sensory: (B, N, Cs, h, w).
            masks: (B, N, H, W) object probabilities in [0, 1] (ground truth or prediction).
            deep_update: update the sensory memory from the value.
        Returns:
            :class:`MaskMemory`.
        """
        fuse_x = frame.pix_feat if frame.event_feat is None else frame.pix_feat + frame.event_feat
        value, sensory = self.mask_encoder(self.normalize(image), fuse_x, sensory, masks, self._others(masks), deep_update)
        summary = self.object_summarizer(masks, value)
        event_summary = None
        if self.events:
            assert frame.event_feat is not None
            event_summary = self.event_summarizer(masks, frame.event_feat.unsqueeze(1) + value)
        memory_value = value
        if self.edft_active:
            assert frame.offset is not None
            dtype = edft_dtype(value.device.type, self.config.edft_precision)
            memory_value = self.edft.deform_values(value, frame.offset, frame.modulation, dtype)
        mask16 = F.interpolate(masks.float(), size=value.shape[-2:], mode="area")  # (B, N, h, w)
        return MaskMemory(memory_value, sensory, summary, event_summary, mask16)

    # ------------------------------------------------------------------ memory readout
    @staticmethod
    def read_pixel_memory(
        query_key: Tensor,
        query_selection: Tensor,
        mem_key: Tensor,
        mem_shrinkage: Tensor,
        mem_value: Tensor,
        top_k: Optional[int] = None,
        affinity_norm: str = "memory_softmax",
        bijective_k: int = 4,
        mem_masks: Optional[Tensor] = None,
    ) -> tuple[Tensor, Tensor, Optional[Tensor]]:
        """Pixel-memory readout with the anisotropic-L2 affinity (DESIGN 3), float32.

        Args:
            query_key, query_selection: (B, Ck, h, w).
            mem_key: (B, Ck, L); mem_shrinkage: (B, 1, L); mem_value: (B, N, Cv, L).
            top_k: None = full affinity (training); k = per-query top-k (inference).
            affinity_norm, bijective_k: ``model.affinity_norm`` and ``model.bijective_k``
                (:func:`~evolve.model.memory_ops.readout_weights`).
            mem_masks: (B, N, L) object probabilities of the memory tokens: when given, EMVOS's
                equalized fg/bg scores are returned too.
        Returns:
            readout float32 (B, N, Cv, h, w), the readout weights (B, L, h*w) and the equalized
            scores float32 (B, N, 2, h, w) (background, foreground) or None.
        """
        b, ck, h, w = query_key.shape
        n, cv = mem_value.shape[1:3]
        with fp32_island(query_key.device.type):
            sim = anisotropic_l2_similarity(mem_key, mem_shrinkage, query_key.flatten(2), query_selection.flatten(2))
            affinity = readout_weights(sim, affinity_norm, top_k, bijective_k)
            out = readout(affinity, mem_value.flatten(1, 2))  # (B, N*Cv, h*w)
            scores = None if mem_masks is None else equalized_scores(sim, mem_masks).view(b, n, 2, h, w)
        return out.view(b, n, cv, h, w), affinity, scores

    def fuse_and_transform(
        self,
        frame: FrameFeatures,
        image_readout: Tensor,
        event_readout: Optional[Tensor],
        obj_memory: Tensor,
        event_obj_memory: Optional[Tensor],
        sensory: Tensor,
        last_mask: Tensor,
        image_scores: Optional[Tensor] = None,
        event_scores: Optional[Tensor] = None,
    ) -> tuple[Tensor, dict]:
        """Pixel fusers (image-keyed and event-keyed readouts) and DMOT + MRM.

        Args:
            frame: current :class:`FrameFeatures`.
            image_readout, event_readout: (B, N, Cv, h, w) (event None without events).
            obj_memory, event_obj_memory: (B, N, T, Q, C+1).
            sensory: (B, N, Cs, h, w).
            last_mask: (B, N, H, W) previous frame's object probabilities (any size; area-resized).
            image_scores, event_scores: (B, N, 2, h, w) equalized fg/bg scores of the image- and
                event-keyed affinities (required with ``equalized_scores``, ignored otherwise).
        Raises:
            ValueError: ``equalized_scores`` is on and a score tensor is missing.
        Returns:
            readout (B, N, C, h, w) for the decoder and an aux dict
            ``{"sensory": (B, N, Cs, h, w), "q_logits": [4 x (B, N, h, w)]}``.
        """
        h, w = image_readout.shape[-2:]
        last_mask = F.interpolate(last_mask.float(), size=(h, w), mode="area")  # (B, N, h, w)
        others = self._others(last_mask)
        if self.config.equalized_scores and (image_scores is None or (self.events and event_scores is None)):
            raise ValueError("equalized_scores is on: pass the equalized scores of every keying (read_pixel_memory with mem_masks)")
        if not self.config.equalized_scores:
            image_scores = event_scores = None
        pixel = self.pixel_fuser(frame.pix_feat, image_readout, sensory, last_mask, others, image_scores)
        event_pixel = None
        if self.events:
            if event_readout is None or frame.event_feat is None:
                raise ValueError("this network has events on: pass the event-keyed readout")
            event_pixel = self.event_fuser(frame.event_feat, event_readout, sensory, last_mask, others, event_scores)
        out, q_logits = self.object_transformer(pixel, obj_memory, event_pixel, event_obj_memory)
        return out, {"sensory": sensory, "q_logits": q_logits}

    def read_memory(
        self,
        frame: FrameFeatures,
        mem_key: Tensor,
        mem_shrinkage: Tensor,
        mem_value: Tensor,
        obj_memory: Tensor,
        sensory: Tensor,
        last_mask: Tensor,
        mem_event_key: Optional[Tensor] = None,
        mem_event_shrinkage: Optional[Tensor] = None,
        event_obj_memory: Optional[Tensor] = None,
        top_k: Optional[int] = None,
        mem_masks: Optional[Tensor] = None,
    ) -> tuple[Tensor, dict]:
        """Full memory read (training): both pixel readouts (normalised by ``affinity_norm``),
        fusers, DMOT + MRM.

        Args:
            frame: current :class:`FrameFeatures`.
            mem_key: (B, Ck, L) image keys of the memory frames (L = T*h*w tokens).
            mem_shrinkage: (B, 1, L); mem_value: (B, N, Cv, L) deformed values.
            obj_memory: (B, N, T', Q, C+1); sensory: (B, N, Cs, h, w); last_mask (B, N, H, W).
            mem_event_key, mem_event_shrinkage, event_obj_memory: the event side (events on).
            top_k: None = full affinity.
            mem_masks: (B, N, L) stride-16 object probabilities of the memory tokens
                (:attr:`MaskMemory.mask16`); required with ``equalized_scores``.
        Returns:
            as :meth:`fuse_and_transform`.
        Raises:
            ValueError: missing event keys (events on) or memory masks (``equalized_scores``).
        """
        cfg = self.config
        if cfg.equalized_scores and mem_masks is None:
            raise ValueError("equalized_scores is on: pass the memory masks (mem_masks)")
        masks = mem_masks if cfg.equalized_scores else None
        image_readout, _, image_scores = self.read_pixel_memory(
            frame.key, frame.selection, mem_key, mem_shrinkage, mem_value, top_k, cfg.affinity_norm, cfg.bijective_k, masks
        )
        event_readout = event_scores = None
        if self.events:
            if mem_event_key is None or mem_event_shrinkage is None or frame.event_key is None or frame.event_selection is None:
                raise ValueError("this network has events on: pass the event keys of the memory")
            event_readout, _, event_scores = self.read_pixel_memory(
                frame.event_key, frame.event_selection, mem_event_key, mem_event_shrinkage, mem_value, top_k, cfg.affinity_norm, cfg.bijective_k, masks
            )
        return self.fuse_and_transform(frame, image_readout, event_readout, obj_memory, event_obj_memory, sensory, last_mask, image_scores, event_scores)

    # ------------------------------------------------------------------ decoding
    @staticmethod
    def _aggregate(logits: Tensor, selector: Optional[Tensor]) -> Tensor:
        """Per-object logits (B, N, ...) -> aggregated (1+N) logits (soft aggregation), float32."""
        prob = torch.sigmoid(logits.float())
        if selector is not None:
            prob = prob * selector.view(*selector.shape, *([1] * (prob.dim() - 2))).float()
        return aggregate_probabilities(prob, dim=1)

    def segment(self, frame: FrameFeatures, readout: Tensor, sensory: Tensor, selector: Optional[Tensor] = None, update_sensory: bool = True) -> tuple[Tensor, Tensor, Tensor]:
        """Mask decoder + soft aggregation (DESIGN 3).

        Per-object logits at stride 4 -> sigmoid (times ``selector``) -> soft aggregation
        (bg = prod(1 - p)) -> bilinear x4 upsampling of the (1+N) logits -> softmax.

        Args:
            frame: current :class:`FrameFeatures` (decoder skips).
            readout: (B, N, C, h, w) from :meth:`fuse_and_transform`.
            sensory: (B, N, Cs, h, w).
            selector: (B, N) 1 for real objects, 0 for padding objects; None = all real.
            update_sensory: run the decoder's sensory update.
        Returns:
            sensory (B, N, Cs, h, w), logits float32 (B, 1+N, H, W), probabilities float32
            (B, 1+N, H, W) (background first).
        """
        sensory, logits4 = self.mask_decoder(frame.skip8, frame.skip4, readout, sensory, update_sensory)
        with fp32_island(logits4.device.type):
            logits = self._aggregate(logits4, selector)  # (B, 1+N, H/4, W/4)
            logits = F.interpolate(logits, scale_factor=4.0, mode="bilinear", align_corners=False)
            prob = torch.softmax(logits, dim=1)
        return sensory, logits, prob

    def compute_aux(self, frame: FrameFeatures, aux: dict, selector: Optional[Tensor] = None) -> dict:
        """Auxiliary logits for the losses (Cutie's aux heads; DESIGN 3).

        Returns:
            ``{"sensory_logits": (B, 1+N, h, w), "q_logits": [4 x (B, 1+N, h, w)]}``, float32
            aggregated logits at stride 16.
        """
        with fp32_island(frame.pix_feat.device.type):
            sensory_logits = self.aux_head(frame.pix_feat.float(), aux["sensory"].float())
            return {
                "sensory_logits": self._aggregate(sensory_logits, selector),
                "q_logits": [self._aggregate(q, selector) for q in aux["q_logits"]],
            }
