"""Pixel-memory affinity and readout (XMem / Cutie anisotropic L2; DESIGN 3) and the affinity
normalisations of ``model.affinity_norm`` (surjective, equalized, bijective; docs/emvos.md).

All functions here run in float32 (callers are inside an fp32 island; inputs are upcast).
Shapes: ``L`` memory (reference) tokens, ``M`` query pixels, ``S`` the (B, L, M) similarity.
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


def _gather_readout(indices: Tensor, weights: Tensor, mem_value: Tensor) -> tuple[Tensor, Tensor]:
    """``out[:, m] = sum_j weights[j, m] V[:, indices[j, m]]`` by a weighted gather
    (``torch.nn.functional.embedding_bag`` with per-sample weights), O(C k M).

    Args:
        indices: (B, k, M) int64 memory-token indices per query pixel.
        weights: (B, k, M) float32 weights of those tokens.
        mem_value: (B, C, L).
    Returns:
        readout float32 (B, C, M) and the weight mass per memory token float32 (B, L).
    """
    b, k, m = indices.shape
    num_mem = mem_value.shape[-1]
    table = mem_value.float().transpose(1, 2).reshape(b * num_mem, -1)  # (B*L, C)
    offsets = (torch.arange(b, device=indices.device) * num_mem).view(b, 1, 1)
    flat_idx = (indices + offsets).permute(0, 2, 1).reshape(b * m, k)  # (B*M, k) rows of the table
    flat_w = weights.permute(0, 2, 1).reshape(b * m, k)
    out = torch.nn.functional.embedding_bag(flat_idx, table, per_sample_weights=flat_w, mode="sum")  # (B*M, C)
    usage = torch.zeros(b, num_mem, device=weights.device).scatter_add_(1, indices.flatten(1), weights.flatten(1))
    return out.view(b, m, -1).transpose(1, 2), usage


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
    num_mem = similarity.shape[1]
    k = max(1, min(int(top_k), num_mem))
    values, indices = torch.topk(similarity.float(), k=k, dim=1)  # (B, k, M)
    weights = torch.softmax(values, dim=1)  # (B, k, M)
    return _gather_readout(indices, weights, mem_value)


# ---------------------------------------------------------------------------------------------
# Affinity normalisations (issue 14): surjective (Cutie), equalized (EMVOS), bijective (BMVOS)
# ---------------------------------------------------------------------------------------------

AFFINITY_NORMS: tuple[str, ...] = ("memory_softmax", "query_softmax", "topk_bijective")
"""The values of ``model.affinity_norm`` (docs/emvos.md):

- ``memory_softmax``: softmax over the memory axis per query pixel (Cutie, XMem; surjective);
- ``query_softmax``: softmax over the query axis per memory token (EMVOS's equalized matching,
  Cho et al. 2022, arXiv 2209.03139);
- ``topk_bijective``: each memory token keeps only its K best query pixels, then the softmax over
  the memory axis among the kept entries (BMVOS's bijective matching, Cho et al., WACV 2022, as a filter in front of the
  surjective readout)."""


def query_softmax_affinity(similarity: Tensor) -> Tensor:
    """Equalized affinity: softmax over the QUERY axis per memory token (EMVOS,
    ``E(r, q) = exp(S(r, q)) / sum_q' exp(S(r, q'))``).

    Every memory (reference) pixel hands out a total weight of exactly 1 over the query, so a
    query region matched by many memory pixels (a distractor) cannot collect more than those
    pixels share with the other query pixels.

    Args:
        similarity: (B, L, M) (L memory tokens, M query pixels).
    Returns:
        float32 (B, L, M); every row (fixed memory token) sums to 1 over M.
    """
    return torch.softmax(similarity.float(), dim=2)


def bijective_mask(similarity: Tensor, k: int) -> Tensor:
    """Which entries BMVOS's bijective matching keeps: for every memory token (row) its ``k``
    largest similarities over the query axis (``k`` clipped to M; ties broken by
    ``torch.topk``, so every row keeps exactly ``min(k, M)`` entries).

    Args:
        similarity: (B, L, M).
        k: query matches kept per memory token (BMVOS: 4).
    Returns:
        bool (B, L, M).
    Raises:
        ValueError: ``k < 1``.
    """
    if k < 1:
        raise ValueError(f"bijective k must be >= 1, got {k}")
    kk = min(int(k), similarity.shape[2])
    idx = torch.topk(similarity, k=kk, dim=2).indices  # (B, L, k)
    return torch.zeros(similarity.shape, dtype=torch.bool, device=similarity.device).scatter_(2, idx, True)


def bijective_affinity(similarity: Tensor, k: int, top_k: Optional[int] = None) -> Tensor:
    """Bijective affinity: the entries of :func:`bijective_mask`, softmax-normalised over the
    memory axis per query pixel (optionally only the ``top_k`` largest kept ones per query).
    A query pixel that no memory token kept gets an all-zero column (it reads nothing).

    Args:
        similarity: (B, L, M); k: matches kept per memory token; top_k: per-query top-k or None.
    Returns:
        float32 (B, L, M); every row has at most ``min(k, M)`` non-zeros (exactly that many
        without ``top_k``); every column sums to 1 or is all zero.
    """
    sim = similarity.float().masked_fill(~bijective_mask(similarity, k), float("-inf"))
    if top_k is not None and 0 < top_k < sim.shape[1]:
        values, indices = torch.topk(sim, k=top_k, dim=1)
        sim = torch.full_like(sim, float("-inf")).scatter_(1, indices, values)
    return _masked_softmax(sim, dim=1)


def _masked_softmax(x: Tensor, dim: int) -> Tensor:
    """Softmax along ``dim`` where -inf entries get 0 and an all -inf slice gives all zeros."""
    peak = x.amax(dim=dim, keepdim=True)
    peak = torch.where(torch.isfinite(peak), peak, torch.zeros_like(peak))
    e = torch.exp(x - peak)  # exp(-inf) = 0
    total = e.sum(dim=dim, keepdim=True)
    return e / total.clamp(min=torch.finfo(e.dtype).tiny)


def query_readout_scale(num_mem: int, num_query: int) -> float:
    """Factor applied to the equalized readout, ``M / L``: the query-softmax affinity hands out a
    total mass of L (one per memory token) over M query pixels; scaled by M / L every query pixel
    receives a mass of 1 on average, as under the memory softmax, whatever the number of memory
    frames (docs/emvos.md)."""
    return float(num_query) / float(max(num_mem, 1))


def readout_weights(similarity: Tensor, norm: str = "memory_softmax", top_k: Optional[int] = None, bijective_k: int = 4) -> Tensor:
    """The dense readout weights ``W`` (B, L, M) of ``model.affinity_norm``: the readout is
    ``V @ W`` (:func:`readout`).

    - ``memory_softmax``: :func:`softmax_affinity` (per-query top-k when ``top_k``).
    - ``query_softmax``: ``(M / L) * E`` with ``E`` = :func:`query_softmax_affinity`; with
      ``top_k`` every query pixel keeps its ``top_k`` largest ``E`` entries over the memory and
      the rest become 0, WITHOUT renormalising the column (a renormalisation would undo the
      equalization: the normalisation is over the query axis, the top-k selection over the memory
      axis, and the two act on different axes).
    - ``topk_bijective``: :func:`bijective_affinity` (per-query top-k of the kept entries).

    Args:
        similarity: (B, L, M); norm: one of :data:`AFFINITY_NORMS`; top_k: per-query top-k over
            the memory (inference) or None (training, full); bijective_k: K of ``topk_bijective``.
    Returns:
        float32 (B, L, M).
    Raises:
        ValueError: unknown ``norm``.
    """
    if norm == "memory_softmax":
        return softmax_affinity(similarity, top_k)
    if norm == "query_softmax":
        num_mem, num_query = similarity.shape[1:]
        weights = query_softmax_affinity(similarity) * query_readout_scale(num_mem, num_query)
        if top_k is not None and 0 < top_k < num_mem:
            values, indices = torch.topk(weights, k=top_k, dim=1)
            weights = torch.zeros_like(weights).scatter_(1, indices, values)
        return weights
    if norm == "topk_bijective":
        return bijective_affinity(similarity, bijective_k, top_k)
    raise ValueError(f"unknown affinity_norm {norm!r}; use one of {list(AFFINITY_NORMS)}")


def normalized_topk_readout(similarity: Tensor, mem_value: Tensor, top_k: int, norm: str = "memory_softmax", bijective_k: int = 4) -> tuple[Tensor, Tensor]:
    """The inference top-k readout of ``model.affinity_norm`` as a weighted gather of ``top_k``
    value columns per query pixel; equal to ``readout(readout_weights(S, norm, top_k), V)``.

    ``memory_softmax`` is :func:`topk_readout`. ``query_softmax`` first normalises every memory
    token over the whole query (a dense (B, L, M) softmax: the normaliser of a row needs all M
    query pixels), then gathers each query pixel's ``top_k`` largest weights over the memory,
    scaled by M / L and not renormalised. ``topk_bijective`` masks the similarity to each memory
    token's K best query pixels, then gathers the ``top_k`` largest kept similarities per query
    pixel and softmax-normalises them (-inf entries weigh 0; a query pixel with no kept entry
    reads 0).

    Args:
        similarity: (B, L, M); mem_value: (B, C, L); top_k: k (clipped to L); norm, bijective_k:
            as :func:`readout_weights`.
    Returns:
        readout float32 (B, C, M) and the weight mass per memory token float32 (B, L).
    Raises:
        ValueError: unknown ``norm``.
    """
    if norm == "memory_softmax":
        return topk_readout(similarity, mem_value, top_k)
    num_mem, num_query = similarity.shape[1:]
    k = max(1, min(int(top_k), num_mem))
    if norm == "query_softmax":
        weights_dense = query_softmax_affinity(similarity)
        values, indices = torch.topk(weights_dense, k=k, dim=1)  # (B, k, M)
        return _gather_readout(indices, values * query_readout_scale(num_mem, num_query), mem_value)
    if norm == "topk_bijective":
        masked = similarity.float().masked_fill(~bijective_mask(similarity, bijective_k), float("-inf"))
        values, indices = torch.topk(masked, k=k, dim=1)
        return _gather_readout(indices, _masked_softmax(values, dim=1), mem_value)
    raise ValueError(f"unknown affinity_norm {norm!r}; use one of {list(AFFINITY_NORMS)}")


def masked_max_scores(affinity: Tensor, mem_masks: Tensor) -> Tensor:
    """EMVOS's fg/bg matching scores: for every object n and query pixel q,
    ``s_bg(q) = max_r A(r, q) (1 - M_n(r))`` and ``s_fg(q) = max_r A(r, q) M_n(r)``
    (Cho et al. 2022, arXiv 2209.03139; the masked max-pooling over reference pixels).

    Objects are processed one at a time, so the working memory is one (B, L, M) product.

    Args:
        affinity: (B, L, M) any affinity (surjective cosine, equalized softmax, ...).
        mem_masks: (B, N, L) foreground probability of each object at each memory token.
    Returns:
        float32 (B, N, 2, M): channel 0 background, channel 1 foreground.
    """
    aff = affinity.float()
    out = []
    for n in range(mem_masks.shape[1]):
        fg = mem_masks[:, n].float().unsqueeze(2)  # (B, L, 1)
        bg_score = (aff * (1 - fg)).amax(dim=1)  # (B, M)
        fg_score = (aff * fg).amax(dim=1)
        out.append(torch.stack([bg_score, fg_score], dim=1))
    return torch.stack(out, dim=1)


def equalized_scores(similarity: Tensor, mem_masks: Tensor) -> Tensor:
    """EMVOS's equalized fg/bg scores on the memory's own similarity, scaled to be resolution
    free: ``masked_max_scores(M * softmax_query(S), masks)`` (M = query pixels; a memory token
    that spreads its mass evenly over the query scores 1 everywhere).

    Args:
        similarity: (B, L, M); mem_masks: (B, N, L) in [0, 1].
    Returns:
        float32 (B, N, 2, M) (background, foreground).
    """
    num_query = similarity.shape[2]
    return masked_max_scores(query_softmax_affinity(similarity) * float(num_query), mem_masks)
