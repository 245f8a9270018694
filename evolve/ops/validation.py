"""Argument checks for :func:`evolve.ops.deform_conv2d`, shared by every backend.

The checks run before any backend so a wrong offset/mask/weight shape, a dtype or device
mismatch gets the same clear :class:`~evolve.utils.errors.InputError` everywhere (instead of a
kernel-specific message or, worse, a silent broadcast).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from torch import Tensor

from evolve.utils.errors import InputError

_WHERE = None  # tensors are not files: InputError without a path


@dataclass(frozen=True)
class DeformGeometry:
    """Sizes of one deformable convolution (DESIGN 6).

    Attributes:
        n, c, h, w: input batch, channels, height, width (pixels).
        cout, kh, kw: output channels and kernel size.
        ho, wo: output height and width (pixels),
            ``ho = (h + 2*pad_h - (dil_h*(kh-1) + 1)) // stride_h + 1``.
        offset_groups: G in ``offset (N, 2*G*kh*kw, ho, wo)``; input channel ``c`` uses the
            offsets of group ``c // (C/G)``.
        weight_groups: groups of the convolution, ``C / weight.shape[1]``.
        stride, padding, dilation: (height, width) pairs in pixels.
        has_mask: a DCNv2 modulation mask is given.
    """

    n: int
    c: int
    h: int
    w: int
    cout: int
    kh: int
    kw: int
    ho: int
    wo: int
    offset_groups: int
    weight_groups: int
    stride: tuple[int, int]
    padding: tuple[int, int]
    dilation: tuple[int, int]
    has_mask: bool


def pair(value: int | Sequence[int], name: str) -> tuple[int, int]:
    """``3 -> (3, 3)``; ``(2, 1) -> (2, 1)``.

    Raises:
        InputError: if ``value`` is neither an int nor a sequence of two ints.
    """
    if isinstance(value, bool):
        raise InputError(_WHERE, f"deform_conv2d: {name} must be an int or (int, int), got {value!r}",
                         f"pass {name}=(h, w) with integers")
    if isinstance(value, int):
        return (value, value)
    try:
        items = tuple(int(v) for v in value)
    except TypeError:
        items = ()
    if len(items) != 2 or any(isinstance(v, bool) for v in value):
        raise InputError(_WHERE, f"deform_conv2d: {name} must be an int or (int, int), got {value!r}",
                         f"pass {name}=(h, w) with integers")
    return items  # type: ignore[return-value]


def _shape(t: Tensor) -> str:
    return "(" + ", ".join(str(s) for s in t.shape) + ")"


def check_deform_args(
    input: Tensor,
    offset: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    stride: int | Sequence[int],
    padding: int | Sequence[int],
    dilation: int | Sequence[int],
    mask: Tensor | None,
) -> DeformGeometry:
    """Validate the arguments of a deformable convolution and return its geometry.

    Expected (torchvision ``deform_conv2d`` convention, DESIGN 6):
    input (N, C, H, W); offset (N, 2*G*kh*kw, Ho, Wo); weight (Cout, C/Gw, kh, kw);
    bias (Cout,) or None; mask (N, G*kh*kw, Ho, Wo) or None; all floating point, one dtype,
    one device.

    Raises:
        InputError: naming the inconsistent argument, its shape and what it must be.
    """
    named = {"input": input, "offset": offset, "weight": weight, "bias": bias, "mask": mask}
    for name, t in named.items():
        if t is None and name in ("bias", "mask"):
            continue
        if not isinstance(t, Tensor):
            raise InputError(_WHERE, f"deform_conv2d: {name} must be a torch.Tensor, got {type(t).__name__}",
                             f"pass {name} as a tensor")
        if not t.is_floating_point():
            raise InputError(_WHERE, f"deform_conv2d: {name} has dtype {t.dtype}, not floating point",
                             f"convert {name} to float32/float16/bfloat16/float64")
    stride_p, padding_p, dilation_p = pair(stride, "stride"), pair(padding, "padding"), pair(dilation, "dilation")
    if min(stride_p) < 1 or min(dilation_p) < 1 or min(padding_p) < 0:
        raise InputError(_WHERE, f"deform_conv2d: stride {stride_p} and dilation {dilation_p} must be >= 1 "
                         f"and padding {padding_p} >= 0", "use positive stride/dilation and non-negative padding")
    for name, t, dims in (("input", input, 4), ("offset", offset, 4), ("weight", weight, 4)):
        if t.dim() != dims:
            raise InputError(_WHERE, f"deform_conv2d: {name} must be {dims}-D, got shape {_shape(t)}",
                             f"pass {name} as (N, C, H, W)" if name != "weight" else
                             "pass weight as (C_out, C_in/groups, kh, kw)")
    n, c, h, w = input.shape
    cout, cg, kh, kw = weight.shape
    if kh < 1 or kw < 1 or cout < 1:
        raise InputError(_WHERE, f"deform_conv2d: weight shape {_shape(weight)} is empty",
                         "use a weight with at least one output channel and a kernel of at least 1x1")
    if cg < 1 or c % cg != 0:
        raise InputError(_WHERE, f"deform_conv2d: input has {c} channels, not a multiple of weight.shape[1] = {cg}",
                         "weight must be (C_out, C_in/groups, kh, kw) with groups dividing C_in")
    gw = c // cg
    if cout % gw != 0:
        raise InputError(_WHERE, f"deform_conv2d: weight has {cout} output channels, not divisible by the "
                         f"{gw} groups implied by input channels {c} / weight.shape[1] {cg}",
                         "make C_out a multiple of groups")
    ho = (h + 2 * padding_p[0] - (dilation_p[0] * (kh - 1) + 1)) // stride_p[0] + 1
    wo = (w + 2 * padding_p[1] - (dilation_p[1] * (kw - 1) + 1)) // stride_p[1] + 1
    if ho < 1 or wo < 1:
        raise InputError(_WHERE, f"deform_conv2d: output would be empty ({ho}x{wo}) for input {h}x{w}, "
                         f"kernel {kh}x{kw}, stride {stride_p}, padding {padding_p}, dilation {dilation_p}",
                         "use a larger input or more padding")
    taps = kh * kw
    if offset.shape[1] < 2 * taps or offset.shape[1] % (2 * taps) != 0:
        raise InputError(_WHERE, f"deform_conv2d: offset has {offset.shape[1]} channels, not a positive "
                         f"multiple of 2*kh*kw = {2 * taps}",
                         f"offset must be (N, 2*offset_groups*{kh}*{kw}, H_out, W_out) with (dy, dx) pairs")
    go = offset.shape[1] // (2 * taps)
    if c % go != 0:
        raise InputError(_WHERE, f"deform_conv2d: {go} offset groups do not divide the {c} input channels",
                         "use an offset-group count that divides C_in")
    if tuple(offset.shape) != (n, 2 * go * taps, ho, wo):
        raise InputError(_WHERE, f"deform_conv2d: offset shape {_shape(offset)} does not match the output: "
                         f"expected ({n}, {2 * go * taps}, {ho}, {wo})",
                         "compute offsets at the output resolution for the same batch")
    if mask is not None:
        if mask.dim() != 4 or tuple(mask.shape) != (n, go * taps, ho, wo):
            raise InputError(_WHERE, f"deform_conv2d: mask shape {_shape(mask)} is not ({n}, {go * taps}, {ho}, {wo}) "
                             f"(one scalar per offset group and tap)",
                             "pass mask as (N, offset_groups*kh*kw, H_out, W_out) or None")
    if bias is not None and tuple(bias.shape) != (cout,):
        raise InputError(_WHERE, f"deform_conv2d: bias shape {_shape(bias)} is not ({cout},)",
                         "pass one bias per output channel or None")
    present = {k: v for k, v in named.items() if v is not None}
    devices = {k: v.device for k, v in present.items()}
    if len(set(devices.values())) > 1:
        desc = ", ".join(f"{k} on {d}" for k, d in devices.items())
        raise InputError(_WHERE, f"deform_conv2d: tensors on different devices ({desc})",
                         "move input, offset, weight, bias and mask to one device")
    dtypes = {k: v.dtype for k, v in present.items()}
    if len(set(dtypes.values())) > 1:
        desc = ", ".join(f"{k} {str(d).replace('torch.', '')}" for k, d in dtypes.items())
        raise InputError(_WHERE, f"deform_conv2d: dtype mismatch ({desc})",
                         "cast all arguments to one dtype, or run under torch.autocast")
    return DeformGeometry(n=n, c=c, h=h, w=w, cout=cout, kh=kh, kw=kw, ho=ho, wo=wo, offset_groups=go,
                          weight_groups=gw, stride=stride_p, padding=padding_p, dilation=dilation_p,
                          has_mask=mask is not None)


def is_reduced_precision(dtype: torch.dtype) -> bool:
    """True for float16 and bfloat16."""
    return dtype in (torch.float16, torch.bfloat16)
