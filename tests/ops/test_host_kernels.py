"""The CUDA kernels' per-element code, compiled for the host, against the pure-PyTorch reference.

``deform_host.cpp`` runs the same ``__host__ __device__`` functions the CUDA kernels call
(csrc/deform_common.h) and the same ATen driver (csrc/deform_driver.h: layouts, chunking, GEMMs),
replaying the launch thread by thread with the kernels' own thread -> (item, lane) mapping and
summing each team's partials where the kernel uses warp shuffles. Matching the reference here
checks the kernels' index math, bilinear weights, scatter and coordinate-gradient formulas on a
machine without a GPU. Only the warp shuffles, atomics and the launch itself are left to the GPU
tests (test_cuda_kernels.py).
"""

from __future__ import annotations

import pytest
import torch

from evolve.ops import deform_conv2d_reference
from evolve.ops.function import KernelOptions, deform_conv2d_extension
from tests.ops.helpers import Case, compare, detached_copy, make_inputs, run


def host_fn(ext, options: KernelOptions = KernelOptions()):
    def fn(input, offset, weight, bias, stride, padding, dilation, mask):
        return deform_conv2d_extension(ext, input, offset, weight, bias, stride, padding, dilation, mask, options)

    return fn


CASES = {
    "plain": Case(n=2, c=8, h=7, w=6, cout=5),
    "mask": Case(n=2, c=8, h=6, w=7, cout=4, mask=True),
    "groups": Case(n=2, c=16, h=6, w=6, cout=6, groups=2, offset_groups=4, mask=True),
    "offset_groups_unaligned": Case(n=1, c=6, h=6, w=5, cout=3, offset_groups=3, groups=3),
    "stride2": Case(n=2, c=8, h=9, w=8, cout=4, stride=2, padding=(1, 2), mask=True),
    "dilation2": Case(n=1, c=8, h=9, w=9, cout=4, dilation=(2, 3), padding=(2, 3), offset_groups=2),
    "rect_kernel": Case(n=2, c=4, h=6, w=7, cout=3, kh=2, kw=3, padding=0, bias=False),
    "big_offsets": Case(n=2, c=8, h=5, w=5, cout=3, offset_scale=5.0, mask=True),
}


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
def test_host_kernels_match_reference(host_ext, name, dtype):
    case = CASES[name]
    inputs = make_inputs(case, dtype, seed=11)
    got = run(host_fn(host_ext), case, inputs)
    want = run(deform_conv2d_reference, case, detached_copy(inputs))
    compare(got, want, 1e-12 if dtype == torch.float64 else 2e-5)


# Every code path of the kernels: scalar/vector accesses, teams narrower than the channel
# vectors (lanes loop), wider (idle lanes), 64-bit item decoding, several chunks.
KNOBS = {
    "vec1_tpi1": KernelOptions(vec=1, tpi=1),
    "vec1_tpi4": KernelOptions(vec=1, tpi=4),
    "vecmax_tpi2": KernelOptions(vec=0, tpi=2),
    "vecmax_tpi32": KernelOptions(vec=0, tpi=32),
    "wide_index": KernelOptions(wide_index=True),
    "chunks": KernelOptions(max_col_bytes=1),  # one sample per chunk
}


@pytest.mark.parametrize("knob", sorted(KNOBS))
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
def test_host_kernel_paths_match_reference(host_ext, knob, dtype):
    case = Case(n=3, c=16, h=6, w=5, cout=4, offset_groups=2, groups=2, mask=True, stride=(1, 2))
    inputs = make_inputs(case, dtype, seed=12)
    got = run(host_fn(host_ext, KNOBS[knob]), case, inputs)
    want = run(deform_conv2d_reference, case, detached_copy(inputs))
    compare(got, want, 1e-12 if dtype == torch.float64 else 2e-5)


def test_host_vector_width_rejected_when_groups_split_vectors(host_ext):
    case = Case(n=1, c=6, h=5, w=5, cout=3, offset_groups=3)  # 2 channels per offset group
    inputs = make_inputs(case, torch.float32, seed=1)
    with pytest.raises(RuntimeError, match="vector width"):
        run(host_fn(host_ext, KernelOptions(vec=4)), case, inputs)


@pytest.mark.parametrize("mask", [False, True], ids=["dcnv1", "dcnv2"])
def test_host_kernels_gradcheck_float64(host_ext, mask):
    # backward of the kernels is the derivative of their forward (independent of the reference)
    case = Case(n=1, c=4, h=3, w=3, cout=2, offset_groups=2, mask=mask)
    inputs = make_inputs(case, torch.float64, seed=13)
    stride, padding, dilation = case.pairs()
    names = [k for k in ("input", "offset", "weight", "bias", "mask") if inputs[k] is not None]
    fn = host_fn(host_ext, KernelOptions(vec=0, tpi=2))

    def f(*args):
        d = dict(zip(names, args))
        return fn(d["input"], d["offset"], d["weight"], d.get("bias"), stride, padding, dilation, d.get("mask"))

    assert torch.autograd.gradcheck(f, tuple(inputs[k] for k in names), eps=1e-6, atol=1e-6, rtol=1e-5)


def test_host_channels_last_inputs_and_output_format(host_ext):
    case = Case(n=2, c=8, h=6, w=6, cout=4, mask=True)
    inputs = make_inputs(case, torch.float64, seed=14)
    cl = detached_copy(inputs, memory_format=torch.channels_last)
    assert cl["input"].is_contiguous(memory_format=torch.channels_last)
    got = run(host_fn(host_ext), case, cl)
    want = run(deform_conv2d_reference, case, detached_copy(inputs))
    compare(got, want, 1e-12)
    stride, padding, dilation = case.pairs()
    out = host_fn(host_ext)(cl["input"], cl["offset"], cl["weight"], cl["bias"], stride, padding, dilation,
                            cl["mask"])
    assert out.is_contiguous(memory_format=torch.channels_last)


def test_host_requested_gradients_only(host_ext):
    # offsets without grad (e.g. frozen offset branch): input/weight grads still right, no offset grad
    case = Case(n=2, c=8, h=5, w=5, cout=3, mask=True)
    inputs = make_inputs(case, torch.float64, seed=15)
    for k in ("offset", "mask", "bias"):
        inputs[k] = inputs[k].detach()
    ref_inputs = detached_copy(inputs)
    for k in ("offset", "mask", "bias"):
        ref_inputs[k] = ref_inputs[k].detach()
    stride, padding, dilation = case.pairs()
    out = host_fn(host_ext)(inputs["input"], inputs["offset"], inputs["weight"], inputs["bias"], stride, padding,
                            dilation, inputs["mask"])
    ref = deform_conv2d_reference(ref_inputs["input"], ref_inputs["offset"], ref_inputs["weight"], ref_inputs["bias"],
                                  stride, padding, dilation, ref_inputs["mask"])
    gi, gw = torch.autograd.grad(out.sum(), [inputs["input"], inputs["weight"]])
    ri, rw = torch.autograd.grad(ref.sum(), [ref_inputs["input"], ref_inputs["weight"]])
    torch.testing.assert_close(gi, ri, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(gw, rw, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype,tol", [(torch.bfloat16, 2e-2), (torch.float16, 4e-3)], ids=["bf16", "f16"])
def test_host_reduced_precision_against_float64(host_ext, dtype, tol):
    case = Case(n=2, c=16, h=6, w=6, cout=8, mask=True, offset_scale=1.5)
    low = make_inputs(case, dtype, seed=16, quantize_offsets=True)
    got = run(host_fn(host_ext), case, low)
    want = run(deform_conv2d_reference, case, detached_copy(low, dtype=torch.float64))
    errs = compare(got, want, tol)
    assert got["output"].dtype == dtype and got["offset"].dtype == dtype
    assert max(errs.values()) > 0  # really computed in reduced precision


def test_host_empty_batch(host_ext):
    case = Case(n=0, c=8, h=5, w=5, cout=3, mask=True)
    inputs = make_inputs(case, torch.float32, seed=0)
    got = run(host_fn(host_ext), case, inputs)
    assert got["output"].shape == (0, 3, 5, 5)
    assert got["weight"].abs().max().item() == 0.0 and got["bias"].abs().max().item() == 0.0


def test_host_team_size_rule(host_ext):
    assert [host_ext.default_team_size(v) for v in (1, 2, 3, 8, 9, 32, 33, 64)] == [1, 2, 4, 8, 16, 32, 32, 32]
