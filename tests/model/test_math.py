"""Formulas of the network against independent transcriptions (loops, analytic values)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from evolve.model.evolve.encoders import EDFT
from evolve.model.layers import aggregate_probabilities, gru_update, sine_positional_encoding
from evolve.model.memory_ops import anisotropic_l2_similarity, readout, softmax_affinity
from evolve.model.evolve.summarizer import ObjectSummarizer
from evolve.model.evolve.transformer import refinement_weights


def test_anisotropic_l2_matches_loop():
    g = torch.Generator().manual_seed(0)
    ck, length, m = 6, 7, 5
    mk = torch.randn(2, ck, length, generator=g)
    ms = 1 + torch.rand(2, 1, length, generator=g)
    qk = torch.randn(2, ck, m, generator=g)
    qe = torch.rand(2, ck, m, generator=g)
    sim = anisotropic_l2_similarity(mk, ms, qk, qe)
    for b in range(2):
        for i in range(length):
            for j in range(m):
                # -sum_c e_c (k_c - q_c)^2 * s / sqrt(Ck)  (XMem Eq. 3)
                d = sum(float(qe[b, c, j]) * (float(mk[b, c, i]) - float(qk[b, c, j])) ** 2 for c in range(ck))
                assert sim[b, i, j].item() == pytest.approx(-d * float(ms[b, 0, i]) / math.sqrt(ck), rel=1e-5, abs=1e-5)
    plain = anisotropic_l2_similarity(mk, None, qk, None)
    torch.testing.assert_close(plain, -torch.cdist(mk.transpose(1, 2), qk.transpose(1, 2)) ** 2 / math.sqrt(ck), rtol=1e-4, atol=1e-4)


def test_top_k_softmax():
    g = torch.Generator().manual_seed(1)
    sim = torch.randn(1, 10, 4, generator=g)
    full = torch.softmax(sim, dim=1)
    torch.testing.assert_close(softmax_affinity(sim, None), full)
    torch.testing.assert_close(softmax_affinity(sim, 10), full)
    torch.testing.assert_close(softmax_affinity(sim, 50), full)
    top3 = softmax_affinity(sim, 3)
    for j in range(4):
        col = sim[0, :, j]
        best = sorted(range(10), key=lambda i: -float(col[i]))[:3]
        denom = sum(math.exp(float(col[i])) for i in best)
        for i in range(10):
            want = math.exp(float(col[i])) / denom if i in best else 0.0
            assert top3[0, i, j].item() == pytest.approx(want, abs=1e-6)
    values = torch.randn(1, 2, 10, generator=g)
    torch.testing.assert_close(readout(top3, values), torch.einsum("bcl,blm->bcm", values, top3))


def test_soft_aggregation():
    p = torch.tensor([[0.9, 0.2], [0.5, 0.5], [0.0, 1.0]]).T.unsqueeze(0)  # (1, N=2, 3 pixels)
    logits = aggregate_probabilities(p, dim=1)  # (1, 3, 3)
    prob = torch.softmax(logits, dim=1)
    for j in range(3):
        ps = [float(p[0, 0, j]), float(p[0, 1, j])]
        bg = (1 - ps[0]) * (1 - ps[1])
        odds = [min(max(x, 1e-7), 1 - 1e-7) for x in [bg] + ps]
        odds = [x / (1 - x) for x in odds]
        for c in range(3):
            assert prob[0, c, j].item() == pytest.approx(odds[c] / sum(odds), rel=1e-5)


def test_gru_update_formula():
    h = torch.tensor([0.5, -1.0]).view(1, 1, 2, 1, 1)
    gates = torch.tensor([0.0, 2.0, 1.0, -1.0, 0.3, 0.7]).view(1, 1, 6, 1, 1)
    new = gru_update(gates, h).flatten().tolist()
    sig = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731
    for c, (f, u, n) in enumerate([(0.0, 1.0, 0.3), (2.0, -1.0, 0.7)]):
        want = sig(f) * float(h.flatten()[c]) * (1 - sig(u)) + sig(u) * math.tanh(n)
        assert new[c] == pytest.approx(want, rel=1e-6)


def test_sine_positional_encoding_values():
    pe = sine_positional_encoding(3, 5, 8, scale=32.0, temperature=128.0, device=torch.device("cpu"))
    assert pe.shape == (3, 5, 8)
    # half = 4 channels per axis, frequencies 1 and 128^(-2/4); x (column) first, then y (Cutie's order)
    f1 = 128.0 ** (-0.5)
    y, x = 32.0, 32.0 * 2 / 4  # last row; column 2 of 5
    want = [math.sin(x), math.cos(x), math.sin(x * f1), math.cos(x * f1), math.sin(y), math.cos(y), math.sin(y * f1), math.cos(y * f1)]
    assert pe[2, 2].tolist() == pytest.approx(want, abs=1e-4)
    # moving along a row changes only the first half (x), along a column only the second (y)
    assert torch.equal(pe[0, 3, 4:], pe[0, 0, 4:]) and not torch.equal(pe[0, 3, :4], pe[0, 0, :4])
    assert torch.equal(pe[2, 0, :4], pe[0, 0, :4]) and not torch.equal(pe[2, 0, 4:], pe[0, 0, 4:])
    assert pe[0, 0].tolist() == pytest.approx([0, 1, 0, 1, 0, 1, 0, 1], abs=1e-6)


def test_edft_starts_as_a_plain_convolution_and_clamps_offsets():
    torch.manual_seed(0)
    edft = EDFT(source_dim=16, mid_dim=8, value_dim=8, modulated=False)
    src = torch.randn(2, 16, 6, 10)
    offset, modulation = edft.offsets(src)
    offset = offset.detach()
    assert offset.shape == (2, 18, 6, 10) and modulation is None
    assert float(offset.abs().max()) == 0.0  # zero-initialised offset convolution
    x = torch.randn(2, 8, 6, 10)
    torch.testing.assert_close(edft.feature_deform(x, offset), F.conv2d(x, edft.feature_deform.weight, padding=1), rtol=1e-5, atol=1e-5)
    with torch.no_grad():
        edft.offset_conv.bias.fill_(100.0)
    offset, _ = edft.offsets(src)
    offset = offset.detach()
    assert float(offset.max()) == pytest.approx(10 / 4)  # +-max(h, w)/4 in stride-16 pixels
    # per-object values use their frame's offsets: with one object equal to x, same result
    v = edft.deform_values(x.unsqueeze(1).expand(-1, 3, -1, -1, -1), offset, None)
    torch.testing.assert_close(v[:, 1], edft.value_deform(x, offset))


def test_modulated_edft_halves_at_init():
    torch.manual_seed(0)
    edft = EDFT(source_dim=16, mid_dim=8, value_dim=8, modulated=True)
    assert edft.offset_conv.out_channels == 27
    with torch.no_grad():
        offset, modulation = edft.offsets(torch.randn(1, 16, 5, 5))
    assert modulation is not None and modulation.shape == (1, 9, 5, 5)
    torch.testing.assert_close(modulation, torch.full_like(modulation, 0.5))  # sigmoid(0)
    x = torch.randn(1, 8, 5, 5)
    torch.testing.assert_close(edft.feature_deform(x, offset, modulation), 0.5 * F.conv2d(x, edft.feature_deform.weight, padding=1), rtol=1e-5, atol=1e-5)


def test_refinement_weights_hand_example():
    pixel = torch.tensor([1.0, 1.0, 0.0, 0.0]).view(1, 4, 1)
    tokens = torch.tensor([1.0, -1.0, 0.6]).view(1, 3, 1)
    aux = torch.tensor([[0.9, 0.2, 0.9, 0.1]])
    # token masks [1,1,0,0], [0,0,0,0], [1,1,0,0] vs aux mask [1,0,1,0]: IoU 1/3, 0, 1/3
    w = refinement_weights(pixel, tokens, aux, top_k=2, alpha=1.5, beta=0.8, threshold=0.5)
    assert w[0].tolist() == pytest.approx([0.8 + 1.5 / 3, 0.8, 0.8 + 1.5 / 3])
    w1 = refinement_weights(pixel, tokens, aux, top_k=1, alpha=1.5, beta=0.8, threshold=0.5)
    assert sorted(w1[0].tolist()) == pytest.approx([0.8, 0.8, 0.8 + 1.5 / 3])


@pytest.mark.parametrize("fg_only", [True, False])
@torch.no_grad()
def test_object_summaries_match_loop(fg_only):
    torch.manual_seed(0)
    q, c = 4, 8
    summ = ObjectSummarizer(value_dim=c, embed_dim=c, num_summaries=q, add_pe=False, fg_only=fg_only, pe_scale=32, pe_temperature=128)
    value = torch.randn(1, 2, c, 2, 3)
    masks = torch.rand(1, 2, 4, 6)  # area-resized by 2 inside
    out = summ(masks, value)
    assert out.shape == (1, 2, q, c + 1)
    m = F.avg_pool2d(masks, 2)  # area resize by exactly 2
    for n in range(2):
        for qi in range(q):
            sums = torch.zeros(c)
            area = 0.0
            for i in range(2):
                for j in range(3):
                    v = summ.input_proj(value[0, n, :, i, j])
                    wgt = torch.sigmoid(summ.weights_pred(v)[qi])
                    mk = m[0, n, i, j] if (fg_only or qi < q // 2) else 1 - m[0, n, i, j]
                    sums += wgt * mk * summ.feature_pred(v)
                    area += float(wgt * mk)
            torch.testing.assert_close(out[0, n, qi, :c], sums, rtol=1e-4, atol=1e-5)
            assert float(out[0, n, qi, c]) == pytest.approx(area, rel=1e-5)
