"""Object summarizers: object-memory tokens (Cutie) and the MRM re-summariser (EVOLVE).

DESIGN 3: 16 summaries per object; EVOLVE pools the foreground mask for all 16 (switch
``fg_only_summaries``), Cutie uses 8 foreground + 8 background summaries.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from evolve.model.layers import fp32_island, sine_positional_encoding


def weighted_pooling(masks: Tensor, logits: Tensor, features: Tensor) -> tuple[Tensor, Tensor]:
    """Mask-weighted attention pooling (Cutie's object summaries).

    ``w = sigmoid(logits) * masks``; ``sums[q] = sum_p w[p, q] * features[p]``,
    ``area[q] = sum_p w[p, q]``.

    Args:
        masks: (B, N, P, Q) pooling masks in [0, 1] (P pixels, Q summaries).
        logits: (B, N, P, Q) pooling logits.
        features: (B, N, P, C).
    Returns:
        sums (B, N, Q, C), area (B, N, Q, 1), float32.
    """
    weights = torch.sigmoid(logits.float()) * masks.float()
    sums = torch.einsum("bnpq,bnpc->bnqc", weights, features.float())
    area = weights.sum(dim=2).unsqueeze(-1)
    return sums, area


class ObjectSummarizer(nn.Module):
    """Object-memory summaries of one frame (Cutie's ObjectSummarizer; DESIGN 3).

    ``v = Linear(value) + PE``; ``features = MLP_f(v)``, ``logits = MLP_w(v)`` (Q logits);
    pooled by :func:`weighted_pooling` with the object's mask (area-resized to stride 16) for
    every summary (``fg_only``) or the mask for the first Q/2 and (1 - mask) for the rest.
    The summary is ``[sums, area]`` (C + 1 channels) so that summaries of several frames can be
    averaged as ``sum(sums) / sum(area)`` (a streaming average at inference).

    Shapes: masks (B, N, H, W), value (B, N, C, h, w) -> (B, N, Q, C + 1) float32.
    """

    def __init__(self, value_dim: int, embed_dim: int, num_summaries: int, add_pe: bool, fg_only: bool, pe_scale: float, pe_temperature: float) -> None:
        super().__init__()
        self.num_summaries = num_summaries
        self.add_pe = add_pe
        self.fg_only = fg_only
        self.pe_scale = pe_scale
        self.pe_temperature = pe_temperature
        self.input_proj = nn.Linear(value_dim, embed_dim)
        self.feature_pred = nn.Sequential(nn.Linear(embed_dim, embed_dim), nn.ReLU(inplace=True), nn.Linear(embed_dim, embed_dim))
        self.weights_pred = nn.Sequential(nn.Linear(embed_dim, embed_dim), nn.ReLU(inplace=True), nn.Linear(embed_dim, num_summaries))

    def pooling_masks(self, masks: Tensor) -> Tensor:
        """(B, N, P) -> (B, N, P, Q) pooling masks (all foreground, or half foreground / half background)."""
        m = masks.unsqueeze(-1)
        if self.fg_only:
            return m.expand(*masks.shape, self.num_summaries)
        half = self.num_summaries // 2
        return torch.cat([m.expand(*masks.shape, half), (1 - m).expand(*masks.shape, half)], dim=-1)

    def forward(self, masks: Tensor, value: Tensor) -> Tensor:
        b, n, _, h, w = value.shape
        masks = F.interpolate(masks.float(), size=(h, w), mode="area").flatten(2)  # (B, N, h*w)
        v = value.flatten(3).transpose(2, 3)  # (B, N, h*w, C)
        v = self.input_proj(v)
        if self.add_pe:
            pe = sine_positional_encoding(h, w, v.shape[-1], self.pe_scale, self.pe_temperature, v.device, v.dtype)
            v = v + pe.flatten(0, 1)
        with fp32_island(v.device.type):
            v = v.float()
            features = self.feature_pred(v)
            logits = self.weights_pred(v)
            sums, area = weighted_pooling(self.pooling_masks(masks), logits, features)
        return torch.cat([sums, area], dim=-1)


class RefinementSummarizer(nn.Module):
    """The MRM re-summariser (authors' ObjectSummarizer2; DESIGN 3 MRM step 2).

    ``v = Linear(pixel) (+ sine PE when add_pe)``; ``features = F(v)``, ``logits = W(v)`` (Q
    logits), with ``heads="linear"`` (the authors): F = Linear-Linear, W = Linear-Linear (no
    ReLU); ``heads="mlp"`` (our earlier form): F = Linear-ReLU-Linear, W = Linear. Weighted
    pooling with the foreground mask ``sigmoid(aux_logits)`` for all Q tokens; tokens are
    normalised by their area: ``token = sums / (area + 1e-4)``.

    Shapes: masks (B, N, h, w) probabilities, pixel (B, N, C, h, w) -> tokens (B, N, Q, C) float32.
    """

    def __init__(self, dim: int, num_tokens: int, add_pe: bool = True, heads: str = "linear", pe_scale: float = 32.0, pe_temperature: float = 128.0) -> None:
        super().__init__()
        self.num_tokens = num_tokens
        self.add_pe = add_pe
        self.pe_scale = pe_scale
        self.pe_temperature = pe_temperature
        self.input_proj = nn.Linear(dim, dim)
        if heads == "linear":
            self.feature_pred = nn.Sequential(nn.Linear(dim, dim), nn.Linear(dim, dim))
            self.weights_pred = nn.Sequential(nn.Linear(dim, dim), nn.Linear(dim, num_tokens))
        elif heads == "mlp":
            self.feature_pred = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(inplace=True), nn.Linear(dim, dim))
            self.weights_pred = nn.Sequential(nn.Linear(dim, num_tokens))
        else:
            raise ValueError(f"heads must be 'linear' or 'mlp', got {heads!r}")

    def forward(self, masks: Tensor, pixel: Tensor) -> Tensor:
        h, w = pixel.shape[-2:]
        v = self.input_proj(pixel.flatten(3).transpose(2, 3))  # (B, N, P, C)
        if self.add_pe:
            v = v + sine_positional_encoding(h, w, v.shape[-1], self.pe_scale, self.pe_temperature, v.device, v.dtype).flatten(0, 1)
        m = masks.flatten(2).unsqueeze(-1).expand(-1, -1, -1, self.num_tokens)  # (B, N, P, Q)
        with fp32_island(v.device.type):
            v = v.float()
            sums, area = weighted_pooling(m, self.weights_pred(v), self.feature_pred(v))
            return sums / (area + 1e-4)
