"""DMOT, the dual-memory object transformer, with MRM after every block (EVOLVE; DESIGN 3).

Source: evolve_authors_code.md 1.5 (DMOT) and 1.6 (MRM). Per block, with the authors' forms
(``dmot_joint_attention: authors``, ``query_read_norm: false``):

1. joint self-attention over the concatenated image + event pixel tokens x (2*C channels,
   8 heads) as the authors call Cutie's CrossAttention with ``mem = x``:
   ``y = LN(x) + MHA(q = LN(x) + pe, k = x + pe, v = x)``, then ``y = y + FFN(LN(y))``
   (FFN(2*C, ff_dim)); split back and each stream adds the block's input tokens again:
   ``pixel = pixel_in + y[:, :, :C]``, ``event = event_in + y[:, :, C:]``;
2. image pixels read the image queries: ``pixel + MHA(pixel + pe, query + query_pe, query)``
   (no LayerNorm: Cutie's ``read_from_query.output_norm: False``), then a CAResBlock pixel FFN;
3. event pixels read the event queries the same way, then their own CAResBlock pixel FFN.

``dmot_joint_attention: prenorm`` is our earlier ``x + MHA(LN x + pe, LN x + pe, LN x)`` without
the outer residual; ``query_read_norm: true`` adds a LayerNorm before the query reads.

Queries never read pixels (Cutie's query-reads-pixel, query self-attention and query FFN are
removed); they change only through MRM. Output = image + event pixel streams.

With ``events: false`` the same blocks run on the image stream alone (self-attention over
C-channel pixel tokens, cross-attention to the image queries, pixel FFN): a frames-only
baseline on the same code path.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from evolve.model.evolve.config import ModelConfig
from evolve.model.layers import FFN, CAResBlock, CrossAttention, GConv2d, fp32_island, sine_positional_encoding
from evolve.model.evolve.summarizer import RefinementSummarizer


def _tokens_to_map(tokens: Tensor, b: int, n: int, h: int, w: int) -> Tensor:
    """(B*N, h*w, C) -> (B*N, C, h, w)."""
    return tokens.transpose(1, 2).reshape(b * n, -1, h, w)


def _map_to_tokens(x: Tensor) -> Tensor:
    """(M, C, h, w) -> (M, h*w, C)."""
    return x.flatten(2).transpose(1, 2)


class DMOTBlock(nn.Module):
    """One DMOT block (see the module docstring). Token tensors are (B*N, P, C), P = h*w."""

    def __init__(self, dim: int, num_heads: int, ff_dim: int, events: bool, joint_attention: str = "authors", query_read_norm: bool = False) -> None:
        super().__init__()
        self.events = events
        self.authors_joint = joint_attention == "authors"
        joint = 2 * dim if events else dim
        self.pixel_self_attn = CrossAttention(joint, num_heads, norm=True, residual_from="normed" if self.authors_joint else "input")
        self.pixel_self_ffn = FFN(joint, ff_dim)
        read_residual = "input" if query_read_norm else "normed"  # identical when there is no norm
        self.read_from_query = CrossAttention(dim, num_heads, norm=query_read_norm, residual_from=read_residual)
        self.pixel_ffn = CAResBlock(dim, dim)
        if events:
            self.event_read_from_query = CrossAttention(dim, num_heads, norm=query_read_norm, residual_from=read_residual)
            self.event_pixel_ffn = CAResBlock(dim, dim)

    def forward(
        self,
        hw: tuple[int, int],
        pixel: Tensor,
        pixel_pe: Tensor,
        query: Tensor,
        query_pe: Tensor,
        event_pixel: Optional[Tensor] = None,
        event_pixel_pe: Optional[Tensor] = None,
        event_query: Optional[Tensor] = None,
        event_query_pe: Optional[Tensor] = None,
    ) -> tuple[Tensor, Optional[Tensor]]:
        """Returns the updated (pixel, event_pixel) token tensors (B*N, P, C)."""
        h, w = hw
        dim = pixel.shape[-1]
        if self.events:
            assert event_pixel is not None and event_pixel_pe is not None
            joint_in = torch.cat([pixel, event_pixel], dim=-1)  # (B*N, P, 2C)
            joint_pe = torch.cat([pixel_pe, event_pixel_pe], dim=-1)
        else:
            joint_in, joint_pe = pixel, pixel_pe
        if self.authors_joint:
            joint = self.pixel_self_attn(joint_in, joint_in, joint_pe, joint_pe)  # LN(x) + MHA(LN x + pe, x + pe, x)
            joint = self.pixel_self_ffn(joint) + joint_in  # the block's input tokens added again after the split
        else:
            joint = self.pixel_self_ffn(self.pixel_self_attn(joint_in, None, joint_pe))
        pixel = joint[..., :dim]
        event_pixel = joint[..., dim:] if self.events else None

        m = pixel.shape[0]
        pixel = self.read_from_query(pixel, query, pixel_pe, query_pe)
        pixel = _map_to_tokens(self.pixel_ffn(pixel.transpose(1, 2).reshape(m, dim, h, w)))
        if self.events:
            assert event_pixel is not None and event_query is not None
            event_pixel = self.event_read_from_query(event_pixel, event_query, event_pixel_pe, event_query_pe)
            event_pixel = _map_to_tokens(self.event_pixel_ffn(event_pixel.transpose(1, 2).reshape(m, dim, h, w)))
        return pixel, event_pixel


def refinement_weights(pixel: Tensor, tokens: Tensor, aux_prob: Tensor, top_k: int, alpha: float, beta: float, threshold: float) -> Tensor:
    """MRM token weights from IoU matching (authors' ``weight_topk_queries``; DESIGN 3).

    Per token q: mask_q = (pixel . token_q > threshold); IoU_q against (aux_prob > threshold)
    (an empty union gives IoU 0); the ``top_k`` tokens with the highest IoU get weight
    ``beta + alpha * IoU_q``, the others ``beta``. No gradient flows through the weights.

    Args:
        pixel: (M, P, C) pixel tokens; tokens: (M, Q, C); aux_prob: (M, P) in [0, 1].
    Returns:
        float32 weights (M, Q).
    """
    with torch.no_grad():
        dots = torch.einsum("mpc,mqc->mqp", pixel.float(), tokens.float())  # (M, Q, P)
        token_masks = dots > threshold
        aux_masks = (aux_prob.float() > threshold).unsqueeze(1)  # (M, 1, P)
        inter = (token_masks & aux_masks).sum(-1).float()
        union = (token_masks | aux_masks).sum(-1).float()
        iou = torch.where(union > 0, inter / union.clamp(min=1), torch.zeros_like(inter))  # (M, Q)
        k = min(top_k, iou.shape[1])
        top_iou, top_idx = torch.topk(iou, k=k, dim=1)
        weights = torch.full_like(iou, beta)
        return weights.scatter(1, top_idx, beta + alpha * top_iou)


class DualMemoryObjectTransformer(nn.Module):
    """DMOT + MRM (see the module docstring).

    Query initialisation (Cutie, duplicated per modality): the object memory is averaged,
    ``summary = sum_t sums / (sum_t area + 1e-4)``, and
    ``query = E_init + Linear(summary)``, ``query_pe = E_pe + Linear(summary)``.
    Pixel streams: ``pixel = Conv1x1(readout)``, ``pixel_pe = Conv1x1(readout) + sinePE``; the event
    stream is the event readout itself (``event_pixel_init_proj: false``, the authors) with
    ``event_pe = Conv1x1(event readout) + sinePE``.
    Aux mask heads (ReLU + 1x1) give 4 levels of logits: before the blocks and after each.
    MRM (after every block but the last, whose update would not be read): see
    :func:`refinement_weights` and :class:`RefinementSummarizer`; ``query += w * token`` and
    ``event_query += w * token`` (``mrm: shared``) or ``+= w_e * token_e`` from a second MRM over
    the event pixel stream (``mrm: per_modality``), both pooled with the image aux mask.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        dim = config.embed_dim
        ot = config.object_transformer
        q = ot.num_queries
        self.events = config.events
        self.per_modality = config.mrm == "per_modality" and config.events
        self.refine = config.refinement
        self.pe_scale = config.pixel_pe_scale
        self.pe_temperature = config.pixel_pe_temperature
        self.query_init = nn.Embedding(q, dim)
        self.query_emb = nn.Embedding(q, dim)
        self.summary_to_query_init = nn.Linear(dim, dim)
        self.summary_to_query_emb = nn.Linear(dim, dim)
        self.pixel_init_proj = GConv2d(dim, dim, 1)
        self.pixel_emb_proj = GConv2d(dim, dim, 1)
        if self.events:
            self.event_query_init = nn.Embedding(q, dim)
            self.event_query_emb = nn.Embedding(q, dim)
            self.summary_to_event_query_init = nn.Linear(dim, dim)
            self.summary_to_event_query_emb = nn.Linear(dim, dim)
            if config.event_pixel_init_proj:
                self.event_pixel_init_proj = GConv2d(dim, dim, 1)
            self.event_pixel_emb_proj = GConv2d(dim, dim, 1)
        self.blocks = nn.ModuleList(
            DMOTBlock(dim, ot.num_heads, ot.ff_dim, self.events, config.dmot_joint_attention, config.query_read_norm) for _ in range(ot.num_blocks)
        )
        self.mask_pred = nn.ModuleList(GConv2d(dim, 1, 1) for _ in range(ot.num_blocks + 1))
        r = config.refinement
        make_refinement = lambda: RefinementSummarizer(dim, q, r.add_pe, r.heads, config.pixel_pe_scale, config.pixel_pe_temperature)  # noqa: E731
        self.refinement = make_refinement()
        if self.per_modality:
            self.event_refinement = make_refinement()

    @staticmethod
    def _queries(memory: Tensor, init: nn.Embedding, emb: nn.Embedding, to_init: nn.Linear, to_emb: nn.Linear) -> tuple[Tensor, Tensor]:
        """memory (B, N, T, Q, C+1) -> query, query_pe (B*N, Q, C)."""
        with fp32_island(memory.device.type):
            memory = memory.float()
            summary = memory[..., :-1].sum(2) / (memory[..., -1:].sum(2) + 1e-4)  # (B, N, Q, C)
        query = init.weight + to_init(summary)
        query_pe = emb.weight + to_emb(summary)
        return query.flatten(0, 1), query_pe.flatten(0, 1)

    def _aux_logits(self, level: int, pixel: Tensor, b: int, n: int, h: int, w: int) -> Tensor:
        """pixel tokens (B*N, P, C) -> aux logits (B, N, h, w) (fp32)."""
        x = _tokens_to_map(pixel, b, n, h, w).view(b, n, -1, h, w)
        return self.mask_pred[level](F.relu(x)).squeeze(2).float()

    def _refinement_update(self, summarizer: RefinementSummarizer, pixel: Tensor, aux_prob: Tensor, b: int, n: int, h: int, w: int) -> Tensor:
        """Weighted MRM tokens (B*N, Q, C) from pixel tokens (B*N, P, C) and aux_prob (B, N, h, w)."""
        pixel_map = _tokens_to_map(pixel, b, n, h, w).view(b, n, -1, h, w)
        tokens = summarizer(aux_prob, pixel_map).flatten(0, 1)  # (B*N, Q, C)
        r = self.refine
        weights = refinement_weights(pixel, tokens, aux_prob.flatten(0, 1).flatten(1), r.top_k, r.alpha, r.beta, r.threshold)
        return tokens * weights.unsqueeze(-1)

    def forward(
        self,
        pixel: Tensor,
        obj_memory: Tensor,
        event_pixel: Optional[Tensor] = None,
        event_obj_memory: Optional[Tensor] = None,
    ) -> tuple[Tensor, list[Tensor]]:
        """Run DMOT on the fused pixel readouts.

        Args:
            pixel: (B, N, C, h, w) image pixel readout (image pixel fuser output).
            obj_memory: (B, N, T, Q, C+1) image object memory (sums and area of T frames).
            event_pixel: (B, N, C, h, w) event pixel readout, or None when events are off.
            event_obj_memory: (B, N, T, Q, C+1) event object memory, or None.
        Returns:
            readout (B, N, C, h, w) = image + event pixel streams, and the aux logits of the
            4 levels, each float32 (B, N, h, w).
        """
        b, n, c, h, w = pixel.shape
        pe = sine_positional_encoding(h, w, c, self.pe_scale, self.pe_temperature, pixel.device, pixel.dtype).view(1, h * w, c)
        query, query_pe = self._queries(obj_memory, self.query_init, self.query_emb, self.summary_to_query_init, self.summary_to_query_emb)
        pix_tokens = _map_to_tokens(self.pixel_init_proj(pixel).flatten(0, 1))  # (B*N, P, C)
        pix_pe = _map_to_tokens(self.pixel_emb_proj(pixel).flatten(0, 1)) + pe
        evt_tokens = evt_pe = event_query = event_query_pe = None
        if self.events:
            if event_pixel is None or event_obj_memory is None:
                raise ValueError("this network has events on: pass event_pixel and event_obj_memory")
            event_query, event_query_pe = self._queries(
                event_obj_memory, self.event_query_init, self.event_query_emb, self.summary_to_event_query_init, self.summary_to_event_query_emb
            )
            evt_init = self.event_pixel_init_proj(event_pixel) if hasattr(self, "event_pixel_init_proj") else event_pixel
            evt_tokens = _map_to_tokens(evt_init.flatten(0, 1))  # the authors: the event readout as it is
            evt_pe = _map_to_tokens(self.event_pixel_emb_proj(event_pixel).flatten(0, 1)) + pe

        aux_logits = [self._aux_logits(0, pix_tokens, b, n, h, w)]
        num_blocks = len(self.blocks)
        for i, block in enumerate(self.blocks):
            pix_tokens, evt_tokens = block((h, w), pix_tokens, pix_pe, query, query_pe, evt_tokens, evt_pe, event_query, event_query_pe)
            logits = self._aux_logits(i + 1, pix_tokens, b, n, h, w)
            aux_logits.append(logits)
            if i == num_blocks - 1:
                break  # the queries are not read after the last block
            aux_prob = torch.sigmoid(logits)
            update = self._refinement_update(self.refinement, pix_tokens, aux_prob, b, n, h, w)
            query = query + update
            if self.events:
                assert event_query is not None and evt_tokens is not None
                if self.per_modality:
                    event_query = event_query + self._refinement_update(self.event_refinement, evt_tokens, aux_prob, b, n, h, w)
                else:
                    event_query = event_query + update

        out = _tokens_to_map(pix_tokens, b, n, h, w)
        if self.events:
            assert evt_tokens is not None
            out = out + _tokens_to_map(evt_tokens, b, n, h, w)
        return out.view(b, n, c, h, w), aux_logits
