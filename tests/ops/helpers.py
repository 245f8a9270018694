"""Shared helpers of the deformable-convolution tests: problem definitions, random inputs,
outputs-plus-gradients runs and the error metric."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

import torch
from torch import Tensor

GRAD_NAMES = ("input", "offset", "mask", "weight", "bias")


@dataclass(frozen=True)
class Case:
    """One deformable convolution problem (sizes in pixels)."""

    n: int = 2
    c: int = 4
    h: int = 7
    w: int = 6
    cout: int = 5
    kh: int = 3
    kw: int = 3
    stride: int | tuple[int, int] = 1
    padding: int | tuple[int, int] = 1
    dilation: int | tuple[int, int] = 1
    offset_groups: int = 1
    groups: int = 1
    mask: bool = False
    bias: bool = True
    offset_scale: float = 2.0  # offsets ~ N(0, offset_scale^2) pixels

    def pairs(self) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
        def p(v):
            return (v, v) if isinstance(v, int) else tuple(v)

        return p(self.stride), p(self.padding), p(self.dilation)

    def out_size(self) -> tuple[int, int]:
        (sh, sw), (ph, pw), (dh, dw) = self.pairs()
        ho = (self.h + 2 * ph - (dh * (self.kh - 1) + 1)) // sh + 1
        wo = (self.w + 2 * pw - (dw * (self.kw - 1) + 1)) // sw + 1
        return ho, wo

    def with_(self, **kw) -> "Case":
        return replace(self, **kw)


def make_inputs(case: Case, dtype: torch.dtype = torch.float64, device: str | torch.device = "cpu",
                seed: int = 0, quantize_offsets: bool = False) -> dict[str, Tensor | None]:
    """Random leaf tensors (requires_grad) for ``case``.

    Args:
        quantize_offsets: round offsets to multiples of 2^-10 px, so sampling positions are
            exact in float32 as well as float64 (no floor() disagreement between precisions).
    """
    g = torch.Generator().manual_seed(seed)
    ho, wo = case.out_size()
    taps = case.kh * case.kw

    def rnd(*shape, scale=1.0):
        return torch.randn(*shape, generator=g, dtype=torch.float64) * scale

    x = rnd(case.n, case.c, case.h, case.w)
    off = rnd(case.n, 2 * case.offset_groups * taps, ho, wo, scale=case.offset_scale)
    if quantize_offsets:
        off = torch.round(off * 1024) / 1024
    w = rnd(case.cout, case.c // case.groups, case.kh, case.kw, scale=(case.c // case.groups * taps) ** -0.5)
    b = rnd(case.cout) if case.bias else None
    m = torch.rand(case.n, case.offset_groups * taps, ho, wo, generator=g, dtype=torch.float64) if case.mask else None
    out = {"input": x, "offset": off, "weight": w, "bias": b, "mask": m}
    return {k: None if v is None else v.to(device=device, dtype=dtype).requires_grad_() for k, v in out.items()}


def detached_copy(inputs: dict[str, Tensor | None], dtype: torch.dtype | None = None,
                  memory_format: torch.memory_format | None = None) -> dict[str, Tensor | None]:
    """Fresh leaves with the same values (optionally cast / re-laid out)."""
    out = {}
    for k, v in inputs.items():
        if v is None:
            out[k] = None
            continue
        t = v.detach().to(dtype or v.dtype)
        if memory_format is not None and t.dim() == 4 and k in ("input", "offset", "mask"):
            t = t.contiguous(memory_format=memory_format)
        else:
            t = t.clone()
        out[k] = t.requires_grad_()
    return out


def grad_output(shape: tuple[int, ...], dtype: torch.dtype, device, seed: int = 1) -> Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=torch.float64).to(device=device, dtype=dtype)


def run(fn: Callable[..., Tensor], case: Case, inputs: dict[str, Tensor | None], seed: int = 1) -> dict[str, Tensor]:
    """Output and gradients of every given input for a random output gradient.

    ``fn(input, offset, weight, bias, stride, padding, dilation, mask)``.
    """
    stride, padding, dilation = case.pairs()
    out = fn(inputs["input"], inputs["offset"], inputs["weight"], inputs["bias"], stride, padding, dilation,
             inputs["mask"])
    gout = grad_output(tuple(out.shape), out.dtype, out.device, seed)
    names = [k for k in GRAD_NAMES if inputs[k] is not None]
    grads = torch.autograd.grad(out, [inputs[k] for k in names], gout)
    result = {"output": out.detach()}
    result.update({k: g for k, g in zip(names, grads)})
    return result


def rel_err(a: Tensor, ref: Tensor) -> float:
    """max |a - ref| / max |ref| (computed in float64); 0 when both are all-zero."""
    a64, r64 = a.detach().double(), ref.detach().double().to(a.device)
    scale = r64.abs().max().item() if r64.numel() else 0.0
    diff = (a64 - r64).abs().max().item() if r64.numel() else 0.0
    if scale == 0.0:
        return diff
    return diff / scale


def compare(got: dict[str, Tensor], want: dict[str, Tensor], tol: float) -> dict[str, float]:
    """Relative errors of every output/gradient; asserts each is <= tol with a readable message."""
    assert set(got) == set(want), (sorted(got), sorted(want))
    errs = {k: rel_err(got[k], want[k]) for k in want}
    bad = {k: e for k, e in errs.items() if not e <= tol}
    assert not bad, f"relative error above {tol:g}: {bad} (all: {errs})"
    for k in want:
        assert got[k].shape == want[k].shape, (k, got[k].shape, want[k].shape)
    return errs
