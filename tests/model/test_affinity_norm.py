"""model.affinity_norm (issue 14): surjective, equalized and bijective affinities against
hand-computed values, and the training (dense) and inference (top-k gather) paths against each other."""

from __future__ import annotations

import math

import pytest
import torch

from evolve.inference.memory_store import MemoryBucket, TokenSet
from evolve.model.evolve.network import EVOLVE
from evolve.model.memory_ops import (
    AFFINITY_NORMS,
    bijective_affinity,
    bijective_mask,
    equalized_scores,
    masked_max_scores,
    normalized_topk_readout,
    query_softmax_affinity,
    readout,
    readout_weights,
)
from evolve.utils.errors import InputError


def test_query_softmax_rows_sum_to_one_by_hand():
    # 2 memory tokens x 3 query pixels
    sim = torch.tensor([[[0.0, 1.0, 2.0], [3.0, 3.0, -1.0]]])
    aff = query_softmax_affinity(sim)
    z0 = 1 + math.e + math.e**2
    z1 = 2 * math.e**3 + math.e**-1
    want = [[1 / z0, math.e / z0, math.e**2 / z0], [math.e**3 / z1, math.e**3 / z1, math.e**-1 / z1]]
    torch.testing.assert_close(aff[0], torch.tensor(want), rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(aff.sum(dim=2), torch.ones(1, 2))  # each reference pixel hands out 1
    # columns do NOT sum to 1 (that is the memory softmax)
    assert aff.sum(dim=1)[0, 2].item() == pytest.approx(math.e**2 / z0 + math.e**-1 / z1, rel=1e-6)
    # the readout weights are the affinity times M / L = 3 / 2
    torch.testing.assert_close(readout_weights(sim, "query_softmax"), aff * 1.5)


def _distractor_case():
    """Memory: a foreground token r_f and a background token r_b (fg value 1 and 0).
    Query: the target q_t (matches r_f best of all query pixels, but also looks like r_b), a
    distractor q_d (weakly like r_f, very unlike r_b) and a background pixel q_b."""
    sim = torch.tensor([[[5.0, 1.0, 0.0],  # r_f vs (q_t, q_d, q_b)
                         [3.0, -3.0, 4.0]]])  # r_b
    fg_value = torch.tensor([[[1.0, 0.0]]])  # (B, C=1, L)
    fg_mask = torch.tensor([[[1.0, 0.0]]])  # (B, N=1, L)
    return sim, fg_value, fg_mask


def test_distractor_wins_under_memory_softmax_but_not_under_query_softmax():
    sim, value, mask = _distractor_case()
    surj = readout(readout_weights(sim, "memory_softmax"), value)[0, 0]  # fg evidence per query pixel
    sig = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731
    assert surj[0].item() == pytest.approx(sig(5 - 3), rel=1e-6)  # target 0.881
    assert surj[1].item() == pytest.approx(sig(1 + 3), rel=1e-6)  # distractor 0.982
    assert surj[1] > surj[0]  # the distractor collects more foreground evidence than the target

    eq = readout(readout_weights(sim, "query_softmax"), value)[0, 0]
    z = math.exp(5) + math.exp(1) + 1
    assert eq[0].item() == pytest.approx(1.5 * math.exp(5) / z, rel=1e-6)  # 1.463
    assert eq[1].item() == pytest.approx(1.5 * math.exp(1) / z, rel=1e-6)  # 0.027
    assert eq[0] > eq[1]

    # EMVOS's masked max-pooled scores say the same: fg score of the target beats the distractor
    scores = masked_max_scores(query_softmax_affinity(sim), mask)[0, 0]  # (2, M)
    assert scores[1, 0].item() == pytest.approx(math.exp(5) / z, rel=1e-6)
    assert scores[1, 1].item() == pytest.approx(math.exp(1) / z, rel=1e-6)
    zb = math.exp(3) + math.exp(-3) + math.exp(4)
    assert scores[0, 2].item() == pytest.approx(math.exp(4) / zb, rel=1e-6)  # bg score of q_b from r_b
    torch.testing.assert_close(equalized_scores(sim, mask), masked_max_scores(query_softmax_affinity(sim), mask) * 3)


def test_topk_bijective_keeps_exactly_k_per_reference_pixel():
    g = torch.Generator().manual_seed(0)
    sim = torch.randn(2, 7, 9, generator=g)
    for k in (1, 3, 9, 20):
        kept = bijective_mask(sim, k)
        assert (kept.sum(dim=2) == min(k, 9)).all()
        aff = bijective_affinity(sim, k)
        assert ((aff > 0).sum(dim=2) == min(k, 9)).all()  # exactly K non-zero weights per memory token
        col = aff.sum(dim=1)
        assert bool((((col - 1).abs() < 1e-6) | (col == 0)).all())  # each query pixel reads a distribution or nothing
        # kept entries are the K largest of their row
        for b in range(2):
            for r in range(7):
                row = sim[b, r].tolist()
                best = sorted(range(9), key=lambda q: -row[q])[: min(k, 9)]
                assert sorted(torch.nonzero(kept[b, r]).flatten().tolist()) == sorted(best)


def test_topk_bijective_by_hand():
    # 3 memory tokens x 3 query pixels, K = 1: r0 keeps q0, r1 keeps q0, r2 keeps q2; q1 is kept by nobody
    sim = torch.tensor([[[2.0, 1.0, 0.0], [1.0, 0.5, 0.0], [0.0, 0.0, 3.0]]])
    aff = bijective_affinity(sim, 1)
    want = torch.zeros(3, 3)
    want[0, 0] = math.exp(2) / (math.exp(2) + math.exp(1))
    want[1, 0] = math.exp(1) / (math.exp(2) + math.exp(1))
    want[2, 2] = 1.0
    torch.testing.assert_close(aff[0], want)
    out, usage = normalized_topk_readout(sim, torch.tensor([[[10.0, 20.0, 30.0]]]), top_k=2, norm="topk_bijective", bijective_k=1)
    assert out[0, 0].tolist() == pytest.approx([10 * want[0, 0].item() + 20 * want[1, 0].item(), 0.0, 30.0], rel=1e-6)
    assert usage[0].tolist() == pytest.approx([want[0, 0].item(), want[1, 0].item(), 1.0], rel=1e-6)


@pytest.mark.parametrize("norm", AFFINITY_NORMS)
def test_gather_equals_dense_weights(norm):
    g = torch.Generator().manual_seed(3)
    sim = torch.randn(2, 12, 10, generator=g) * 2
    value = torch.randn(2, 5, 12, generator=g)
    for top_k in (3, 12, 40):
        dense = readout_weights(sim, norm, top_k, bijective_k=2)
        out, usage = normalized_topk_readout(sim, value, top_k, norm, bijective_k=2)
        torch.testing.assert_close(out, readout(dense, value), rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(usage, dense.sum(dim=2), rtol=1e-5, atol=1e-6)
        if top_k < 12:  # at most top_k memory tokens per query pixel
            assert int((dense > 0).sum(dim=1).max()) <= top_k
    # top_k >= L is the training (full) affinity
    torch.testing.assert_close(readout_weights(sim, norm, 12, 2), readout_weights(sim, norm, None, 2))


def test_query_softmax_top_k_keeps_the_largest_weights_unrenormalised():
    sim = torch.tensor([[[0.0, 2.0], [1.0, 0.0], [3.0, 0.0]]])  # L = 3, M = 2
    full = readout_weights(sim, "query_softmax")
    top1 = readout_weights(sim, "query_softmax", top_k=1)
    for m in range(2):
        best = int(full[0, :, m].argmax())
        for r in range(3):
            assert top1[0, r, m].item() == pytest.approx(full[0, r, m].item() if r == best else 0.0)
    # the row normalisers are over the whole query, so the kept weight is the full-affinity weight
    assert top1[0, 2, 0].item() == pytest.approx(2 / 3 * math.exp(3) / (math.exp(3) + 1), rel=1e-6)


def test_unknown_norm_is_refused():
    with pytest.raises(ValueError, match="memory_softmax"):
        readout_weights(torch.zeros(1, 2, 2), "column_softmax")


def _token_set(key, shrinkage, selection, value, mask):
    length = key.shape[-1]
    return TokenSet(key=key, shrinkage=shrinkage, selection=selection, value=value, usage=torch.zeros(length),
                    life=torch.zeros(length), event_key=key.flip(0), event_shrinkage=shrinkage, event_selection=selection, mask=mask)


@pytest.mark.parametrize("norm", AFFINITY_NORMS)
def test_training_and_inference_paths_agree(norm):
    """EVOLVE.read_pixel_memory (the training read: full affinity, batch of 1) and the inference
    bucket read (top-k >= L, by gather and dense) give the same readouts and scores."""
    g = torch.Generator().manual_seed(5)
    ck, n, cv, h, w = 4, 2, 3, 2, 3
    m = h * w
    frames = []
    for _ in range(2):  # two memory frames
        frames.append(_token_set(torch.randn(ck, m, generator=g), 1 + torch.rand(1, m, generator=g), torch.rand(ck, m, generator=g),
                                 torch.randn(n, cv, m, generator=g), torch.rand(n, m, generator=g)))
    qk, qe = torch.randn(ck, m, generator=g), torch.rand(ck, m, generator=g)
    bucket = MemoryBucket([0, 1])
    bucket.add_frame(frames[0], permanent=True)
    bucket.add_frame(frames[1], permanent=False)
    all_tokens = TokenSet.cat(frames)
    train_out, weights, train_scores = EVOLVE.read_pixel_memory(
        qk.view(1, ck, h, w), qe.view(1, ck, h, w), all_tokens.key[None], all_tokens.shrinkage[None], all_tokens.value[None],
        None, norm, 2, all_tokens.mask[None],
    )
    ev_out, _, ev_scores = EVOLVE.read_pixel_memory(
        qk.flip(0).view(1, ck, h, w), qe.view(1, ck, h, w), all_tokens.event_key[None], all_tokens.event_shrinkage[None],
        all_tokens.value[None], None, norm, 2, all_tokens.mask[None],
    )
    for gather in (True, False):
        res = bucket.read_all(qk, qe, qk.flip(0), qe, top_k=2 * m, count_usage=False, gather=gather, affinity_norm=norm,
                              bijective_k=2, scores=True)
        torch.testing.assert_close(res.image, train_out[0].flatten(2), rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(res.event, ev_out[0].flatten(2), rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(res.image_scores, train_scores[0].flatten(2), rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(res.event_scores, ev_scores[0].flatten(2), rtol=1e-5, atol=1e-6)
    if norm == "query_softmax":
        torch.testing.assert_close(weights.sum(dim=2), torch.full((1, 2 * m), m / (2 * m)))


def test_unknown_affinity_norm_is_a_config_error_listing_the_choices():
    from evolve.model.evolve.config import load_model_config

    with pytest.raises(InputError) as err:
        load_model_config("small", ["affinity_norm=sinkhorn"])
    text = str(err.value)
    assert "affinity_norm" in text and "'sinkhorn'" in text
    for choice in AFFINITY_NORMS:
        assert choice in text
    with pytest.raises(InputError, match="bijective_k"):
        load_model_config("small", ["bijective_k=0"])
