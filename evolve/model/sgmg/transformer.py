"""The transformer of the SgMg network: an encoder over the fused multi-level features and a
decoder of sentence-conditioned object queries with iterative box refinement.

SgMg uses a deformable transformer (Deformable-DETR / ReferFormer). Here both the encoder and
the decoder use STANDARD multi-head attention (``nn.MultiheadAttention``): the encoder attends
over all tokens of all levels of a frame, each query attends over all of them. On the small
feature maps this project trains on this is cheaper than sampling-based deformable attention
in pure PyTorch and has the same interface; the cost grows with the square of the token count
at the paper's 480p inputs (docs/referring.md "Deviations").

Queries follow ReferFormer / SgMg: the content of every query starts as the sentence feature
(so the queries ask for the referred object), the position part is a learned embedding per
query, and each query carries a reference box refined by every decoder layer
(``box_l = sigmoid(MLP(h_l) + logit(box_{l-1}))``, Zhu et al., ICLR 2021, Sec. 4 "iterative
bounding box refinement"). Because standard attention does not sample at the reference
points, the box is fed back into the queries' positional part (a sine embedding of the box
through an MLP, as DAB-DETR, Liu et al., ICLR 2022, Sec. 4), so it still steers attention.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from evolve.model.layers import FFN, CrossAttention


def inverse_sigmoid(x: Tensor, eps: float = 1e-5) -> Tensor:
    """``log(x / (1 - x))`` with x clamped to [eps, 1 - eps]."""
    x = x.clamp(eps, 1 - eps)
    return torch.log(x / (1 - x))


def sine_embedding(coords: Tensor, dim: int, temperature: float = 10000.0) -> Tensor:
    """Sine embedding of normalised coordinates (DETR style, scale 2 pi).

    Args:
        coords: (..., K) values in [0, 1].
        dim: output width, divisible by 2K.
    Returns:
        (..., dim): for each of the K coordinates ``dim / K`` channels of interleaved
        ``sin, cos`` of ``2 pi x / temperature^(2 i / (dim / K))``.
    """
    k = coords.shape[-1]
    per = dim // k
    i = torch.arange(per // 2, device=coords.device, dtype=torch.float32)
    freq = temperature ** (2 * i / per)  # (per/2,)
    ang = coords.float()[..., None] * (2 * math.pi) / freq  # (..., K, per/2)
    emb = torch.stack([ang.sin(), ang.cos()], dim=-1).flatten(-2)  # (..., K, per)
    return emb.flatten(-2).to(coords.dtype)


def text_positions(length: int, dim: int, device: torch.device) -> Tensor:
    """1-D sine positions of ``length`` tokens -> (length, dim) (SgMg's text PE)."""
    pos = (torch.arange(length, device=device, dtype=torch.float32) + 0.5) / max(length, 1)
    return sine_embedding(pos[:, None], dim)


class MLP(nn.Module):
    """``num_layers`` linear layers with ReLU between them (DETR's FFN head)."""

    def __init__(self, in_dim: int, hidden: int, out_dim: int, num_layers: int) -> None:
        super().__init__()
        dims = [in_dim] + [hidden] * (num_layers - 1) + [out_dim]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))

    def forward(self, x: Tensor) -> Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = torch.relu(x)
        return x


class EncoderLayer(nn.Module):
    """Pre-norm self-attention + FFN over the tokens of a frame. (N, L, d) -> (N, L, d)."""

    def __init__(self, dim: int, num_heads: int, ff_dim: int) -> None:
        super().__init__()
        self.attn = CrossAttention(dim, num_heads)
        self.ffn = FFN(dim, ff_dim)

    def forward(self, x: Tensor, pos: Tensor) -> Tensor:
        return self.ffn(self.attn(x, None, pos))


class DecoderLayer(nn.Module):
    """Query self-attention, cross-attention to the encoded tokens, FFN (pre-norm).

    Shapes: tgt (N, Q, d), query_pos (N, Q, d), memory (N, L, d), memory_pos (N, L, d) -> (N, Q, d).
    """

    def __init__(self, dim: int, num_heads: int, ff_dim: int) -> None:
        super().__init__()
        self.self_attn = CrossAttention(dim, num_heads)
        self.cross_attn = CrossAttention(dim, num_heads)
        self.ffn = FFN(dim, ff_dim)

    def forward(self, tgt: Tensor, query_pos: Tensor, memory: Tensor, memory_pos: Tensor) -> Tensor:
        tgt = self.self_attn(tgt, None, query_pos)
        tgt = self.cross_attn(tgt, memory, query_pos, memory_pos)
        return self.ffn(tgt)


class QueryDecoder(nn.Module):
    """Sentence-conditioned queries with per-layer class, box and mask-kernel outputs.

    Args:
        dim, num_heads, ff_dim, num_layers: sizes.
        num_queries: Q per frame.
        num_kernel_params: outputs of the controller (the dynamic mask head's parameters).
    Shapes:
        forward(sentence (N, d), memory (N, L, d), memory_pos (N, L, d)) -> list over layers of
        dicts with ``logits`` (N, Q), ``boxes`` (N, Q, 4) cxcywh in [0, 1] of the input frame,
        ``params`` (N, Q, num_kernel_params), ``hidden`` (N, Q, d).
    """

    def __init__(self, dim: int, num_heads: int, ff_dim: int, num_layers: int, num_queries: int, num_kernel_params: int) -> None:
        super().__init__()
        self.num_queries = num_queries
        self.query_embed = nn.Embedding(num_queries, dim)
        self.reference = nn.Linear(dim, 2)  # initial reference centres from the query positions
        self.box_pos = MLP(dim, dim, dim, 2)
        self.layers = nn.ModuleList(DecoderLayer(dim, num_heads, ff_dim) for _ in range(num_layers))
        self.norm = nn.LayerNorm(dim)
        self.class_head = nn.Linear(dim, 1)
        self.box_head = MLP(dim, dim, 4, 3)
        self.controller = MLP(dim, dim, num_kernel_params, 3)
        prior = 0.01
        nn.init.constant_(self.class_head.bias, -math.log((1 - prior) / prior))
        nn.init.zeros_(self.box_head.layers[-1].weight)
        nn.init.zeros_(self.box_head.layers[-1].bias)
        nn.init.constant_(self.box_head.layers[-1].bias[2:], -2.0)
        for layer in self.controller.layers:
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, sentence: Tensor, memory: Tensor, memory_pos: Tensor) -> list[dict[str, Tensor]]:
        n, d = sentence.shape
        q = self.num_queries
        base_pos = self.query_embed.weight[None].expand(n, q, d)  # (N, Q, d)
        tgt = sentence[:, None, :].expand(n, q, d).contiguous()  # content = the sentence
        ref = torch.sigmoid(self.reference(base_pos))  # (N, Q, 2) centres
        ref = torch.cat([ref, torch.full_like(ref, 0.1)], dim=-1)  # (N, Q, 4) initial boxes
        outputs = []
        for layer in self.layers:
            query_pos = base_pos + self.box_pos(sine_embedding(ref, d))
            tgt = layer(tgt, query_pos, memory, memory_pos)
            h = self.norm(tgt)
            boxes = torch.sigmoid(self.box_head(h) + inverse_sigmoid(ref))  # (N, Q, 4)
            outputs.append({"hidden": h, "logits": self.class_head(h).squeeze(-1), "boxes": boxes, "params": self.controller(h)})
            ref = boxes.detach()
        return outputs


class FeatureEncoder(nn.Module):
    """Standard-attention encoder over the tokens of all levels of a frame.

    Shapes: forward(levels: list of (N, d, h_l, w_l)) -> (encoded levels, same shapes;
    tokens (N, L, d); positions (N, L, d)), L = sum h_l w_l.
    """

    def __init__(self, dim: int, num_heads: int, ff_dim: int, num_layers: int, num_levels: int) -> None:
        super().__init__()
        self.level_embed = nn.Parameter(torch.zeros(num_levels, dim))
        nn.init.normal_(self.level_embed, std=0.02)
        self.layers = nn.ModuleList(EncoderLayer(dim, num_heads, ff_dim) for _ in range(num_layers))
        self.dim = dim

    def forward(self, levels: list[Tensor]) -> tuple[list[Tensor], Tensor, Tensor]:
        from evolve.model.layers import sine_positional_encoding

        tokens, pos, shapes = [], [], []
        for i, x in enumerate(levels):
            n, d, h, w = x.shape
            shapes.append((h, w))
            tokens.append(x.flatten(2).transpose(1, 2))  # (N, hw, d)
            pe = sine_positional_encoding(h, w, d, 2 * math.pi, 10000.0, x.device, x.dtype).reshape(1, h * w, d)
            pos.append(pe + self.level_embed[i].to(x.dtype))
        x = torch.cat(tokens, dim=1)
        p = torch.cat(pos, dim=1).expand(x.shape[0], -1, -1)
        for layer in self.layers:
            x = layer(x, p)
        out, start = [], 0
        for h, w in shapes:
            out.append(x[:, start : start + h * w].transpose(1, 2).reshape(x.shape[0], -1, h, w))
            start += h * w
        return out, x, p
