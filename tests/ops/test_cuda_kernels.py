"""GPU tests of the CUDA kernels (``@pytest.mark.cuda``; skipped without a GPU).

Run on a GPU machine with::

    python -m pytest -q -m cuda tests/ops

Oracle: the pure-PyTorch reference in float64 on the same (already rounded) inputs. Offsets are
rounded to multiples of 2^-10 px so sampling positions are exact in float32 and float64 alike
(otherwise a position within one float32 ulp of an integer can take the other bilinear cell and
its offset gradient legitimately differs). Error metric: max |got - ref| / max |ref| per tensor.
Tolerances: float32 5e-5 (TF32 off), float16 5e-3, bfloat16 2e-2 -- bf16/fp16 round the column
buffer and the column gradient to the storage dtype (8 / 11 significant bits), accumulate in fp32.
"""

from __future__ import annotations

import pytest
import torch

from evolve.ops import deform_conv2d, deform_conv2d_reference, resolve_backend
from evolve.ops.function import KernelOptions, deform_conv2d_extension
from tests.ops.helpers import Case, compare, detached_copy, make_inputs, run

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]

TOL = {torch.float32: 5e-5, torch.float16: 5e-3, torch.bfloat16: 2e-2, torch.float64: 1e-12}
DT_IDS = {torch.float32: "f32", torch.float16: "f16", torch.bfloat16: "bf16", torch.float64: "f64"}


@pytest.fixture(autouse=True)
def _no_tf32():
    old = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32 = old


def cuda_fn(ext, options: KernelOptions | None = None):
    def fn(input, offset, weight, bias, stride, padding, dilation, mask):
        return deform_conv2d_extension(ext, input, offset, weight, bias, stride, padding, dilation, mask, options)

    return fn


def reference64(case: Case, inputs) -> dict:
    return run(deform_conv2d_reference, case, detached_copy(inputs, dtype=torch.float64))


# EVOLVE's shapes: 256-channel stride-16 features of 480x480 (30x30) and 480x854 (30x54) frames,
# N up to 48 (all memory frames of a batch at once), 3x3 kernel, one offset group, no bias.
EVOLVE = {
    "evolve_n8_30x30": Case(n=8, c=256, h=30, w=30, cout=256, bias=False, offset_scale=3.0),
    "evolve_n48_30x54": Case(n=48, c=256, h=30, w=54, cout=256, bias=False, offset_scale=3.0),
}
SMALL = {
    "groups": Case(n=3, c=32, h=11, w=9, cout=16, groups=2, offset_groups=4, stride=(2, 1), padding=(1, 2)),
    "dilation": Case(n=2, c=24, h=13, w=12, cout=8, dilation=2, padding=2, offset_groups=3),
    "unaligned_channels": Case(n=2, c=12, h=9, w=10, cout=6, offset_groups=3),  # vec=1 for 16-bit
    "big_offsets": Case(n=2, c=16, h=8, w=8, cout=8, offset_scale=8.0),
}


@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
@pytest.mark.parametrize("mask", [False, True], ids=["dcnv1", "dcnv2"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16], ids=DT_IDS.get)
@pytest.mark.parametrize("name", sorted(EVOLVE) + sorted(SMALL))
def test_cuda_matches_float64_reference(cuda_ext, name, dtype, mask, layout):
    case = {**EVOLVE, **SMALL}[name].with_(mask=mask)
    inputs = make_inputs(case, dtype, device="cuda", seed=31, quantize_offsets=True)
    if layout == "channels_last":
        inputs = detached_copy(inputs, memory_format=torch.channels_last)
    got = run(cuda_fn(cuda_ext), case, inputs)
    want = reference64(case, inputs)
    compare(got, want, TOL[dtype])
    assert got["output"].dtype == dtype
    if layout == "channels_last":
        assert got["output"].is_contiguous(memory_format=torch.channels_last)
        assert got["input"].is_contiguous(memory_format=torch.channels_last)


KNOBS = {
    "vec1": KernelOptions(vec=1),
    "tpi1": KernelOptions(tpi=1),
    "tpi4": KernelOptions(tpi=4),
    "wide_index": KernelOptions(wide_index=True),
    "chunks": KernelOptions(max_col_bytes=1),
}


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float64], ids=DT_IDS.get)
@pytest.mark.parametrize("knob", sorted(KNOBS))
def test_cuda_kernel_paths(cuda_ext, knob, dtype):
    case = Case(n=3, c=64, h=10, w=9, cout=16, offset_groups=2, mask=True)
    inputs = make_inputs(case, dtype, device="cuda", seed=32, quantize_offsets=True)
    got = run(cuda_fn(cuda_ext, KNOBS[knob]), case, inputs)
    compare(got, reference64(case, inputs), TOL[dtype])


@pytest.mark.parametrize("mask", [False, True], ids=["dcnv1", "dcnv2"])
def test_cuda_gradcheck_float64(cuda_ext, mask):
    case = Case(n=2, c=4, h=4, w=4, cout=3, offset_groups=2, mask=mask)
    inputs = make_inputs(case, torch.float64, device="cuda", seed=33)
    stride, padding, dilation = case.pairs()
    names = [k for k in ("input", "offset", "weight", "bias", "mask") if inputs[k] is not None]
    fn = cuda_fn(cuda_ext)

    def f(*args):
        d = dict(zip(names, args))
        return fn(d["input"], d["offset"], d["weight"], d.get("bias"), stride, padding, dilation, d.get("mask"))

    # atomics reorder the input-gradient sums: allow last-bit nondeterminism
    assert torch.autograd.gradcheck(f, tuple(inputs[k] for k in names), eps=1e-6, atol=1e-6, rtol=1e-5,
                                    nondet_tol=1e-12)


def test_auto_uses_cuda_kernels_and_matches_torchvision():
    assert resolve_backend("auto", torch.device("cuda")) == "cuda"
    case = Case(n=4, c=64, h=12, w=12, cout=32, mask=True)

    def via(backend):
        def fn(input, offset, weight, bias, stride, padding, dilation, mask):
            return deform_conv2d(input, offset, weight, bias, stride, padding, dilation, mask, backend=backend)

        return fn

    ours = run(via("auto"), case, make_inputs(case, torch.float32, device="cuda", seed=34, quantize_offsets=True))
    tv = run(via("torchvision"), case, make_inputs(case, torch.float32, device="cuda", seed=34, quantize_offsets=True))
    compare(ours, tv, 5e-5)


def test_cuda_under_autocast_runs_in_bfloat16():
    case = Case(n=4, c=64, h=10, w=10, cout=32)
    inputs = make_inputs(case, torch.float32, device="cuda", seed=35, quantize_offsets=True)
    with torch.autocast(device_type="cuda", dtype=torch.bfloat16):
        out = deform_conv2d(inputs["input"], inputs["offset"], inputs["weight"], inputs["bias"], padding=1)
    assert out.dtype == torch.bfloat16
    out.float().sum().backward()
    assert inputs["weight"].grad.dtype == torch.float32  # through the autocast cast
    bf = detached_copy(inputs, dtype=torch.bfloat16)
    want = deform_conv2d_reference(*(None if bf[k] is None else bf[k].double()
                                     for k in ("input", "offset", "weight", "bias")), 1, 1, 1)
    assert (out.double() - want).abs().max().item() <= 2e-2 * want.abs().max().item()


def test_cuda_offsets_far_outside_give_bias_only(cuda_ext):
    case = Case(n=2, c=16, h=6, w=6, cout=4, mask=True)
    inputs = make_inputs(case, torch.float32, device="cuda", seed=36)
    with torch.no_grad():
        inputs["offset"].fill_(100.0)
    got = run(cuda_fn(cuda_ext), case, inputs)
    torch.testing.assert_close(got["output"], inputs["bias"].detach().view(1, -1, 1, 1).expand_as(got["output"]))
    for k in ("input", "offset", "mask"):
        assert got[k].abs().max().item() == 0.0, k


def test_cuda_empty_batch(cuda_ext):
    case = Case(n=0, c=16, h=6, w=6, cout=4, mask=True)
    got = run(cuda_fn(cuda_ext), case, make_inputs(case, torch.float32, device="cuda"))
    assert got["output"].shape == (0, 4, 6, 6) and got["weight"].abs().max().item() == 0.0


def test_cuda_second_device_guard(cuda_ext):
    if torch.cuda.device_count() < 2:
        pytest.skip("needs 2 GPUs")
    case = Case(n=2, c=32, h=8, w=8, cout=8, mask=True)
    inputs = make_inputs(case, torch.float32, device="cuda:1", seed=37, quantize_offsets=True)
    got = run(cuda_fn(cuda_ext), case, inputs)
    compare(got, reference64(case, inputs), TOL[torch.float32])
