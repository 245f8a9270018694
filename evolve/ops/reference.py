"""Pure-PyTorch deformable convolution: the test oracle and the backend that runs anywhere.

Semantics are torchvision's ``deform_conv2d`` (DCNv1, Dai et al., ICCV 2017, eq. 2;
DCNv2 modulation, Zhu et al., CVPR 2019, eq. 3; DESIGN 6). For output pixel (ho, wo), kernel
tap k = i*kw + j and offset group g, the input channels of group g are sampled at

    y = ho*stride_h - pad_h + i*dil_h + offset[n, 2*(g*kh*kw + k),     ho, wo]
    x = wo*stride_w - pad_w + j*dil_w + offset[n, 2*(g*kh*kw + k) + 1, ho, wo]

(pixels) by bilinear interpolation with zeros outside the image (a sample with y <= -1,
y >= H, x <= -1 or x >= W is 0; corners outside the image contribute 0), multiplied by
``mask[n, g*kh*kw + k, ho, wo]`` when a mask is given, and the resulting columns are
contracted with the (grouped) weight. Everything is written with differentiable torch ops
(``floor``, ``gather``, ``einsum``), so autograd provides all gradients, including double
backward. It is an independent implementation from the CUDA kernels (tensor ops, not
per-element index code) and is compared against ``torchvision.ops.deform_conv2d`` in the tests.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

from evolve.ops.validation import DeformGeometry, check_deform_args, is_reduced_precision

DEFAULT_CHUNK_BYTES = 256 << 20  # bytes of one gathered corner tensor per chunk of samples


def _sample_positions(geom: DeformGeometry, offset: Tensor) -> tuple[Tensor, Tensor]:
    """Sampling positions in pixels.

    Args:
        offset: (n, 2*G*K, Ho, Wo) with (dy, dx) pairs.

    Returns:
        y, x: (n, G, K, Ho, Wo), same dtype as ``offset``.
    """
    n = offset.shape[0]
    taps = geom.kh * geom.kw
    dev, dt = offset.device, offset.dtype
    (sh, sw), (ph, pw), (dh, dw) = geom.stride, geom.padding, geom.dilation
    # base positions of the regular grid: (K, Ho, Wo)
    oy = torch.arange(geom.ho, device=dev, dtype=dt) * sh - ph  # (Ho,)
    ox = torch.arange(geom.wo, device=dev, dtype=dt) * sw - pw  # (Wo,)
    ty = torch.arange(geom.kh, device=dev, dtype=dt) * dh  # (kh,)
    tx = torch.arange(geom.kw, device=dev, dtype=dt) * dw  # (kw,)
    base_y = (ty[:, None, None, None] + oy[None, None, :, None]).expand(geom.kh, geom.kw, geom.ho, geom.wo)
    base_x = (tx[None, :, None, None] + ox[None, None, None, :]).expand(geom.kh, geom.kw, geom.ho, geom.wo)
    off = offset.view(n, geom.offset_groups, taps, 2, geom.ho, geom.wo)  # (n, G, K, 2, Ho, Wo)
    y = base_y.reshape(1, 1, taps, geom.ho, geom.wo) + off[:, :, :, 0]  # (n, G, K, Ho, Wo)
    x = base_x.reshape(1, 1, taps, geom.ho, geom.wo) + off[:, :, :, 1]
    return y, x


def bilinear_sample(image: Tensor, y: Tensor, x: Tensor) -> Tensor:
    """Bilinear samples with zeros outside the image (the DCN convention).

    Args:
        image: (n, G, Cg, H, W).
        y, x: (n, G, *S) sampling positions in pixels (row, column), same dtype as ``image``.

    Returns:
        (n, G, Cg, *S): samples; 0 where y <= -1, y >= H, x <= -1 or x >= W, and corners outside
        the image weigh 0. Differentiable in ``image``, ``y`` and ``x`` (d/dy of the bilinear weight
        uses the cell ``floor(y)``).
    """
    n, g, cg, h, w = image.shape
    spatial = y.shape[2:]
    flat = image.reshape(n, g, cg, h * w)  # (n, G, Cg, H*W)
    yq = y.reshape(n, g, 1, -1)  # (n, G, 1, S)
    xq = x.reshape(n, g, 1, -1)
    inside = (yq > -1) & (yq < h) & (xq > -1) & (xq < w)
    y0 = torch.floor(yq)
    x0 = torch.floor(xq)
    ly, lx = yq - y0, xq - x0
    hy, hx = 1 - ly, 1 - lx
    out = None
    for dy, dx, coeff in ((0, 0, hy * hx), (0, 1, hy * lx), (1, 0, ly * hx), (1, 1, ly * lx)):
        yy, xx = y0 + dy, x0 + dx
        valid = inside & (yy >= 0) & (yy <= h - 1) & (xx >= 0) & (xx <= w - 1)
        # clamp so NaN/inf/out-of-range positions index safely; their weight is 0 anyway
        yi = torch.nan_to_num(yy, nan=0.0).clamp(0, h - 1).long()
        xi = torch.nan_to_num(xx, nan=0.0).clamp(0, w - 1).long()
        index = (yi * w + xi).expand(n, g, cg, -1)  # (n, G, Cg, S)
        vals = torch.gather(flat, 3, index)  # (n, G, Cg, S)
        term = vals * torch.where(valid, coeff, torch.zeros_like(coeff))
        out = term if out is None else out + term
    assert out is not None
    return out.reshape(n, g, cg, *spatial)


def _forward_chunk(geom: DeformGeometry, input: Tensor, offset: Tensor, weight: Tensor, mask: Tensor | None) -> Tensor:
    """Deformable convolution of a chunk of samples without bias: (n, Cout, Ho, Wo)."""
    n = input.shape[0]
    taps = geom.kh * geom.kw
    go, gw = geom.offset_groups, geom.weight_groups
    y, x = _sample_positions(geom, offset)  # (n, G, K, Ho, Wo)
    image = input.reshape(n, go, geom.c // go, geom.h, geom.w)  # (n, G, C/G, H, W)
    cols = bilinear_sample(image, y, x)  # (n, G, C/G, K, Ho, Wo)
    if mask is not None:
        cols = cols * mask.reshape(n, go, 1, taps, geom.ho, geom.wo)
    cols = cols.reshape(n, gw, geom.c // gw, taps, geom.ho * geom.wo)  # (n, Gw, C/Gw, K, L)
    wg = weight.reshape(gw, geom.cout // gw, geom.c // gw, taps)  # (Gw, Cout/Gw, C/Gw, K)
    out = torch.einsum("gock,ngckl->ngol", wg, cols)  # (n, Gw, Cout/Gw, L)
    return out.reshape(n, geom.cout, geom.ho, geom.wo).contiguous()


def deform_conv2d_reference(
    input: Tensor,
    offset: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: int | Sequence[int] = (1, 1),
    padding: int | Sequence[int] = (0, 0),
    dilation: int | Sequence[int] = (1, 1),
    mask: Tensor | None = None,
    *,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
) -> Tensor:
    """Deformable convolution in plain PyTorch ops (see the module docstring for the formula).

    Args:
        input: (N, C, H, W) floating point.
        offset: (N, 2*G*kh*kw, Ho, Wo), (dy, dx) pairs in pixels per offset group and tap.
        weight: (Cout, C/groups, kh, kw).
        bias: (Cout,) or None.
        stride, padding, dilation: int or (h, w), pixels.
        mask: (N, G*kh*kw, Ho, Wo) modulation scalars (DCNv2), or None (DCNv1).
        chunk_bytes: samples are processed in chunks whose gathered corner tensor
            (n_chunk, C, kh*kw, Ho, Wo) stays under this many bytes (memory bound for large N).

    Returns:
        (N, Cout, Ho, Wo) in the input dtype. float16/bfloat16 inputs are computed in float32
        and the result is cast back.

    Raises:
        InputError: inconsistent shapes, dtypes or devices (see :func:`check_deform_args`).
    """
    geom = check_deform_args(input, offset, weight, bias, stride, padding, dilation, mask)
    out_dtype = input.dtype
    if is_reduced_precision(out_dtype):
        input, offset, weight = input.float(), offset.float(), weight.float()
        bias = None if bias is None else bias.float()
        mask = None if mask is None else mask.float()
    per_sample = max(1, geom.c * geom.kh * geom.kw * geom.ho * geom.wo * input.element_size())
    chunk = max(1, chunk_bytes // per_sample)
    if geom.n <= chunk:
        out = _forward_chunk(geom, input, offset, weight, mask)
    else:
        parts = [
            _forward_chunk(geom, input[s:s + chunk], offset[s:s + chunk], weight,
                           None if mask is None else mask[s:s + chunk])
            for s in range(0, geom.n, chunk)
        ]
        out = torch.cat(parts, dim=0)
    if bias is not None:
        out = out + bias.view(1, -1, 1, 1)
    return out.to(out_dtype)
