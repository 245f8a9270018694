"""Public deformable convolution entry point (torchvision ``deform_conv2d`` signature).

Every deformable convolution in the model goes through :func:`deform_conv2d`, so the backend
(our CUDA kernels, torchvision, or the pure-PyTorch reference) can change in one place.
"""

from __future__ import annotations

import torch
from torch import Tensor


def deform_conv2d(
    input: Tensor,
    offset: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: tuple[int, int] | int = (1, 1),
    padding: tuple[int, int] | int = (0, 0),
    dilation: tuple[int, int] | int = (1, 1),
    mask: Tensor | None = None,
    backend: str = "auto",
) -> Tensor:
    """Deformable convolution (DCNv1 when ``mask`` is None, DCNv2 with it).

    Args:
        input: (N, C_in, H, W).
        offset: (N, 2*G*kh*kw, H_out, W_out), (dy, dx) pairs in pixels per kernel tap.
        weight: (C_out, C_in/groups, kh, kw).
        bias: (C_out,) or None.
        mask: (N, G*kh*kw, H_out, W_out) modulation scalars, or None.
        backend: "auto" | "torchvision".

    Returns:
        (N, C_out, H_out, W_out), dtype of ``input``.
    """
    if backend not in ("auto", "torchvision"):
        raise ValueError(f"unknown deformable-convolution backend {backend!r}")
    from torchvision.ops import deform_conv2d as tv_deform_conv2d

    return tv_deform_conv2d(input, offset, weight, bias, stride, padding, dilation, mask)
