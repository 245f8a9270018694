"""Pixel-memory affinity and readout (XMem / Cutie anisotropic L2; DESIGN 3).

All functions here run in float32 (callers are inside an fp32 island; inputs are upcast).
"""

from __future__ import annotations

import math
from typing import Optional

import torch
from torch import Tensor


def anisotropic_l2_similarity(mem_key: Tensor, mem_shrinkage: Optional[Tensor], query_key: Tensor, query_selection: Optional[Tensor]) -> Tensor:
    """Anisotropic L2 similarity between memory and query keys (XMem, Cheng & Schwing 2022, Eq. 3).

    ``S[l, m] = (-sum_c e_cm k_cl^2 + 2 sum_c k_cl q_cm e_cm - sum_c e_cm q_cm^2) * s_l / sqrt(C_k)``
    with memory key k, memory shrinkage s (>= 1), query key q and query selection e in (0, 1).
    Without selection e = 1 (plain negative squared L2); without shrinkage s = 1.

    Args:
        mem_key: (B, C_k, L) memory keys (L = memory tokens).
        mem_shrinkage: (B, 1, L) or None.
        query_key: (B, C_k, M) query keys (M = query pixels).
        query_selection: (B, C_k, M) or None.
    Returns:
        float32 (B, L, M).
    """
    ck = mem_key.shape[1]
    mk = mem_key.float().transpose(1, 2)  # (B, L, Ck)
    qk = query_key.float()
    if query_selection is not None:
        qe = query_selection.float()
        a_sq = mk.pow(2) @ qe  # (B, L, M)
        two_ab = 2 * (mk @ (qk * qe))
        b_sq = (qe * qk.pow(2)).sum(1, keepdim=True)  # (B, 1, M)
    else:
        a_sq = mk.pow(2).sum(2, keepdim=True)  # (B, L, 1)
        two_ab = 2 * (mk @ qk)
        b_sq = qk.pow(2).sum(1, keepdim=True)
    sim = -a_sq + two_ab - b_sq
    if mem_shrinkage is not None:
        sim = sim * mem_shrinkage.float().transpose(1, 2)  # (B, L, 1)
    return sim / math.sqrt(ck)


def softmax_affinity(similarity: Tensor, top_k: Optional[int] = None) -> Tensor:
    """Softmax over the memory axis (dim 1), optionally keeping only the top-k entries per query.

    With ``top_k`` (inference, DESIGN 5: 30) every query pixel keeps its k largest similarities,
    renormalised; the others get exactly 0. ``top_k >= L`` or None is the full softmax.

    Args:
        similarity: (B, L, M).
        top_k: k or None.
    Returns:
        float32 affinity (B, L, M), each column sums to 1.
    """
    similarity = similarity.float()
    num_mem = similarity.shape[1]
    if top_k is None or top_k <= 0 or top_k >= num_mem:
        return torch.softmax(similarity, dim=1)
    values, indices = torch.topk(similarity, k=top_k, dim=1)  # (B, k, M)
    weights = torch.softmax(values, dim=1)
    return torch.zeros_like(similarity).scatter_(1, indices, weights)


def readout(affinity: Tensor, mem_value: Tensor) -> Tensor:
    """Memory readout ``V @ A``.

    Args:
        affinity: (B, L, M).
        mem_value: (B, C, L) (C may stack several objects' values).
    Returns:
        float32 (B, C, M).
    """
    return mem_value.float() @ affinity.float()


def topk_readout(similarity: Tensor, mem_value: Tensor, top_k: int) -> tuple[Tensor, Tensor]:
    """Top-k memory readout without a dense affinity (DESIGN 5 inference; same result as
    ``readout(softmax_affinity(similarity, top_k), mem_value)``).

    For every query pixel m the ``top_k`` largest similarities over the memory are kept and
    softmax-normalised, ``w[j, m] = softmax_j(S[idx[j, m], m])``, and the output is
    ``out[:, m] = sum_j w[j, m] V[:, idx[j, m]]``: a weighted gather of k value columns
    (``torch.nn.functional.embedding_bag`` with per-sample weights), O(C k M) instead of the
    dense O(C L M) product.

    Args:
        similarity: (B, L, M) float.
        mem_value: (B, C, L).
        top_k: k (clipped to L).
    Returns:
        readout float32 (B, C, M) and the affinity mass per memory token float32 (B, L)
        (``sum_m A[l, m]``, XMem's usage).
    """
    b, num_mem, m = similarity.shape
    k = max(1, min(int(top_k), num_mem))
    values, indices = torch.topk(similarity.float(), k=k, dim=1)  # (B, k, M)
    weights = torch.softmax(values, dim=1)  # (B, k, M)
    table = mem_value.float().transpose(1, 2).reshape(b * num_mem, -1)  # (B*L, C)
    offsets = (torch.arange(b, device=indices.device) * num_mem).view(b, 1, 1)
    flat_idx = (indices + offsets).permute(0, 2, 1).reshape(b * m, k)  # (B*M, k) rows of the table
    flat_w = weights.permute(0, 2, 1).reshape(b * m, k)
    out = torch.nn.functional.embedding_bag(flat_idx, table, per_sample_weights=flat_w, mode="sum")  # (B*M, C)
    usage = torch.zeros(b, num_mem, device=similarity.device).scatter_add_(1, indices.flatten(1), weights.flatten(1))
    return out.view(b, m, -1).transpose(1, 2), usage
