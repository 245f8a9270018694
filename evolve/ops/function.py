"""Autograd wrapper around a compiled deformable-convolution extension.

The same :class:`DeformConv2dFunction` drives the CUDA extension (production) and the host test
build (tests on CPU), so the Python glue -- argument order, which gradients are requested, how
they are returned -- is exercised by the CPU tests too.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable


@dataclass(frozen=True)
class KernelOptions:
    """Knobs of the compiled kernels (defaults are what production uses).

    Attributes:
        max_col_bytes: budget of the (rows, kh*kw*C) column buffer per chunk of samples, bytes.
            The default 1 GiB keeps a whole EVOLVE batch (N <= 48, C = 256, 30x54, bf16 or fp32)
            in one sampling launch and one GEMM.
        vec: channels per vector access: 0 = automatic (16-byte vectors when the channel groups
            allow), 1 = scalar, or 16/itemsize.
        tpi: threads per (pixel, tap, offset group) item: 0 = automatic, else a power of two <= 32.
        wide_index: force 64-bit item decoding (used automatically above 2^31 threads).
    """

    max_col_bytes: int = 1 << 30
    vec: int = 0
    tpi: int = 0
    wide_index: bool = False

    def args(self) -> tuple[int, int, int, bool]:
        return (self.max_col_bytes, self.vec, self.tpi, self.wide_index)


class DeformConv2dFunction(torch.autograd.Function):
    """Forward/backward through ``ext.forward`` / ``ext.backward`` (csrc/deform_driver.h).

    Gradients: input, offset, mask, weight, bias (only those that require grad are computed).
    Double backward is not supported (use the reference backend for that).
    """

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        ext: ModuleType,
        options: KernelOptions,
        input: Tensor,
        offset: Tensor,
        mask: Tensor | None,
        weight: Tensor,
        bias: Tensor | None,
        stride: tuple[int, int],
        padding: tuple[int, int],
        dilation: tuple[int, int],
    ) -> Tensor:
        out = ext.forward(input, offset, mask, weight, bias, *stride, *padding, *dilation, *options.args())
        ctx.ext = ext
        ctx.options = options
        ctx.geometry = (stride, padding, dilation)
        ctx.has_mask = mask is not None
        ctx.has_bias = bias is not None
        ctx.save_for_backward(input, offset, mask, weight)
        return out  # (N, Cout, Ho, Wo)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_out: Tensor):  # type: ignore[override]
        input, offset, mask, weight = ctx.saved_tensors
        stride, padding, dilation = ctx.geometry
        needs = ctx.needs_input_grad  # (ext, options, input, offset, mask, weight, bias, stride, padding, dilation)
        grads = ctx.ext.backward(
            grad_out, input, offset, mask, weight, *stride, *padding, *dilation,
            bool(needs[2]), bool(needs[3]), bool(needs[4] and ctx.has_mask), bool(needs[5]),
            bool(needs[6] and ctx.has_bias), *ctx.options.args())
        grad_input, grad_offset, grad_mask, grad_weight, grad_bias = grads
        return None, None, grad_input, grad_offset, grad_mask, grad_weight, grad_bias, None, None, None


def deform_conv2d_extension(
    ext: ModuleType,
    input: Tensor,
    offset: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    stride: tuple[int, int],
    padding: tuple[int, int],
    dilation: tuple[int, int],
    mask: Tensor | None,
    options: KernelOptions | None = None,
) -> Tensor:
    """Run a compiled extension (CUDA kernels or the host test build) with autograd.

    Arguments are already validated (:func:`evolve.ops.validation.check_deform_args`): one dtype,
    one device, shapes as in :func:`evolve.ops.deform_conv2d`.

    Returns:
        (N, Cout, Ho, Wo) in the input dtype and memory format.
    """
    return DeformConv2dFunction.apply(ext, options or KernelOptions(), input, offset, mask, weight, bias,
                                      stride, padding, dilation)
