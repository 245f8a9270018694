"""The EMVOS network as stateless primitives (Cho et al. 2022, arXiv 2209.03139; docs/emvos.md).

Per frame:

1. :meth:`EMVOS.encode_frame`: DenseNet-121 s4/s8/s16 features (frozen when ImageNet weights are
   given), and two stride-16 keys from s16 (joined by the voxel-grid encoder's stride-16 feature
   when events are on): the L2-normalised key (surjective matching) and the raw key (equalized);
2. :meth:`EMVOS.reference`: a reference (the first frame with its given mask = global, the
   previous frame with its predicted mask = local) is a frame's keys plus the objects' masks
   average-pooled to stride 16;
3. :meth:`EMVOS.match`: 8 score channels per object, {bg, fg} x {global, local} x {surjective,
   equalized}, by masked max-pooling over the reference pixels;
4. :meth:`EMVOS.decode`: the CBAM decoder -> 2-class logits per object at full resolution.

Objects run independently (the batch of objects shares the frame's features and the affinity
matrices); :func:`aggregate_objects` merges them (EMVOS's soft aggregation).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from evolve.model.backbones import DenseNetTrunk, ResNetTrunk
from evolve.model.emvos.config import EMVOSConfig
from evolve.model.emvos.decoder import EMVOSDecoder
from evolve.model.layers import fp32_island
from evolve.model.memory_ops import masked_max_scores, query_softmax_affinity

logger = logging.getLogger(__name__)

STRIDE = 16


@dataclass
class EMVOSFeatures:
    """What the network computes from one (batch of) frame(s); h, w = H/16, W/16.

    Attributes:
        s16, s8, s4: DenseNet features (B, 1024, h, w), (B, 512, 2h, 2w), (B, 256, 4h, 4w).
        norm_key: (B, Ck, h, w) float32, unit L2 norm over channels (surjective matching).
        key: (B, Ck, h, w) float32 raw key (equalized matching).
    """

    s16: Tensor
    s8: Tensor
    s4: Tensor
    norm_key: Tensor
    key: Tensor

    def at_time(self, batch: int, time: int, t: int) -> "EMVOSFeatures":
        """Features of frame ``t`` from features of ``batch * time`` frames flattened batch-major."""
        pick = lambda x: x.view(batch, time, *x.shape[1:])[:, t]  # noqa: E731
        return EMVOSFeatures(pick(self.s16), pick(self.s8), pick(self.s4), pick(self.norm_key), pick(self.key))


@dataclass
class Reference:
    """One reference frame for N objects (L = h*w reference pixels).

    Attributes:
        norm_key, key: (B, Ck, L) float32 keys of the reference frame.
        fg: (B, N, L) float32 foreground probability of each object at stride 16 (average-pooled
            given or predicted mask); the background of object n is ``1 - fg[:, n]``.
    """

    norm_key: Tensor
    key: Tensor
    fg: Tensor


def aggregate_objects(fg: Tensor, eps: float = 1e-7) -> Tensor:
    """EMVOS's soft aggregation of independently predicted objects (Cho et al. 2022, code
    ``aggregate_objects``; STM-style odds normalisation with the background as the minimum of the
    objects' backgrounds).

    ``bg = min_n (1 - p_n)``, odds ``o_n = p_n / (1 - p_n)`` and ``o_bg = bg / (1 - bg)`` (both
    clamped to [eps, 1 - eps] before dividing), ``P_n = o_n / (o_bg + sum_m o_m)``,
    ``P_bg = o_bg / (o_bg + sum_m o_m)``.

    Args:
        fg: (B, N, ...) foreground probability of each object (N >= 1).
    Returns:
        float32 (B, 1+N, ...) probabilities, background first, summing to 1.
    """
    p = fg.float()
    bg = (1 - p).amin(dim=1, keepdim=True)
    clamp = lambda x: x.clamp(eps, 1 - eps)  # noqa: E731
    odds = torch.cat([clamp(bg) / clamp(1 - bg), clamp(p) / clamp(1 - p)], dim=1)
    return odds / odds.sum(dim=1, keepdim=True)


def pool_mask(mask: Tensor) -> Tensor:
    """Average-pool masks to stride 16: (B, N, H, W) -> float32 (B, N, H/16, W/16)."""
    return F.avg_pool2d(mask.float(), STRIDE)


class EMVOS(nn.Module):
    """The EMVOS network (see the module docstring).

    Args:
        config: a validated :class:`EMVOSConfig`.
        single_object: accepted for the registry's signature; EMVOS runs every object on its
            own, so single- and multi-object networks are the same.

    Top-level modules (stable checkpoint prefixes): ``pixel_encoder`` (DenseNet-121),
    ``event_encoder`` (events only), ``matcher`` (``norm_key_proj``, ``key_proj``), ``decoder``.
    With ``events: false`` no parameter name contains "event".
    """

    def __init__(self, config: EMVOSConfig, single_object: bool = False) -> None:
        super().__init__()
        config.validate()
        self.config = config
        self.events = config.events
        self.register_buffer("pixel_mean", torch.tensor(config.pixel_mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("pixel_std", torch.tensor(config.pixel_std).view(1, 3, 1, 1), persistent=False)
        self.pixel_encoder = DenseNetTrunk(config.encoder)
        c16 = self.pixel_encoder.ms_dims[0]
        key_in = c16
        if self.events:
            self.event_encoder = ResNetTrunk(config.event_encoder, config.event_bins, conv1_init="default")
            key_in += self.event_encoder.ms_dims[0]
        self.matcher = nn.Module()
        self.matcher.norm_key_proj = nn.Conv2d(key_in, config.key_dim, 1)
        self.matcher.key_proj = nn.Conv2d(key_in, config.key_dim, 1)
        for conv in (self.matcher.norm_key_proj, self.matcher.key_proj):
            nn.init.kaiming_uniform_(conv.weight)
            nn.init.zeros_(conv.bias)
        self.decoder = EMVOSDecoder(self.pixel_encoder.ms_dims, config.decoder_dim)
        if config.pretrained_backbone:
            self.pixel_encoder.load_imagenet(config.pretrained_backbone)
            self.pixel_encoder.requires_grad_(False)
            logger.info("EMVOS-%s: DenseNet-121 <- ImageNet %s (frozen)", config.name, config.pretrained_backbone)
        else:
            logger.info("EMVOS-%s: DenseNet-121 <- random init (trained)", config.name)

    def forward(self, *args, **kwargs):  # noqa: D401
        """Not used: call the primitives, the train wrapper or the inference core."""
        raise NotImplementedError("EMVOS has no forward(); use EMVOSTrainWrapper for training or the EMVOS inference core")

    # ------------------------------------------------------------------ encoding
    def encode_frame(self, image: Tensor, voxel: Optional[Tensor] = None) -> EMVOSFeatures:
        """Encoder features and keys of frames.

        Args:
            image: (B, 3, H, W) RGB in [0, 1]; H, W multiples of 16 (pad first).
            voxel: (B, bins, H, W) voxel grid (required when events are on; ignored otherwise).
        Returns:
            :class:`EMVOSFeatures`.
        Raises:
            ValueError: size not a multiple of 16, or a missing / mismatching voxel grid.
        """
        if image.shape[-2] % STRIDE or image.shape[-1] % STRIDE:
            raise ValueError(f"image size {tuple(image.shape[-2:])} is not a multiple of 16; pad it first")
        x = (image - self.pixel_mean.to(image.dtype)) / self.pixel_std.to(image.dtype)
        if self.config.encoder_frozen:
            with torch.no_grad():
                s16, s8, s4 = self.pixel_encoder(x)
        else:
            s16, s8, s4 = self.pixel_encoder(x)
        key_in = s16
        if self.events:
            if voxel is None:
                raise ValueError("this network has events on: pass the voxel grid of every frame")
            if voxel.shape[0] != image.shape[0] or voxel.shape[-2:] != image.shape[-2:] or voxel.shape[1] != self.config.event_bins:
                raise ValueError(f"voxel grid {tuple(voxel.shape)} does not match image {tuple(image.shape)} with {self.config.event_bins} bins")
            e16 = self.event_encoder(voxel.to(image.dtype))[0]
            key_in = torch.cat([s16, e16.to(s16.dtype)], dim=1)
        with fp32_island(image.device.type):
            norm_key = F.normalize(self.matcher.norm_key_proj(key_in.float()), dim=1)
            key = self.matcher.key_proj(key_in.float())
        return EMVOSFeatures(s16, s8, s4, norm_key, key)

    @staticmethod
    def reference(features: EMVOSFeatures, masks: Tensor) -> Reference:
        """A reference from a frame's features and its objects' masks.

        Args:
            features: the reference frame's :class:`EMVOSFeatures`.
            masks: (B, N, H, W) foreground probabilities (given one-hot or predicted).
        Returns:
            :class:`Reference`.
        """
        return Reference(features.norm_key.flatten(2), features.key.flatten(2), pool_mask(masks).flatten(2))

    # ------------------------------------------------------------------ matching and decoding
    @staticmethod
    def surjective_affinity(ref_norm_key: Tensor, query_norm_key: Tensor) -> Tensor:
        """Cosine affinity mapped to [0, 1]: ``C(r, q) = (k_r . k_q + 1) / 2`` (EMVOS, arXiv 2209.03139).

        Shapes: (B, Ck, L), (B, Ck, M) -> float32 (B, L, M).
        """
        return (ref_norm_key.float().transpose(1, 2) @ query_norm_key.float() + 1) / 2

    @staticmethod
    def equalized_affinity(ref_key: Tensor, query_key: Tensor) -> Tensor:
        """Equalized affinity: softmax over the QUERY pixels of the raw dot product, per reference
        pixel (EMVOS, arXiv 2209.03139; :func:`~evolve.model.memory_ops.query_softmax_affinity`).

        Shapes: (B, Ck, L), (B, Ck, M) -> float32 (B, L, M), rows summing to 1.
        """
        return query_softmax_affinity(ref_key.float().transpose(1, 2) @ query_key.float())

    def match(self, query: EMVOSFeatures, global_ref: Reference, local_ref: Reference) -> Tensor:
        """The 8 matching-score channels of every object.

        Channel order: global bg, global fg, local bg, local fg (surjective), then the same four
        with the equalized affinity. Each is ``max_r A(r, q) M(r)`` over the reference pixels r
        (:func:`~evolve.model.memory_ops.masked_max_scores`).

        Returns:
            float32 (B, N, 8, h, w).
        """
        b, _, h, w = query.key.shape
        with fp32_island(query.key.device.type):
            qn, qk = query.norm_key.flatten(2), query.key.flatten(2)
            parts = [
                masked_max_scores(self.surjective_affinity(global_ref.norm_key, qn), global_ref.fg),
                masked_max_scores(self.surjective_affinity(local_ref.norm_key, qn), local_ref.fg),
                masked_max_scores(self.equalized_affinity(global_ref.key, qk), global_ref.fg),
                masked_max_scores(self.equalized_affinity(local_ref.key, qk), local_ref.fg),
            ]  # each (B, N, 2, M)
            scores = torch.cat(parts, dim=2)
        return scores.view(b, scores.shape[1], 8, h, w)

    def decode(self, query: EMVOSFeatures, scores: Tensor, prev_fg: Tensor) -> Tensor:
        """CBAM decoder.

        Args:
            query: the frame's features; scores: (B, N, 8, h, w);
            prev_fg: (B, N, h, w) the local reference's stride-16 foreground (the previous mask).
        Returns:
            float32 2-class logits (B, N, 2, H, W) (channel 0 background, 1 the object).
        """
        prev = torch.stack([1 - prev_fg, prev_fg], dim=2)  # (B, N, 2, h, w)
        return self.decoder(query.s16, query.s8, query.s4, scores, prev).float()

    def segment(self, query: EMVOSFeatures, global_ref: Reference, local_ref: Reference) -> Tensor:
        """:meth:`match` then :meth:`decode`: 2-class logits (B, N, 2, H, W) float32."""
        h, w = query.key.shape[-2:]
        scores = self.match(query, global_ref, local_ref)
        return self.decode(query, scores, local_ref.fg.view(*local_ref.fg.shape[:2], h, w))
