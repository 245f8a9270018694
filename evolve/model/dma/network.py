"""DMA, the Decoupled Motion-Appearance network of MOVE (Ying, Hu, Ding, "MOVE: Motion-Guided
Few-Shot Video Object Segmentation", ICCV 2025, section 4), with an event path (ours).

Per episode (N ways, K shots of S support frames, a query clip of T frames):

1. **Features**: a trunk + FPN at ``hidden_dim`` gives p32, p16, p8, p4 of every frame.
2. **Motion tokens** (paper 4.1): differences of consecutive frames' features at 1/4 and 1/8,
   ``dF_t = F_{t+1} - F_t``; a 3-D conv stack at 1/4 (3x3x3, 3x1x1, then a 1x2x2 stride-2
   step to 1/8), added to the 1/8 difference, a second stack, a stride-2 step to 1/16, a
   1x1x1 conv, and a spatial **sum** give one token per frame pair (T-1 tokens).
   **Events (ours)**: a voxel-grid encoder turns the grid of frame ``t+1`` (the events between
   frame ``t`` and ``t+1``, docs/architecture.md) into features at 1/4 and 1/8 that are added to
   ``dF_t`` at the same scales, so the motion tokens see the motion the camera recorded even
   where the dark frames barely change. ``events: false`` builds no event parameters.
3. **Appearance tokens**: masked average pooling of p4 with the support masks (one per frame).
4. **Prototype Q-Former** (Motion Prototype Network): 1 + Q learned queries; each layer is
   cross-attention to the motion tokens (+ sinusoidal time and shot encodings), self-attention,
   cross-attention to the appearance tokens, FFN. Output ``P`` (1 + Q tokens; token 0 is cls).
5. **Query side**: a class-agnostic proposal head (p32 -> p16 -> p8 residual convs) gives a soft
   mask; masked pooling with it and the query motion tokens give ``P_q`` through the same Q-Former.
6. **Prototype enhancer**: presence score ``s = scale * cos(h(P_q[0]), h(P_s[0]))`` with
   ``h`` two linear maps (256 -> 64 -> 16 in the paper), then layers of cross-attention
   ``P_q <- P_s``, self-attention, FFN; the Q enhanced tokens go on.
7. **Motion-aware decoder**: p16, p8 and p4 of every query frame cross-attend to the enhanced
   prototypes and are fused coarse to fine; a conv head gives mask logits at 1/4.

``pixel_motion`` (ours, default on): the per-pixel motion maps of step 2 (before the sum) are
added to the query's p16 / p8 / p4, so the proposal head and the decoder can tell a moving
object from a static one that looks the same.

Inference merge (authors' inference): per way ``sigmoid(mask) * sigmoid(cls)`` against a
constant background of 0.5, argmax (:func:`merge_ways`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from evolve.model.dma.blocks import (FPN, CrossAttentionLayer, EventEncoder, FFNLayer, ResNetFull, SelfAttentionLayer, SmallTrunk,
                                     masked_average, sinusoid)
from evolve.model.dma.config import PRESENCE, DMAConfig


def _gn(c: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(8, c), c)


@dataclass
class FrameFeatures:
    """FPN features of M frames (M = clips x frames), each (M, C, H/s, W/s), and the event
    features (M, C, H/4, W/4), (M, C, H/8, W/8) or None."""

    p32: Tensor
    p16: Tensor
    p8: Tensor
    p4: Tensor
    e4: Optional[Tensor]
    e8: Optional[Tensor]


@dataclass
class Prototypes:
    """Support prototypes of every way (B' = batch x ways).

    Attributes:
        tokens: (1 + Q, B', C) Q-Former output (token 0 = cls). pos: (1 + Q, B', C).
        motion: (B', K, S-1, C) motion tokens. appearance: (B', K, S, C) appearance tokens.
    """

    tokens: Tensor
    pos: Tensor
    motion: Tensor
    appearance: Tensor


class MotionEncoder(nn.Module):
    """Feature differences -> per-pixel motion maps and motion tokens (paper 4.1).

    Shapes: d4 (B', C, T-1, h4, w4), d8 (B', C, T-1, h8, w8), optional weights (B', T-1, h, w)
    -> tokens (B', T-1, C), maps (m4 (B', C, T-1, h4, w4), m8 (..., h8, w8), m16 (..., h16, w16)).
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.stack4 = nn.Sequential(nn.Conv3d(dim, dim, 3, padding=1), _gn(dim), nn.ReLU(inplace=True),
                                    nn.Conv3d(dim, dim, (3, 1, 1), padding=(1, 0, 0)), _gn(dim), nn.ReLU(inplace=True))
        self.down4 = nn.Conv3d(dim, dim, (1, 2, 2), stride=(1, 2, 2))
        self.stack8 = nn.Sequential(nn.Conv3d(dim, dim, 3, padding=1), _gn(dim),
                                    nn.Conv3d(dim, dim, (3, 1, 1), padding=(1, 0, 0)), _gn(dim), nn.ReLU(inplace=True))
        self.down8 = nn.Conv3d(dim, dim, (1, 2, 2), stride=(1, 2, 2))
        self.linear = nn.Conv3d(dim, dim, 1)

    @staticmethod
    def _match(x: Tensor, ref: Tensor) -> Tensor:
        if x.shape[-2:] == ref.shape[-2:]:
            return x
        b, c, t = x.shape[:3]
        y = F.interpolate(x.transpose(1, 2).flatten(0, 1), size=ref.shape[-2:], mode="bilinear", align_corners=False)
        return y.view(b, t, c, *ref.shape[-2:]).transpose(1, 2)

    def forward(self, d4: Tensor, d8: Tensor, weights: Optional[Tensor] = None) -> tuple[Tensor, tuple[Tensor, Tensor, Tensor]]:
        m4 = self.stack4(d4)
        m8 = self.stack8(self._match(self.down4(m4), d8) + d8)
        m16 = self.linear(self.down8(m8))  # (B', C, T-1, h16, w16)
        if weights is None:
            tokens = m16.sum(dim=(3, 4))
        else:
            w = F.interpolate(weights, size=m16.shape[-2:], mode="area") if weights.shape[-2:] != m16.shape[-2:] else weights
            tokens = (m16 * w[:, None]).sum(dim=(3, 4))
        return tokens.transpose(1, 2), (m4, m8, m16)  # (B', T-1, C)


class PrototypeNetwork(nn.Module):
    """The Motion Prototype Network (a Q-Former; paper 4.2).

    Shapes: appearance (B', K, S, C), motion (B', K, S-1, C) -> tokens (1+Q, B', C), pos (1+Q, B', C).
    The motion tokens get a zero token appended per shot (S tokens per shot, as the authors);
    keys carry ``sinusoid(time) + sinusoid(shot)``.
    """

    def __init__(self, dim: int, heads: int, num_queries: int, layers: int, ffn_ratio: int) -> None:
        super().__init__()
        self.dim = dim
        self.motion_proj = nn.Linear(dim, dim)
        self.appear_proj = nn.Linear(dim, dim)
        self.queries = nn.Embedding(1 + num_queries, dim)
        self.query_pos = nn.Embedding(1 + num_queries, dim)
        nn.init.normal_(self.queries.weight, std=0.02)
        nn.init.normal_(self.query_pos.weight, std=0.02)
        self.cross_motion = nn.ModuleList(CrossAttentionLayer(dim, heads) for _ in range(layers))
        self.self_attn = nn.ModuleList(SelfAttentionLayer(dim, heads) for _ in range(layers))
        self.cross_appear = nn.ModuleList(CrossAttentionLayer(dim, heads) for _ in range(layers))
        self.ffn = nn.ModuleList(FFNLayer(dim, dim * ffn_ratio) for _ in range(layers))

    def forward(self, appearance: Tensor, motion: Tensor) -> tuple[Tensor, Tensor]:
        b, k, s, c = appearance.shape
        motion = torch.cat([motion, motion.new_zeros(b, k, 1, c)], dim=2)  # (B', K, S, C)
        m = self.motion_proj(motion).reshape(b, k * s, c).transpose(0, 1)  # (K*S, B', C)
        a = self.appear_proj(appearance).reshape(b, k * s, c).transpose(0, 1)
        dev = appearance.device
        time = torch.arange(s, device=dev).repeat(k)
        shot = torch.arange(k, device=dev).repeat_interleave(s)
        pos = (sinusoid(time, c) + sinusoid(shot, c))[:, None].expand(-1, b, -1)
        q = self.queries.weight[:, None].expand(-1, b, -1)
        qpos = self.query_pos.weight[:, None].expand(-1, b, -1)
        for cm, sa, ca, ff in zip(self.cross_motion, self.self_attn, self.cross_appear, self.ffn):
            q = cm(q, m, pos=pos, query_pos=qpos)
            q = sa(q, query_pos=qpos)
            q = ca(q, a, pos=pos, query_pos=qpos)
            q = ff(q)
        return q, qpos


class PrototypeEnhancer(nn.Module):
    """Presence score and prototype enhancement (paper 4.3).

    Shapes: p1, pe1 (1+Q, B', C) (query), p2, pe2 (1+Q, B', C) (support) ->
    (enhanced (Q, B', C), pos (Q, B', C), score (B',)) with
    ``score = scale * cos(h(p1[0]), h(p2[0]))``, ``h`` = Linear(C, C/4) -> Linear(C/4, max(C/16, 8)).
    """

    def __init__(self, dim: int, heads: int, layers: int, ffn_ratio: int, scale: float) -> None:
        super().__init__()
        self.h = nn.Sequential(nn.Linear(dim, dim // 4), nn.Linear(dim // 4, max(dim // 16, 8)))
        self.scale = scale
        self.cross = nn.ModuleList(CrossAttentionLayer(dim, heads) for _ in range(layers))
        self.self_attn = nn.ModuleList(SelfAttentionLayer(dim, heads) for _ in range(layers))
        self.ffn = nn.ModuleList(FFNLayer(dim, dim * ffn_ratio) for _ in range(layers))

    def score(self, p1: Tensor, p2: Tensor) -> Tensor:
        """The presence logit ``scale * cos(h(p1[0]), h(p2[0]))``: (B',)."""
        return self.scale * F.cosine_similarity(self.h(p1[0]), self.h(p2[0]), dim=-1, eps=1e-8)

    def forward(self, p1: Tensor, pe1: Tensor, p2: Tensor, pe2: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        score = self.score(p1, p2)
        for ca, sa, ff in zip(self.cross, self.self_attn, self.ffn):
            p1 = ca(p1, p2, pos=pe2, query_pos=pe1)
            p1 = sa(p1, query_pos=pe1)
            p1 = ff(p1)
        return p1[1:], pe1[1:], score


class ProposalHead(nn.Module):
    """Class-agnostic proposal (the authors' adjusted proposal generator): residual convs from
    p32 to p8, then a mask head. Shapes: p32, p16, p8 (M, C, h, w) -> logits (M, h8, w8)."""

    def __init__(self, dim: int) -> None:
        super().__init__()

        def block(two: bool) -> nn.Sequential:
            layers: list[nn.Module] = [nn.Conv2d(dim, dim, 3, padding=1), _gn(dim), nn.ReLU(inplace=True)]
            if two:
                layers += [nn.Conv2d(dim, dim, 1), _gn(dim), nn.ReLU(inplace=True)]
            return nn.Sequential(*layers)

        self.c32, self.c16, self.c8 = block(True), block(True), block(False)
        self.head = nn.Sequential(nn.Conv2d(dim, dim // 2, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(dim // 2, 1, 1))

    def forward(self, p32: Tensor, p16: Tensor, p8: Tensor) -> Tensor:
        x = self.c32(p32) + p32
        x = F.interpolate(x, size=p16.shape[-2:], mode="bilinear", align_corners=False) + p16
        x = self.c16(x) + p16
        x = F.interpolate(x, size=p8.shape[-2:], mode="bilinear", align_corners=False) + p8
        x = self.c8(x) + p8
        return self.head(x)[:, 0]


class MotionAwareDecoder(nn.Module):
    """Pixels of p16, p8, p4 cross-attend to the enhanced prototypes; fused coarse to fine
    (paper 4.4). Shapes: protos, pos (Q, B', C); f16, f8, f4 (B', T, C, h, w) -> logits (B', T, h4, w4)."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.attn = nn.ModuleList(CrossAttentionLayer(dim, heads) for _ in range(3))
        self.fuse8 = nn.Conv2d(2 * dim, dim, 3, padding=1)
        self.fuse4 = nn.Conv2d(2 * dim, dim, 3, padding=1)
        self.head = nn.Sequential(nn.Conv2d(dim, dim // 2, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(dim // 2, 1, 1))

    def forward(self, protos: Tensor, pos: Tensor, f16: Tensor, f8: Tensor, f4: Tensor) -> Tensor:
        b, t = f16.shape[:2]
        p = protos.repeat_interleave(t, dim=1)  # (Q, B'*T, C), frame-major inside each way
        pe = pos.repeat_interleave(t, dim=1)
        outs = []
        for layer, f in zip(self.attn, (f16, f8, f4)):
            flat = f.flatten(0, 1)  # (B'*T, C, h, w)
            h, w = flat.shape[-2:]
            tok = flat.flatten(2).permute(2, 0, 1)  # (hw, B'*T, C)
            outs.append(layer(tok, p, pos=pe).permute(1, 2, 0).reshape(flat.shape[0], -1, h, w))
        g16, g8, g4 = outs
        x8 = self.fuse8(torch.cat([g8, F.interpolate(g16, size=g8.shape[-2:], mode="bilinear", align_corners=False)], 1))
        x4 = self.fuse4(torch.cat([g4, F.interpolate(x8, size=g4.shape[-2:], mode="bilinear", align_corners=False)], 1))
        return self.head(x4)[:, 0].view(b, t, *g4.shape[-2:])


def _frame_maps(m: Tensor) -> Tensor:
    """Per-pair maps (B', C, T-1, h, w) -> per-frame maps (B', C, T, h, w): frame t averages the
    pairs (t-1, t) and (t, t+1) (the end frames take their one pair)."""
    left = torch.cat([m[:, :, :1], m], dim=2)
    right = torch.cat([m, m[:, :, -1:]], dim=2)
    return 0.5 * (left + right)


class DMA(nn.Module):
    """The DMA network (module docstring). Build from a :class:`DMAConfig`.

    The main entry points are :meth:`support_prototypes` (once per episode) and
    :meth:`segment_query` (per query chunk); :meth:`forward` runs a training batch.
    """

    def __init__(self, config: DMAConfig) -> None:
        super().__init__()
        self.config = config.validate()
        c = config.hidden_dim
        if config.backbone == "small":
            self.pixel_encoder: nn.Module = SmallTrunk(list(config.small_widths))
        else:
            self.pixel_encoder = ResNetFull(config.backbone)
            if config.pretrained_backbone:
                self.pixel_encoder.trunk.load_imagenet(config.pretrained_backbone, "mean")
        self.fpn = FPN(self.pixel_encoder.dims, c)
        self.events = bool(config.events)
        self.event_encoder = EventEncoder(config.event_bins, list(config.event_widths), c) if self.events else None
        self.motion = MotionEncoder(c)
        self.prototypes = PrototypeNetwork(c, config.num_heads, config.num_queries, config.qformer_layers, config.ffn_ratio)
        self.enhancer = PrototypeEnhancer(c, config.num_heads, config.enhancer_layers, config.ffn_ratio, config.presence_scale)
        self.proposal = ProposalHead(c)
        self.decoder = MotionAwareDecoder(c, config.num_heads)
        if config.pixel_motion:
            self.pixel_motion = nn.ModuleList(nn.Conv2d(c, c, 1) for _ in range(3))  # 1/16, 1/8, 1/4
            for m in self.pixel_motion:
                nn.init.zeros_(m.weight)
                nn.init.zeros_(m.bias)
        self.object_classifier = nn.Linear(c, config.num_object_classes) if config.num_object_classes else None
        self.motion_classifier = nn.Linear(c, config.num_motion_classes) if config.num_motion_classes else None
        self.register_buffer("pixel_mean", torch.tensor(config.pixel_mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("pixel_std", torch.tensor(config.pixel_std).view(1, 3, 1, 1), persistent=False)

    # ------------------------------------------------------------------ features
    def encode_frames(self, rgb: Tensor, voxel: Optional[Tensor]) -> FrameFeatures:
        """Features of M frames.

        Args:
            rgb: float32 (M, 3, H, W) in [0, 1].
            voxel: float32 (M, B, H, W) voxel grids (ignored when events are off).
        """
        p32, p16, p8, p4 = self.fpn(self.pixel_encoder((rgb - self.pixel_mean) / self.pixel_std))
        e4 = e8 = None
        if self.event_encoder is not None:
            if voxel is None:
                raise ValueError("this DMA has events on: pass the voxel grids")
            e4, e8 = self.event_encoder(voxel)
            e4 = F.interpolate(e4, size=p4.shape[-2:], mode="bilinear", align_corners=False) if e4.shape[-2:] != p4.shape[-2:] else e4
            e8 = F.interpolate(e8, size=p8.shape[-2:], mode="bilinear", align_corners=False) if e8.shape[-2:] != p8.shape[-2:] else e8
        return FrameFeatures(p32, p16, p8, p4, e4, e8)

    def motion_of(self, feats: FrameFeatures, clips: int, frames: int, weights: Optional[Tensor] = None) -> tuple[Tensor, tuple[Tensor, Tensor, Tensor]]:
        """Motion tokens of ``clips`` clips of ``frames`` frames (features in clip-major order).

        Args:
            weights: (clips, frames, H, W) soft masks for ``motion_pooling: masked`` (the pair
                ``(t, t+1)`` is weighted by the mean of the two masks), or None (spatial sum).

        Returns:
            tokens (clips, frames-1, C) and the per-pair maps at 1/4, 1/8, 1/16, each
            (clips, C, frames-1, h, w).
        """

        def diff(x: Tensor, e: Optional[Tensor]) -> Tensor:
            x = x.view(clips, frames, *x.shape[1:])
            d = x[:, 1:] - x[:, :-1]  # (clips, T-1, C, h, w)
            if e is not None:  # events between frame t and t+1 live in the grid of frame t+1
                d = d + e.view(clips, frames, *e.shape[1:])[:, 1:]
            return d.transpose(1, 2)  # (clips, C, T-1, h, w)

        w = None
        if weights is not None and self.config.motion_pooling == "masked":
            w = 0.5 * (weights[:, 1:] + weights[:, :-1])
        return self.motion(diff(feats.p4, feats.e4), diff(feats.p8, feats.e8), w)

    # ------------------------------------------------------------------ support
    def support_prototypes(self, rgb: Tensor, voxel: Optional[Tensor], masks: Tensor) -> Prototypes:
        """Prototypes of every way of a batch of episodes.

        Args:
            rgb: float32 (B, N, K, S, 3, H, W). voxel: float32 (B, N, K, S, bins, H, W).
            masks: float32 (B, N, K, S, H, W) support masks.

        Returns:
            :class:`Prototypes` with B' = B * N (way-major within each episode).
        """
        b, n, k, s = rgb.shape[:4]
        feats = self.encode_frames(rgb.flatten(0, 3), voxel.flatten(0, 3) if voxel is not None else None)
        m = masks.flatten(0, 3)  # (B*N*K*S, H, W)
        motion, _ = self.motion_of(feats, b * n * k, s, masks.reshape(b * n * k, s, *masks.shape[-2:]))
        appearance = masked_average(feats.p4, m).view(b * n, k, s, -1)
        motion = motion.view(b * n, k, s - 1, -1)
        tokens, pos = self.prototypes(appearance, motion)
        return Prototypes(tokens, pos, motion, appearance)

    # ------------------------------------------------------------------ query
    def query_features(self, rgb: Tensor, voxel: Optional[Tensor]) -> tuple[FrameFeatures, Tensor, Tensor, Tensor]:
        """Features of query clips, with the per-pixel motion added (``pixel_motion``).

        Args:
            rgb: float32 (B, T, 3, H, W). voxel: float32 (B, T, bins, H, W).

        Returns:
            (features with p16/p8/p4 motion-aware, proposal logits (B, T, h8, w8), the query
            motion tokens (B, T-1, C) of the whole frame, the proposal-weighted tokens (B, T-1, C)).
        """
        b, t = rgb.shape[:2]
        feats = self.encode_frames(rgb.flatten(0, 1), voxel.flatten(0, 1) if voxel is not None else None)
        tokens, maps = self.motion_of(feats, b, t)
        if self.config.pixel_motion:
            adds = []
            for proj, m, ref in zip(self.pixel_motion, maps[::-1], (feats.p16, feats.p8, feats.p4)):
                fm = _frame_maps(m).transpose(1, 2).flatten(0, 1)  # (B*T, C, h, w)
                if fm.shape[-2:] != ref.shape[-2:]:
                    fm = F.interpolate(fm, size=ref.shape[-2:], mode="bilinear", align_corners=False)
                adds.append(proj(fm))
            feats = FrameFeatures(feats.p32, feats.p16 + adds[0], feats.p8 + adds[1], feats.p4 + adds[2], feats.e4, feats.e8)
        proposal = self.proposal(feats.p32, feats.p16, feats.p8)  # (B*T, h8, w8)
        return feats, proposal.view(b, t, *proposal.shape[-2:]), tokens, maps[2]

    def _pooled_motion(self, tokens: Tensor, m16: Tensor, weights: Tensor, masked: bool) -> Tensor:
        """Motion tokens pooled with soft masks (B', T, h, w) when ``masked``; otherwise the
        whole-frame tokens (B', T-1, C)."""
        if not masked:
            return tokens
        w = 0.5 * (weights[:, 1:] + weights[:, :-1])
        w = F.interpolate(w, size=m16.shape[-2:], mode="area")
        return (m16 * w[:, None]).sum(dim=(3, 4)).transpose(1, 2)

    def _decode(self, q_tokens: Tensor, q_pos: Tensor, support: Prototypes, feats: FrameFeatures, b: int, t: int, n: int) -> tuple[Tensor, Tensor]:
        """Enhance the query prototypes (1+Q, B*N, C) with each way's support prototypes and decode.

        Returns mask logits (B, N, T, h4, w4) and presence logits (B, N)."""
        enhanced, pos, score = self.enhancer(q_tokens, q_pos, support.tokens, support.pos)

        def per_way(x: Tensor) -> Tensor:  # (B*T, C, h, w) -> (B*N, T, C, h, w)
            x = x.view(b, 1, t, *x.shape[1:]).expand(-1, n, -1, -1, -1, -1)
            return x.flatten(0, 1)

        logits = self.decoder(enhanced, pos, per_way(feats.p16), per_way(feats.p8), per_way(feats.p4))
        return logits.view(b, n, t, *logits.shape[-2:]), score.view(b, n)

    def _way_prototypes(self, feats: FrameFeatures, tokens: Tensor, m16: Tensor, weights: Tensor, b: int, t: int,
                        ways: int, masked_motion: bool) -> tuple[Tensor, Tensor]:
        """Query prototypes pooled per way with soft masks (the ground-truth branch and way-mask presence).

        Args:
            feats: the query features (p4: (B*T, C, h4, w4)). tokens: (B, T-1, C) motion tokens.
            m16: (B, C, T-1, h, w) motion map. weights: float32 (B*N, T, H', W') in [0, 1], any size.
            masked_motion: pool the motion map under ``weights`` too (else whole-frame tokens).

        Returns:
            (tokens (1+Q, B*N, C), pos (1+Q, B*N, C)) of the prototype Q-Former.
        """
        feats_n = feats.p4.view(b, 1, t, *feats.p4.shape[1:]).expand(-1, ways, -1, -1, -1, -1).flatten(0, 2)  # (B*N*T, C, h4, w4)
        app = masked_average(feats_n, weights.flatten(0, 1)).view(b * ways, 1, t, -1)
        motion = self._pooled_motion(tokens.repeat_interleave(ways, dim=0), m16.repeat_interleave(ways, dim=0), weights, masked_motion)
        return self.prototypes(app, motion.view(b * ways, 1, t - 1, -1))

    def segment_query(self, rgb: Tensor, voxel: Optional[Tensor], support: Prototypes, ways: int,
                      gt_masks: Optional[Tensor] = None, presence: str = "proposal") -> dict[str, Tensor]:
        """Segment a query clip for every way.

        Args:
            rgb: float32 (B, T, 3, H, W) in [0, 1]. voxel: float32 (B, T, bins, H, W).
            support: the episodes' :class:`Prototypes` (B' = B * ways).
            ways: N.
            gt_masks: float32 (B, N, T, H, W) ground truth for the ground-truth branch, or None.
            presence: ``proposal`` (the paper: the presence score compares the support with the
                query prototypes pooled under the class-agnostic proposal, i.e. every moving
                object at once) or ``way_masks`` (ours: a second pass pools the
                query's appearance and motion map under each way's own predicted mask
                ``sigmoid(mask_n)`` (a weighted sum over space, as the support's motion token) and scores that
                prototype against way n's support, so a way painted on an object doing another
                motion can be judged absent; the masks stay those of the first pass and are
                detached there, so in training (``DMAConfig.presence``) the presence loss does
                not move them). docs/fewshot.md, "Presence".

        Returns:
            ``mask_logits`` (B, N, T, H/4, W/4), ``cls_logits`` (B, N), ``proposal_logits``
            (B, T, H/8, W/8); with ``gt_masks`` also ``gt_mask_logits`` and ``gt_cls_logits``;
            with ``presence="way_masks"`` also ``proposal_cls_logits`` (B, N), the first pass's.

        Raises:
            ValueError: an unknown ``presence``.
        """
        if presence not in PRESENCE:
            raise ValueError(f"presence={presence!r}: use one of {list(PRESENCE)}")
        b, t = rgb.shape[:2]
        feats, proposal, tokens, m16 = self.query_features(rgb, voxel)
        soft = proposal.sigmoid()  # (B, T, h8, w8)
        appearance = masked_average(feats.p4, soft.flatten(0, 1)).view(b, 1, t, -1)
        masked = self.config.motion_pooling == "masked"
        motion = self._pooled_motion(tokens, m16, soft, masked).view(b, 1, t - 1, -1)
        q_tokens, q_pos = self.prototypes(appearance, motion)  # (1+Q, B, C)
        q_tokens = q_tokens.repeat_interleave(ways, dim=1)  # (1+Q, B*N, C)
        q_pos = q_pos.repeat_interleave(ways, dim=1)
        mask_logits, cls_logits = self._decode(q_tokens, q_pos, support, feats, b, t, ways)
        out = {"mask_logits": mask_logits, "cls_logits": cls_logits, "proposal_logits": proposal}
        if presence == "way_masks":
            w = mask_logits.detach().sigmoid().flatten(0, 1)  # (B*N, T, h4, w4); the presence loss does not move the masks
            r_tokens, _ = self._way_prototypes(feats, tokens, m16, w, b, t, ways, masked_motion=True)  # (1+Q, B*N, C)
            out["proposal_cls_logits"] = cls_logits
            out["cls_logits"] = self.enhancer.score(r_tokens, support.tokens).view(b, ways)
        if gt_masks is not None:
            g_tokens, g_pos = self._way_prototypes(feats, tokens, m16, gt_masks.flatten(0, 1), b, t, ways, masked)
            out["gt_mask_logits"], out["gt_cls_logits"] = self._decode(g_tokens, g_pos, support, feats, b, t, ways)
        return out

    # ------------------------------------------------------------------ training batch
    def forward(self, batch: dict) -> dict[str, Tensor]:
        """Run a training batch (the few-shot task's items, stacked).

        Args:
            batch: ``support_rgb`` (B, N, K, S, 3, H, W), ``support_voxel``, ``support_masks``
                (B, N, K, S, H, W), ``query_rgb`` (B, T, 3, H, W), ``query_voxel``,
                ``query_masks`` (B, N, T, H, W).

        Returns:
            :meth:`segment_query`'s outputs (with the ground-truth branch when
            ``gt_branch``), plus ``support_pair_logits`` (B, N) (presence of way ``n+1``'s
            motion judged from way ``n``'s prototypes; target 0) when N >= 2,
            ``object_logits`` (B, N, K, n_obj) and ``motion_logits`` (B, N, n_motion) when the
            auxiliary classifiers exist, and ``ortho`` (scalar) = mean |cos(m, a)| of support
            motion and appearance tokens over all pairs of each way.
        """
        s_rgb = batch["support_rgb"]
        b, n = s_rgb.shape[:2]
        events = self.events
        support = self.support_prototypes(s_rgb, batch["support_voxel"] if events else None, batch["support_masks"])
        out = self.segment_query(batch["query_rgb"], batch["query_voxel"] if events else None, support, n,
                                 batch["query_masks"] if self.config.gt_branch else None, presence=self.config.presence)
        if n >= 2:
            tok = support.tokens.view(support.tokens.shape[0], b, n, -1)
            rolled = tok.roll(-1, dims=2).flatten(1, 2)
            out["support_pair_logits"] = self.enhancer.score(support.tokens, rolled).view(b, n)
        if self.object_classifier is not None:
            out["object_logits"] = self.object_classifier(support.appearance.mean(dim=2)).view(b, n, support.appearance.shape[1], -1)
        if self.motion_classifier is not None:
            out["motion_logits"] = self.motion_classifier(support.motion.mean(dim=(1, 2))).view(b, n, -1)
        mot = F.normalize(support.motion.flatten(1, 2), dim=-1)  # (B', K*(S-1), C)
        app = F.normalize(support.appearance.flatten(1, 2), dim=-1)  # (B', K*S, C)
        out["ortho"] = torch.bmm(mot, app.transpose(1, 2)).abs().mean()
        return out


def merge_ways(mask_logits: Tensor, cls_logits: Tensor, size: Optional[tuple[int, int]] = None, background: float = 0.5) -> Tensor:
    """The authors' inference merge: label map from per-way masks and presence scores.

    ``score_n = sigmoid(mask_n) * sigmoid(cls_n)`` for each way against a constant background
    score ``background`` (0.5, ``--mask_thr``), then argmax (0 = background, ``n + 1`` = way n).

    Args:
        mask_logits: (N, T, h, w) logits (resized bilinearly to ``size`` first when given).
        cls_logits: (N,) presence logits.
        size: output (H, W) in pixels, or None.
        background: the background score.

    Returns:
        int64 (T, H, W) label map.
    """
    if size is not None and tuple(mask_logits.shape[-2:]) != tuple(size):
        mask_logits = F.interpolate(mask_logits, size=size, mode="bilinear", align_corners=False)
    scores = mask_logits.sigmoid() * cls_logits.sigmoid()[:, None, None, None]  # (N, T, H, W)
    bg = torch.full_like(scores[:1], background)
    return torch.cat([bg, scores], dim=0).argmax(dim=0)
