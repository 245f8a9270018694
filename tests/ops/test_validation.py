"""Bad arguments to evolve.ops.deform_conv2d get an InputError that names the argument and the fix,
for every backend (the checks run before dispatch)."""

from __future__ import annotations

import pytest
import torch

from evolve.ops import deform_conv2d
from evolve.utils.errors import InputError


def good(**over):
    args = dict(
        input=torch.randn(2, 4, 6, 6),
        offset=torch.randn(2, 18, 6, 6),
        weight=torch.randn(3, 4, 3, 3),
        bias=torch.randn(3),
        stride=1,
        padding=1,
        dilation=1,
        mask=torch.rand(2, 9, 6, 6),
    )
    args.update(over)
    return args


BACKENDS = ["reference", "torchvision", "auto"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_good_arguments_run(backend):
    out = deform_conv2d(**good(), backend=backend)
    assert out.shape == (2, 3, 6, 6) and torch.isfinite(out).all()


BAD = {
    "offset_channels": (dict(offset=torch.randn(2, 17, 6, 6)), r"offset has 17 channels"),
    "offset_spatial": (dict(offset=torch.randn(2, 18, 5, 6)), r"offset shape \(2, 18, 5, 6\) does not match"),
    "offset_batch": (dict(offset=torch.randn(1, 18, 6, 6)), r"expected \(2, 18, 6, 6\)"),
    "offset_groups_not_dividing": (dict(offset=torch.randn(2, 54, 6, 6), mask=None), r"3 offset groups do not divide"),
    "mask_channels": (dict(mask=torch.rand(2, 18, 6, 6)), r"mask shape \(2, 18, 6, 6\) is not \(2, 9, 6, 6\)"),
    "weight_channels": (dict(weight=torch.randn(3, 3, 3, 3)), r"not a multiple of weight.shape\[1\] = 3"),
    "weight_groups_cout": (dict(weight=torch.randn(3, 2, 3, 3)), r"3 output channels, not divisible by the 2 groups"),
    "weight_3d": (dict(weight=torch.randn(3, 4, 3)), r"weight must be 4-D"),
    "input_3d": (dict(input=torch.randn(4, 6, 6)), r"input must be 4-D"),
    "bias_shape": (dict(bias=torch.randn(4)), r"bias shape \(4\) is not \(3,\)"),
    "empty_output": (dict(input=torch.randn(2, 4, 1, 1), padding=0), r"output would be empty"),
    "stride_zero": (dict(stride=0), r"stride \(0, 0\)"),
    "stride_triple": (dict(stride=(1, 1, 1)), r"stride must be an int or \(int, int\)"),
    "dtype_mismatch": (dict(offset=torch.randn(2, 18, 6, 6, dtype=torch.float64)), r"dtype mismatch .*offset float64"),
    "integer_input": (dict(input=torch.ones(2, 4, 6, 6, dtype=torch.int64)), r"input has dtype torch.int64"),
    "device_mismatch": (dict(mask=torch.rand(2, 9, 6, 6, device="meta")), r"different devices .*mask on meta"),
    "not_a_tensor": (dict(weight=[[1.0]]), r"weight must be a torch.Tensor"),
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_arguments_raise_input_error(name, backend):
    over, pattern = BAD[name]
    with pytest.raises(InputError, match=pattern) as info:
        deform_conv2d(**good(**over), backend=backend)
    assert "Fix:" in str(info.value)


def test_unknown_backend():
    with pytest.raises(ValueError, match="unknown deformable-convolution backend 'cudnn'"):
        deform_conv2d(**good(), backend="cudnn")


def test_cuda_backend_on_cpu_tensors():
    with pytest.raises(RuntimeError, match="needs CUDA tensors"):
        deform_conv2d(**good(), backend="cuda")
