"""Memory store, object manager and padding helpers without a network."""

from __future__ import annotations

import math

import pytest
import torch

from evolve.inference.memory_store import MemoryBucket, TokenSet
from evolve.inference.object_manager import ObjectManager
from evolve.inference.padding import pad_to_multiple, unpad


def _tokens(length: int, seed: int, ck: int = 3, n: int = 2, cv: int = 4, events: bool = True) -> TokenSet:
    g = torch.Generator().manual_seed(seed)
    return TokenSet(
        key=torch.randn(ck, length, generator=g),
        shrinkage=1 + torch.rand(1, length, generator=g),
        selection=torch.rand(ck, length, generator=g),
        value=torch.randn(n, cv, length, generator=g),
        usage=torch.rand(length, generator=g),
        life=torch.full((length,), 2.0),
        event_key=torch.randn(ck, length, generator=g) if events else None,
        event_shrinkage=1 + torch.rand(1, length, generator=g) if events else None,
        event_selection=torch.rand(ck, length, generator=g) if events else None,
    )


def test_fifo_keeps_the_permanent_frame():
    bucket = MemoryBucket([0, 1])
    first = _tokens(4, 0)
    bucket.add_frame(first, permanent=True)
    frames = [_tokens(4, s) for s in range(1, 7)]
    for f in frames:
        bucket.add_frame(f, permanent=False)
        bucket.trim_fifo(3)
        assert bucket.num_frames <= 3
    assert bucket.permanent == [first]
    assert bucket.working == frames[-2:]


def test_consolidation_picks_used_tokens_and_potentiates():
    bucket = MemoryBucket([0, 1])
    bucket.add_frame(_tokens(4, 0), permanent=True)
    work = [_tokens(5, s) for s in (1, 2, 3)]
    for w in work:
        bucket.add_frame(w, permanent=False)
    assert bucket.consolidate(max_mem_frames=4, min_mem_frames=2, num_prototypes=3, max_num_tokens=100, buffer_tokens=10)
    assert bucket.working == [work[2]]  # the newest min_mem_frames - 1 frames stay
    cand = TokenSet.cat(work[:2])
    score = cand.usage / cand.life
    best = sorted(range(10), key=lambda i: -float(score[i]))[:3]
    lt = bucket.long_term
    assert lt is not None and lt.size == 3
    for j, i in enumerate(best):
        torch.testing.assert_close(lt.key[:, j], cand.key[:, i])
        # potentiated value: softmax over candidates of -sum_c e_c (k_l - k_i)^2 * s_l / sqrt(Ck)
        w = [-(cand.selection[:, i] * (cand.key[:, l] - cand.key[:, i]) ** 2).sum() * cand.shrinkage[0, l] / math.sqrt(3) for l in range(10)]
        a = torch.softmax(torch.stack(w), dim=0)
        torch.testing.assert_close(lt.value[:, :, j], (cand.value * a).sum(-1), rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(lt.shrinkage[0, j], (cand.shrinkage[0] * a).sum(), rtol=1e-5, atol=1e-6)
    # too small to consolidate again
    assert not bucket.consolidate(max_mem_frames=4, min_mem_frames=2, num_prototypes=3, max_num_tokens=100, buffer_tokens=10)


def test_long_term_pruning_happens_before_the_prototypes_are_added_as_cutie():
    # Cutie: once the store holds max - prototypes tokens, it is cut to its max - prototypes -
    # buffer most-used tokens BEFORE the new prototypes join (so they are never pruned at birth).
    bucket = MemoryBucket([0])
    old = _tokens(8, 5, n=1)
    bucket.long_term = old
    frames = [_tokens(4, s, n=1) for s in (6, 7, 8)]
    for f in frames:
        bucket.add_frame(f, permanent=False)
    candidates = TokenSet.cat(frames[:2])  # consolidated: all but the newest min_mem_frames - 1
    proto_idx = torch.topk(candidates.usage_score(), k=4).indices
    # 8 >= 10 - 4, so the store is cut to 10 - 4 - 3 = 3 tokens, then the 4 prototypes are appended
    keep = sorted(torch.topk(old.usage_score(), k=3).indices.tolist())
    bucket.consolidate(max_mem_frames=3, min_mem_frames=2, num_prototypes=4, max_num_tokens=10, buffer_tokens=3)
    lt = bucket.long_term
    assert lt.size == 3 + 4
    torch.testing.assert_close(lt.key[:, :3], old.key[:, keep])
    torch.testing.assert_close(lt.key[:, 3:], candidates.key[:, proto_idx])
    # a store below max - prototypes is not pruned
    small = MemoryBucket([0])
    small.long_term = _tokens(5, 9, n=1)
    for f in [_tokens(4, s, n=1) for s in (1, 2, 3)]:
        small.add_frame(f, permanent=False)
    small.consolidate(max_mem_frames=3, min_mem_frames=2, num_prototypes=4, max_num_tokens=10, buffer_tokens=3)
    assert small.long_term.size == 5 + 4


def test_read_counts_usage_per_piece():
    bucket = MemoryBucket([0, 1])
    bucket.add_frame(_tokens(4, 0), permanent=True)
    bucket.add_frame(_tokens(4, 1), permanent=False)
    before = [p.usage.clone() for p in bucket.permanent + bucket.working]
    q = torch.randn(3, 6)
    e = torch.rand(3, 6)
    out = bucket.read_all(q, e, q, e, top_k=None, count_usage=True)
    img, evt = out.image, out.event
    assert img.shape == (2, 4, 6) and evt.shape == (2, 4, 6)
    gained = sum(float((p.usage - b).sum()) for p, b in zip(bucket.permanent + bucket.working, before))
    assert gained == pytest.approx(12.0, abs=1e-4)  # 6 pixels x (image + event) affinity mass of 1
    assert float(bucket.working[0].life[0]) == 3.0


def test_object_manager():
    om = ObjectManager()
    assert om.add([7, 3]) == [7, 3]
    assert om.add([3, 12]) == [12]
    assert om.object_ids == [7, 3, 12] and om.index_of(12) == 2 and 3 in om
    prob = torch.zeros(4, 1, 3)
    prob[0, 0, 0] = prob[2, 0, 1] = prob[3, 0, 2] = 1
    assert om.prob_to_mask(prob).tolist() == [[0, 3, 12]]
    for bad in ([0], [5, 5]):
        with pytest.raises(ValueError):
            om.add(bad)


def test_pad_and_unpad_round_trip():
    x = torch.arange(50 * 70, dtype=torch.float32).view(1, 50, 70)
    padded, pads = pad_to_multiple(x, 16)
    assert padded.shape == (1, 64, 80) and pads == (5, 5, 7, 7)
    assert torch.equal(unpad(padded, pads), x)
    same, pads = pad_to_multiple(torch.zeros(2, 32, 48))
    assert same.shape == (2, 32, 48) and pads == (0, 0, 0, 0)


def test_inference_config_from_dict():
    from evolve.inference import InferenceConfig, inference_config_from_dict
    from evolve.utils.errors import InputError

    cfg = inference_config_from_dict({"mem_every": 3, "long_term": {"num_prototypes": 64}, "top_k": None})
    assert cfg == InferenceConfig(mem_every=3, top_k=None, long_term=cfg.long_term) and cfg.long_term.num_prototypes == 64
    with pytest.raises(InputError, match="mem_evry"):
        inference_config_from_dict({"mem_evry": 3})


def test_topk_gather_readout_equals_the_dense_top_k_product():
    from evolve.model.memory_ops import readout, softmax_affinity, topk_readout

    g = torch.Generator().manual_seed(3)
    sim = torch.randn(2, 40, 23, generator=g, dtype=torch.float64).float()
    values = torch.randn(2, 6, 40, generator=g)
    out, usage = topk_readout(sim, values, 5)
    dense = softmax_affinity(sim, 5)
    torch.testing.assert_close(out, readout(dense, values), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(usage, dense.sum(dim=2), rtol=1e-5, atol=1e-6)
    # by hand for one query pixel: the 5 largest similarities, softmax-weighted
    top = torch.topk(sim[1, :, 7], 5)
    w = torch.softmax(top.values, 0)
    torch.testing.assert_close(out[1, :, 7], (values[1][:, top.indices] * w).sum(1), rtol=1e-5, atol=1e-6)
    # k >= L is the full softmax
    full, _ = topk_readout(sim, values, 99)
    torch.testing.assert_close(full, readout(torch.softmax(sim, 1), values), rtol=1e-5, atol=1e-6)


def test_bucket_reads_the_same_with_gather_or_dense_and_concatenates_once_per_write(monkeypatch):
    bucket = MemoryBucket([0, 1])
    bucket.add_frame(_tokens(6, 0), permanent=True)
    bucket.add_frame(_tokens(6, 1), permanent=False)
    q, e = torch.randn(3, 9), torch.rand(3, 9)
    out = bucket.read_all(q, e, q, e, top_k=4, count_usage=False, gather=True)
    img_g, evt_g = out.image, out.event
    out = bucket.read_all(q, e, q, e, top_k=4, count_usage=False, gather=False)
    img_d, evt_d = out.image, out.event
    torch.testing.assert_close(img_g, img_d, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(evt_g, evt_d, rtol=1e-5, atol=1e-6)
    calls = []
    real_cat = TokenSet.cat
    monkeypatch.setattr(TokenSet, "cat", staticmethod(lambda sets: calls.append(len(sets)) or real_cat(sets)))
    for _ in range(3):
        bucket.read_all(q, e, q, e, top_k=4, count_usage=True)
    assert calls == []  # cached since the last write
    bucket.add_frame(_tokens(6, 2), permanent=False)
    out = bucket.read_all(q, e, q, e, top_k=None, count_usage=False)
    a, _ = out.image, out.event
    assert calls == [3]  # rebuilt once after the write, with the new frame
    assert a.shape == (2, 4, 9)
    bucket.trim_fifo(2)
    bucket.read_all(q, e, q, e, top_k=None, count_usage=False)
    assert calls == [3, 2]
