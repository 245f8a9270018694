"""EVOLVE as the authors' code computes it (issue 11, point 1): each difference from our earlier
form, with hand-computed expectations on tiny tensors with known weights, or against an
independent re-implementation (plain matrix products) using the module's own weights.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from evolve.model.evolve import EVOLVE, load_model_config
from evolve.model.evolve.summarizer import RefinementSummarizer
from evolve.model.evolve.transformer import DMOTBlock, DualMemoryObjectTransformer
from evolve.model.layers import CrossAttention, SensoryDeepUpdater, SensoryUpdater, sine_positional_encoding

torch.set_grad_enabled(False)


def layer_norm(x, ln: nn.LayerNorm):
    mean = x.mean(-1, keepdim=True)
    var = x.var(-1, unbiased=False, keepdim=True)
    return (x - mean) / torch.sqrt(var + ln.eps) * ln.weight + ln.bias


def mha(q, k, v, attn: nn.MultiheadAttention):
    """nn.MultiheadAttention re-done with matrix products: (M, L, d) inputs, batch_first."""
    d = q.shape[-1]
    h = attn.num_heads
    w, b = attn.in_proj_weight, attn.in_proj_bias
    qp, kp, vp = q @ w[:d].T + b[:d], k @ w[d:2 * d].T + b[d:2 * d], v @ w[2 * d:].T + b[2 * d:]

    def heads(x):
        return x.view(x.shape[0], x.shape[1], h, d // h).transpose(1, 2)  # (M, h, L, d/h)

    a = torch.softmax(heads(qp) @ heads(kp).transpose(-1, -2) / math.sqrt(d // h), dim=-1)
    o = (a @ heads(vp)).transpose(1, 2).reshape(q.shape[0], q.shape[1], d)
    return o @ attn.out_proj.weight.T + attn.out_proj.bias


def ffn(x, f):
    return x + f.linear2(torch.relu(f.linear1(layer_norm(x, f.norm))))


def _randomise(module: nn.Module, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    for p in module.parameters():
        p.copy_(torch.randn(p.shape, generator=g) * 0.5)


def test_joint_attention_residuals_by_hand_with_zeroed_attention():
    # MHA and FFN weights zero, biases b_o and b_2: the attention adds b_o to every token, the FFN b_2.
    x = torch.tensor([[[1.0, 3.0], [2.0, 6.0]]])  # (1, 2 tokens, dim 2)
    pe = torch.zeros_like(x)
    ln_x = torch.tensor([[[-1.0, 1.0], [-1.0, 1.0]]]) / math.sqrt(1 + 1e-5 / 1.0)  # LayerNorm of [1,3] and [2,6]
    ln_x[0, 1] = torch.tensor([-1.0, 1.0]) / math.sqrt(1 + 1e-5 / 4.0) # var of [2, 6] is 4
    b_o, b_2 = torch.tensor([0.5, -0.25]), torch.tensor([0.125, 0.0])
    for form in ("authors", "prenorm"):
        block = DMOTBlock(2, 1, 4, events=False, joint_attention=form)
        for p in block.pixel_self_attn.attn.parameters():
            p.zero_()
        block.pixel_self_attn.attn.out_proj.bias.copy_(b_o)
        block.pixel_self_ffn.linear2.weight.zero_()
        block.pixel_self_ffn.linear2.bias.copy_(b_2)
        if form == "authors":
            joint = block.pixel_self_ffn(block.pixel_self_attn(x, x, pe, pe)) + x
            want = ln_x + b_o + b_2 + x  # LN(x) + MHA (= b_o), + FFN (= b_2), + the block input again
        else:
            joint = block.pixel_self_ffn(block.pixel_self_attn(x, None, pe))
            want = x + b_o + b_2  # x + MHA, + FFN, no outer residual
        torch.testing.assert_close(joint, want, rtol=0, atol=1e-6)


@pytest.mark.parametrize("form, read_norm", [("authors", False), ("prenorm", True)])
def test_dmot_block_equals_the_formula_with_its_weights(form, read_norm):
    torch.manual_seed(0)
    dim, heads, p, q = 8, 2, 6, 3
    block = DMOTBlock(dim, heads, 16, events=True, joint_attention=form, query_read_norm=read_norm).eval()
    _randomise(block, 1)
    pix, evt, ppe, epe = (torch.randn(1, p, dim) for _ in range(4))
    qry, qpe, eq, eqpe = (torch.randn(1, q, dim) for _ in range(4))
    got_p, got_e = block((2, 3), pix, ppe, qry, qpe, evt, epe, eq, eqpe)

    x = torch.cat([pix, evt], -1)
    xpe = torch.cat([ppe, epe], -1)
    sa = block.pixel_self_attn
    if form == "authors":
        y = layer_norm(x, sa.norm) + mha(layer_norm(x, sa.norm) + xpe, x + xpe, x, sa.attn)
        y = ffn(y, block.pixel_self_ffn) + x
    else:
        n = layer_norm(x, sa.norm)
        y = ffn(x + mha(n + xpe, n + xpe, n, sa.attn), block.pixel_self_ffn)
    p1, e1 = y[..., :dim], y[..., dim:]

    def read(stream, pe, query, query_pe, layer):
        s = layer_norm(stream, layer.norm) if read_norm else stream
        return stream + mha(s + pe, query + query_pe, query, layer.attn)

    p2 = read(p1, ppe, qry, qpe, block.read_from_query)
    e2 = read(e1, epe, eq, eqpe, block.event_read_from_query)
    to_map = lambda t: t.transpose(1, 2).reshape(1, dim, 2, 3)  # noqa: E731
    want_p = block.pixel_ffn(to_map(p2)).flatten(2).transpose(1, 2)
    want_e = block.event_pixel_ffn(to_map(e2)).flatten(2).transpose(1, 2)
    torch.testing.assert_close(got_p, want_p, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(got_e, want_e, rtol=1e-5, atol=1e-5)
    # the authors' query reads have no LayerNorm at all (output_norm: False)
    assert isinstance(block.read_from_query.norm, nn.Identity) != read_norm


def test_refinement_summariser_adds_the_pe_and_uses_linear_linear_heads():
    torch.manual_seed(0)
    dim, tokens, h, w = 8, 4, 2, 3
    s = RefinementSummarizer(dim, tokens, add_pe=True, heads="linear")
    assert [type(m) for m in s.feature_pred] == [nn.Linear, nn.Linear]  # no ReLU (authors' ObjectSummarizer2)
    assert [type(m) for m in s.weights_pred] == [nn.Linear, nn.Linear]
    pixel = torch.randn(1, 1, dim, h, w)
    masks = torch.rand(1, 1, h, w)
    got = s(masks, pixel)  # (1, 1, Q, C)
    v = pixel[0, 0].flatten(1).T @ s.input_proj.weight.T + s.input_proj.bias  # (P, C)
    v = v + sine_positional_encoding(h, w, dim, 32.0, 128.0, torch.device("cpu")).flatten(0, 1)
    f1, f2 = s.feature_pred
    w1, w2 = s.weights_pred
    feats = (v @ f1.weight.T + f1.bias) @ f2.weight.T + f2.bias  # (P, C)
    logits = (v @ w1.weight.T + w1.bias) @ w2.weight.T + w2.bias  # (P, Q)
    weights = torch.sigmoid(logits) * masks.flatten()[:, None]
    want = (weights.T @ feats) / (weights.sum(0)[:, None] + 1e-4)
    torch.testing.assert_close(got[0, 0], want, rtol=1e-5, atol=1e-6)
    # without the PE the tokens differ: the PE is really added
    assert not torch.allclose(RefinementSummarizer(dim, tokens, add_pe=False, heads="linear").eval()(masks, pixel), got)


def test_no_event_pixel_init_projection_by_default():
    cfg = load_model_config("small")
    assert not cfg.event_pixel_init_proj
    dmot = DualMemoryObjectTransformer(cfg)
    assert not hasattr(dmot, "event_pixel_init_proj") and hasattr(dmot, "pixel_init_proj")
    seen = {}
    dmot.blocks[0].register_forward_hook(lambda m, args, out: seen.update(event_in=args[5].clone()))
    b, n, c, h, w = 1, 1, 256, 2, 3
    pixel, event = torch.randn(b, n, c, h, w), torch.randn(b, n, c, h, w)
    mem = torch.rand(b, n, 1, 16, c + 1)
    dmot(pixel, mem, event, mem)
    torch.testing.assert_close(seen["event_in"], event.flatten(0, 1).flatten(2).transpose(1, 2))  # the readout itself
    assert hasattr(DualMemoryObjectTransformer(load_model_config("small", ["event_pixel_init_proj=true"])), "event_pixel_init_proj")


def test_sensory_gru_convolutions_are_xavier_normal():
    torch.manual_seed(0)
    for layer, fan_in_ch, out_ch in ((SensoryUpdater([256, 128, 129], 256, 256), 256 + 256, 768), (SensoryDeepUpdater(256, 256), 512, 768)):
        wgt = layer.transform.weight
        fan_in, fan_out = fan_in_ch * 9, out_ch * 9
        want = math.sqrt(2.0 / (fan_in + fan_out))  # Xavier-normal standard deviation
        assert float(wgt.std()) == pytest.approx(want, rel=0.02)
        assert float(wgt.mean()) == pytest.approx(0.0, abs=0.05 * want)


def test_edft_runs_in_the_autocast_dtype(monkeypatch):
    import evolve.model.evolve.encoders as enc

    seen = []
    real = enc.deform_conv2d
    monkeypatch.setattr(enc, "deform_conv2d", lambda x, off, w, *a, **k: seen.append((x.dtype, off.dtype, w.dtype)) or real(x, off, w, *a, **k))
    for policy, want in (("autocast", torch.bfloat16), ("float32", torch.float32)):
        torch.manual_seed(0)
        net = EVOLVE(load_model_config("small", [f"edft_precision={policy}"])).eval()
        seen.clear()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            frame = net.encode_frame(torch.rand(1, 3, 32, 32), torch.randn(1, 5, 32, 32))
        assert seen and all(d == (want, want, want) for d in seen), (policy, seen)
        assert frame.key.dtype == torch.float32 and frame.shrinkage.dtype == torch.float32  # the affinity stays fp32
    seen.clear()
    net.encode_frame(torch.rand(1, 3, 32, 32), torch.randn(1, 5, 32, 32))  # no autocast: float32
    assert seen and all(d == (torch.float32,) * 3 for d in seen)


def test_tf32_is_enabled_on_ampere_only(monkeypatch):
    from evolve.utils.devices import configure_tf32

    assert configure_tf32(torch.device("cpu"), True) is False
    before = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    try:
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda d=None: (8, 0))
        assert configure_tf32(torch.device("cuda", 0), True) is True
        assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda d=None: (7, 0))
        assert configure_tf32(torch.device("cuda", 0), True) is False
        assert not torch.backends.cuda.matmul.allow_tf32
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda d=None: (9, 0))
        assert configure_tf32(torch.device("cuda", 0), False) is False
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before
