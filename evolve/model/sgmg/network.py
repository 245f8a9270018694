"""The SgMg network (Miao et al., "Spectrum-guided Multi-granularity Referring Video Object
Segmentation", ICCV 2023) in the low-light + event setting; docs/referring.md.

Pipeline per frame (a clip is a batch of frames; only the query choice spans the clip):

1. visual features at strides 16, 8, 4 (:class:`~evolve.model.sgmg.encoder.SgMgEncoder`,
   events fused in when on); word and sentence features (:mod:`evolve.model.sgmg.text`);
2. levels at strides 8, 16 (and 32, an extra stride-2 convolution) projected to ``hidden_dim``
   and fused with the words by spectrum-guided cross-modal fusion (SCF, Sec. 3.2), the first
   level's Gaussian handed down to the next;
3. a standard-attention encoder over all levels and a decoder of sentence-conditioned queries
   giving per query a class logit, a box and dynamic mask-head parameters per layer
   (:mod:`evolve.model.sgmg.transformer`);
4. segment: the dynamic heads run on the encoded features (sum of the levels at stride 8)
   with coordinates relative to the box centre, giving ``patch^2``-channel patch logits;
5. optimize: MSO refines the chosen queries' patches with the stride-8 and stride-4 backbone
   features up to full resolution (:mod:`evolve.model.sgmg.heads`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from evolve.model.sgmg.config import SgMgConfig
from evolve.model.sgmg.encoder import SgMgEncoder
from evolve.model.sgmg.fusion import SpectrumGuidedFusion
from evolve.model.sgmg.heads import DynamicMaskHead, MultiGranularityRefiner, patch_to_mask
from evolve.model.sgmg.text import ScratchTextEncoder, WordVocabulary, build_text_encoder
from evolve.model.sgmg.transformer import FeatureEncoder, QueryDecoder, text_positions

#: Frame sides must be multiples of this (the stride of the coarsest level); :meth:`SgMg.predict` pads.
SIZE_MULTIPLE = 32


@dataclass
class ClipPrediction:
    """SgMg's answer for one expression over a clip.

    Attributes:
        prob: float32 (T, H, W) foreground probability of the chosen query, every frame.
        scores: float32 (T,) the chosen query's score (sigmoid of its class logit) per frame.
        query_scores: float32 (T, Q) every query's score per frame.
        query: the chosen query (highest mean score over the clip, SgMg's rule).
    """

    prob: Tensor
    scores: Tensor
    query_scores: Tensor
    query: int


class SgMg(nn.Module):
    """See the module docstring.

    Args:
        config: a validated :class:`~evolve.model.sgmg.config.SgMgConfig`.
    """

    def __init__(self, config: SgMgConfig) -> None:
        super().__init__()
        self.config = config
        d = config.hidden_dim
        self.events = config.events
        self.encoder = SgMgEncoder(config.backbone, config.events, config.event_bins, config.pixel_mean, config.pixel_std)
        c16, c8, c4 = self.encoder.ms_dims
        self.text_encoder = build_text_encoder(config.text)
        self.text_proj = nn.Sequential(nn.Linear(self.text_encoder.feat_dim, d), nn.LayerNorm(d))
        self.sentence_proj = nn.Sequential(nn.Linear(self.text_encoder.feat_dim, d), nn.LayerNorm(d))
        groups = min(32, d // 4) if d % min(32, d // 4) == 0 else 1
        projections = [
            nn.Sequential(nn.Conv2d(c8, d, 1), nn.GroupNorm(groups, d)),
            nn.Sequential(nn.Conv2d(c16, d, 1), nn.GroupNorm(groups, d)),
        ]
        if config.num_levels == 3:
            projections.append(nn.Sequential(nn.Conv2d(c16, d, 3, stride=2, padding=1), nn.GroupNorm(groups, d)))
        self.input_proj = nn.ModuleList(projections)
        self.scf = nn.ModuleList(SpectrumGuidedFusion(d, config.num_heads, config.sigma, config.spectral) for _ in range(config.num_levels))
        self.feature_encoder = FeatureEncoder(d, config.num_heads, config.ff_dim, config.enc_layers, config.num_levels)
        channels = config.patch * config.patch
        self.mask_head = DynamicMaskHead(d, channels, config.controller_layers)
        self.decoder = QueryDecoder(d, config.num_heads, config.ff_dim, config.dec_layers, config.num_queries, self.mask_head.num_params)
        self.refiner = MultiGranularityRefiner(channels, c8, c4, config.patch)
        if config.pretrained_backbone:
            self.encoder.pixel_encoder.load_imagenet(config.pretrained_backbone, "mean")
            if config.events:
                self.encoder.event_encoder.load_imagenet(config.pretrained_backbone, "mean")

    # ------------------------------------------------------------------ vocabulary
    def set_vocabulary(self, vocab: WordVocabulary) -> None:
        """Give the scratch text encoder its vocabulary (no-op for a Hugging Face encoder)."""
        if isinstance(self.text_encoder, ScratchTextEncoder):
            self.text_encoder.set_vocabulary(vocab)

    @property
    def needs_vocabulary(self) -> bool:
        """True for a scratch text encoder that has no vocabulary yet."""
        return isinstance(self.text_encoder, ScratchTextEncoder) and not self.text_encoder.has_vocabulary

    # ------------------------------------------------------------------ forward
    def encode_text(self, texts: Sequence[str]) -> tuple[Tensor, Tensor, Tensor]:
        """words (B, L, d), padding (B, L) bool, sentence (B, d) in the hidden width."""
        words, pad, sentence = self.text_encoder(list(texts))
        return self.text_proj(words.float()), pad, self.sentence_proj(sentence.float())

    def encode_visual(self, rgb: Tensor, voxel: Optional[Tensor]) -> list[Tensor]:
        """Backbone features of frames: rgb (N, 3, H, W), voxel (N, bins, H, W) or None ->
        [f16, f8, f4]. They depend on the frames only, so several expressions of one clip can
        share them (``visual=`` of :meth:`forward` and :meth:`predict`)."""
        return self.encoder(rgb, voxel if self.events else None)

    def forward(self, rgb: Tensor, voxel: Optional[Tensor], texts: Sequence[str], visual: Optional[list[Tensor]] = None) -> dict:
        """Every query of every frame of a batch of clips.

        Args:
            rgb: float (B, T, 3, H, W) in [0, 1]; H and W multiples of :data:`SIZE_MULTIPLE`.
            voxel: float (B, T, bins, H, W) voxel grids (events on), else ignored (may be None).
            texts: B expressions, one per clip.
            visual: :meth:`encode_visual` of ``rgb.flatten(0, 1)`` (and the voxel grids), to
                reuse; None computes it.
        Returns:
            dict with ``layers``: per decoder layer ``{"logits" (B, T, Q), "boxes" (B, T, Q, 4)
            cxcywh in [0, 1], "patch" (B, T, Q, patch^2, H/8, W/8) patch logits}`` (the last is
            the final prediction), and ``f8`` (B*T, C8, H/8, W/8), ``f4`` (B*T, C4, H/4, W/4)
            for :meth:`refine`.
        Raises:
            ValueError: sizes not multiples of 32, a text count other than B, a missing voxel
                grid with events on.
        """
        b, t, _, h, w = rgb.shape
        if h % SIZE_MULTIPLE or w % SIZE_MULTIPLE:
            raise ValueError(f"frame size {h}x{w} is not a multiple of {SIZE_MULTIPLE} (pad it, as predict() does)")
        if len(texts) != b:
            raise ValueError(f"{len(texts)} expressions for {b} clips")
        n = b * t
        if visual is None:
            vox = voxel.flatten(0, 1) if (self.events and voxel is not None) else None
            visual = self.encode_visual(rgb.flatten(0, 1), vox)
        f16, f8, f4 = visual  # (N, C, h, w) each
        words, pad, sentence = self.encode_text(texts)
        words = words.repeat_interleave(t, 0)  # (N, L, d)
        pad = pad.repeat_interleave(t, 0)
        sentence = sentence.repeat_interleave(t, 0)  # (N, d)
        tpos = text_positions(words.shape[1], words.shape[2], words.device).to(words.dtype)[None].expand(n, -1, -1)
        levels = [self.input_proj[0](f8), self.input_proj[1](f16)]
        if len(self.input_proj) == 3:
            levels.append(self.input_proj[2](f16))
        gauss = None
        fused = []
        for scf, x in zip(self.scf, levels):
            x, gauss = scf(x, words, pad, tpos, gauss)
            fused.append(x)
        encoded, memory, memory_pos = self.feature_encoder(fused)
        h8, w8 = encoded[0].shape[-2:]
        mask_features = encoded[0] + sum(
            F.interpolate(e, size=(h8, w8), mode="bicubic", align_corners=False) for e in encoded[1:]
        )  # (N, d, h8, w8): SgMg's "encoded features" at stride 8
        layers = []
        for out in self.decoder(sentence, memory, memory_pos):
            patch = self.mask_head(mask_features, out["params"], out["boxes"][..., :2].detach())  # (N, Q, p^2, h8, w8)
            layers.append({
                "logits": out["logits"].reshape(b, t, -1),
                "boxes": out["boxes"].reshape(b, t, -1, 4),
                "patch": patch.reshape(b, t, *patch.shape[1:]),
            })
        return {"layers": layers, "f8": f8, "f4": f4}

    def refine(self, patch: Tensor, f8: Tensor, f4: Tensor) -> Tensor:
        """MSO of chosen patches: (M, p^2, H/8, W/8) with their frames' features -> (M, H, W) logits."""
        return self.refiner(patch, f8, f4)[:, 0]

    def low_res_masks(self, patch: Tensor) -> Tensor:
        """Patch logits (..., p^2, H/8, W/8) -> mask logits (..., H/8*p, W/8*p) (stride 2 for p = 4)."""
        return patch_to_mask(patch, self.config.patch)

    # ------------------------------------------------------------------ inference
    def pad_clip(self, rgb: Tensor, voxel: Optional[Tensor]) -> tuple[Tensor, Optional[Tensor]]:
        """Zero-pad (T, C, H, W) frames (and voxel grids) right and bottom to multiples of 32."""
        h, w = rgb.shape[-2:]
        ph, pw = (-h) % SIZE_MULTIPLE, (-w) % SIZE_MULTIPLE
        v = F.pad(voxel, (0, pw, 0, ph)) if (self.events and voxel is not None) else None
        return F.pad(rgb, (0, pw, 0, ph)), v

    @torch.no_grad()
    def predict(self, rgb: Tensor, voxel: Optional[Tensor], text: str, visual: Optional[list[Tensor]] = None) -> ClipPrediction:
        """One expression over one clip (SgMg inference: the query with the highest mean score
        over the clip's frames is chosen, then refined by MSO on every frame).

        Args:
            rgb: float (T, 3, H, W) in [0, 1] (any size: padded to a multiple of 32 here).
            voxel: float (T, bins, H, W) or None (frames-only networks).
            text: the expression.
            visual: :meth:`encode_visual` of the padded frames (from :meth:`pad_clip`), to
                share between expressions; None computes it.
        Returns:
            :class:`ClipPrediction` at (H, W).
        """
        t, _, h, w = rgb.shape
        x, v = self.pad_clip(rgb, voxel)
        out = self.forward(x[None], None if v is None else v[None], [text], visual)
        last = out["layers"][-1]
        scores = torch.sigmoid(last["logits"][0].float())  # (T, Q)
        query = int(scores.mean(0).argmax())
        logits = self.refine(last["patch"][0, :, query], out["f8"], out["f4"])  # (T, H', W')
        prob = torch.sigmoid(logits.float())[:, :h, :w]
        return ClipPrediction(prob=prob, scores=scores[:, query].clone(), query_scores=scores, query=query)
