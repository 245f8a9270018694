"""The pure-PyTorch reference: analytic cases, conv2d equivalence, float64 gradcheck and
agreement with torchvision.ops.deform_conv2d (CPU) for outputs and all gradients."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from evolve.ops import deform_conv2d_reference
from tests.ops.helpers import Case, compare, make_inputs, run

torchvision_ops = pytest.importorskip("torchvision.ops")

GRADCHECK_CASES = {  # small: full (not fast-mode) gradcheck perturbs every input element
    "plain": Case(n=1, c=2, h=4, w=4, cout=2),
    "mask": Case(n=1, c=2, h=4, w=3, cout=2, mask=True),
    "groups_offset_groups": Case(n=1, c=4, h=3, w=3, cout=4, groups=2, offset_groups=2, mask=True),
    "stride2_pad": Case(n=1, c=2, h=6, w=5, cout=2, stride=2, padding=(2, 1)),
    "dilation2": Case(n=1, c=2, h=5, w=4, cout=2, dilation=2, padding=(2, 1), offset_groups=2, mask=True),
    "rect_kernel_nobias": Case(n=1, c=2, h=5, w=6, cout=2, kh=2, kw=3, padding=0, bias=False,
                                stride=(1, 2), dilation=(2, 1)),
}


@pytest.mark.parametrize("name", sorted(GRADCHECK_CASES))
def test_reference_gradcheck_float64(name):
    case = GRADCHECK_CASES[name]
    inputs = make_inputs(case, torch.float64, seed=3)
    stride, padding, dilation = case.pairs()
    names = [k for k in ("input", "offset", "weight", "bias", "mask") if inputs[k] is not None]

    def fn(*args):
        d = dict(zip(names, args))
        return deform_conv2d_reference(d["input"], d["offset"], d["weight"], d.get("bias"), stride, padding,
                                       dilation, d.get("mask"))

    assert torch.autograd.gradcheck(fn, tuple(inputs[k] for k in names), eps=1e-6, atol=1e-6, rtol=1e-5)


TV_CASES = {
    "plain": Case(n=2, c=4, h=7, w=6, cout=5),
    "groups": Case(n=2, c=6, h=8, w=7, cout=4, groups=2, offset_groups=3, stride=2, padding=1),
    "dilation": Case(n=1, c=4, h=9, w=8, cout=3, dilation=(2, 1), padding=(2, 1), offset_groups=2),
    "big_offsets": Case(n=2, c=3, h=6, w=6, cout=2, offset_scale=6.0),  # many samples outside
    "kernel_1x1": Case(n=2, c=4, h=5, w=5, cout=3, kh=1, kw=1, padding=0),
}


@pytest.mark.parametrize("name", sorted(TV_CASES))
@pytest.mark.parametrize("mask", [False, True], ids=["dcnv1", "dcnv2"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
def test_reference_matches_torchvision(name, mask, dtype):
    case = TV_CASES[name].with_(mask=mask)
    ours = run(deform_conv2d_reference, case, make_inputs(case, dtype, seed=5))
    theirs = run(torchvision_ops.deform_conv2d, case, make_inputs(case, dtype, seed=5))
    compare(ours, theirs, 1e-12 if dtype == torch.float64 else 2e-5)


@pytest.mark.parametrize("groups,stride,padding,dilation", [(1, 1, 1, 1), (2, 2, (1, 0), 1), (4, 1, 2, 2)])
def test_zero_offsets_equal_conv2d(groups, stride, padding, dilation):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 8, 9, 7, generator=g, dtype=torch.float64)
    w = torch.randn(8, 8 // groups, 3, 3, generator=g, dtype=torch.float64)
    b = torch.randn(8, generator=g, dtype=torch.float64)
    want = F.conv2d(x, w, b, stride=stride, padding=padding, dilation=dilation, groups=groups)
    offset = torch.zeros(2, 18, *want.shape[2:], dtype=torch.float64)
    got = deform_conv2d_reference(x, offset, w, b, stride, padding, dilation)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    # a mask of ones is the identity modulation
    ones = torch.ones(2, 9, *want.shape[2:], dtype=torch.float64)
    torch.testing.assert_close(deform_conv2d_reference(x, offset, w, b, stride, padding, dilation, ones), want,
                               rtol=1e-12, atol=1e-12)


def test_integer_offsets_shift_the_input():
    # 1x1 kernel, offset (dy, dx) = (1, -2) everywhere: out[y, x] = in[y + 1, x - 2], 0 outside
    x = torch.arange(1.0, 1.0 + 3 * 4 * 5, dtype=torch.float64).view(1, 3, 4, 5)
    w = torch.eye(3, dtype=torch.float64).view(3, 3, 1, 1)
    offset = torch.empty(1, 2, 4, 5, dtype=torch.float64)
    offset[:, 0], offset[:, 1] = 1.0, -2.0
    got = deform_conv2d_reference(x, offset, w)
    want = torch.zeros_like(x)
    want[:, :, :3, 2:] = x[:, :, 1:, :3]
    torch.testing.assert_close(got, want, rtol=0, atol=0)


def test_bilinear_weights_and_zero_outside():
    # image [[1, 2], [3, 4]], 1x1 kernel at output pixel (0, 0)
    x = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]], dtype=torch.float64)
    w = torch.ones(1, 1, 1, 1, dtype=torch.float64)

    def sample(dy, dx):
        offset = torch.zeros(1, 2, 2, 2, dtype=torch.float64)
        offset[0, 0, 0, 0], offset[0, 1, 0, 0] = dy, dx
        return deform_conv2d_reference(x, offset, w)[0, 0, 0, 0].item()

    assert sample(0.5, 0.5) == pytest.approx(2.5)  # centre of the 4 pixels
    assert sample(0.25, 0.0) == pytest.approx(0.75 * 1 + 0.25 * 3)
    assert sample(-0.5, -0.5) == pytest.approx(0.25 * 1)  # three corners outside weigh 0
    assert sample(1.5, 0.0) == pytest.approx(0.5 * 3)  # row 2 is outside
    assert sample(-1.0, 0.0) == 0.0  # y <= -1: outside
    assert sample(0.0, 2.0) == 0.0  # x >= W: outside
    assert sample(float("nan"), 0.0) == 0.0


def test_mask_modulates_each_tap():
    case = Case(n=1, c=3, h=6, w=6, cout=2, bias=False, mask=True)
    inp = make_inputs(case, torch.float64, seed=2)
    stride, padding, dilation = case.pairs()
    x, off, w, m = (inp[k].detach() for k in ("input", "offset", "weight", "mask"))
    full = deform_conv2d_reference(x, off, w, None, stride, padding, dilation, torch.ones_like(m))
    half = deform_conv2d_reference(x, off, w, None, stride, padding, dilation, torch.full_like(m, 0.5))
    torch.testing.assert_close(half, 0.5 * full, rtol=1e-12, atol=1e-12)
    # zeroing the mask of every tap but the centre equals a deformable 1x1 conv with the centre offset
    only_centre = torch.zeros_like(m)
    only_centre[:, 4] = m[:, 4]
    got = deform_conv2d_reference(x, off, w, None, stride, padding, dilation, only_centre)
    want = deform_conv2d_reference(x, off[:, 8:10], w[:, :, 1:2, 1:2], None, 1, 0, 1, m[:, 4:5])
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


def test_chunked_reference_equals_unchunked():
    case = Case(n=5, c=4, h=6, w=5, cout=3, mask=True)
    a = run(deform_conv2d_reference, case, make_inputs(case, torch.float64, seed=8))

    def chunked(*args):
        return deform_conv2d_reference(*args, chunk_bytes=1)  # one sample per chunk

    b = run(chunked, case, make_inputs(case, torch.float64, seed=8))
    compare(b, a, 1e-14)


def test_reduced_precision_computes_in_float32():
    case = Case(n=1, c=4, h=5, w=5, cout=2)
    inp = make_inputs(case, torch.float64, seed=4)
    stride, padding, dilation = case.pairs()
    bf = {k: None if v is None else v.detach().to(torch.bfloat16) for k, v in inp.items()}
    got = deform_conv2d_reference(bf["input"], bf["offset"], bf["weight"], bf["bias"], stride, padding, dilation)
    assert got.dtype == torch.bfloat16
    want = deform_conv2d_reference(*(None if bf[k] is None else bf[k].double()
                                     for k in ("input", "offset", "weight", "bias")), stride, padding, dilation)
    torch.testing.assert_close(got.double(), want, rtol=1e-2, atol=1e-2)
