"""Public deformable convolution entry point (torchvision ``deform_conv2d`` signature + ``backend``).

Every deformable convolution in the model (EDFT, DESIGN 3 and 6) goes through
:func:`deform_conv2d`, so the backend -- our CUDA kernels, torchvision, or the pure-PyTorch
reference -- changes in one place.
"""

from __future__ import annotations

import logging

import torch
from torch import Tensor

from evolve.ops.validation import check_deform_args, is_reduced_precision, pair

logger = logging.getLogger(__name__)

BACKENDS = ("auto", "cuda", "torchvision", "reference")

# The loaded CUDA extension, or why it could not be used; filled on the first CUDA call so the
# hot path never re-hashes sources or re-probes the toolkit, and "auto" logs a failure once.
_cuda_state: dict[str, object] = {}


def _cuda_extension(strict: bool):
    """The compiled CUDA extension, or None (``strict=False``) when it cannot be built here."""
    ext = _cuda_state.get("ext")
    if ext is not None:
        return ext
    if "error" in _cuda_state and not strict:
        return None
    from evolve.ops import build

    try:
        ext = build.load_cuda_extension()
    except Exception as e:  # build failures are RuntimeError/OSError/ImportError from the toolchain
        if strict:
            raise
        text = str(e).strip()
        _cuda_state["error"] = text.splitlines()[0] if text else type(e).__name__
        fallback = "torchvision" if _torchvision_available() else "the reference"
        logger.warning("evolve.ops.deform_conv2d: CUDA extension unavailable (%s); using %s",
                       _cuda_state["error"], fallback)
        return None
    _cuda_state["ext"] = ext
    return ext


def _torchvision_available() -> bool:
    try:
        import torchvision.ops  # noqa: F401
    except Exception:
        return False
    return True


def resolve_backend(backend: str, device: torch.device) -> str:
    """The backend ``deform_conv2d`` would use for tensors on ``device``.

    ``"auto"``: our CUDA kernels on CUDA tensors when the extension is built or buildable, else
    torchvision when importable, else the reference; on CPU tensors the reference (its forward +
    backward measured 4-5.5x faster than torchvision's CPU kernel, benchmarks/results/deform_cpu.md).
    May compile the extension (first CUDA use).

    Raises:
        ValueError: unknown backend name.
        RuntimeError: ``"cuda"`` with non-CUDA tensors; ``"torchvision"`` when it is not
            importable.
        evolve.ops.build.ExtensionUnavailable: ``"cuda"`` when the extension cannot be built.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown deformable-convolution backend {backend!r}; choose one of {BACKENDS}")
    if backend == "cuda":
        if device.type != "cuda":
            raise RuntimeError(f"deform_conv2d(backend='cuda') needs CUDA tensors, got {device}; "
                               "use backend='auto' or move the tensors to a GPU")
        _cuda_extension(strict=True)
        return "cuda"
    if backend == "torchvision":
        if not _torchvision_available():
            raise RuntimeError("deform_conv2d(backend='torchvision'): torchvision is not importable")
        return "torchvision"
    if backend == "reference":
        return "reference"
    if device.type != "cuda":
        return "reference"
    if _cuda_extension(strict=False) is not None:
        return "cuda"
    return "torchvision" if _torchvision_available() else "reference"


def _cast(t: Tensor | None, dtype: torch.dtype) -> Tensor | None:
    return None if t is None else t.to(dtype)


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

    Semantics of ``torchvision.ops.deform_conv2d`` (DESIGN 6): tap k = i*kw + j of output pixel
    (ho, wo) reads input channels of offset group g at
    ``y = ho*stride_h - pad_h + i*dil_h + dy``, ``x = wo*stride_w - pad_w + j*dil_w + dx`` (pixels),
    with ``(dy, dx) = offset[n, 2*(g*kh*kw + k) : 2*(g*kh*kw + k) + 2, ho, wo]``, by bilinear
    interpolation with zeros outside the image, times ``mask[n, g*kh*kw + k, ho, wo]`` if given;
    the samples are then convolved with ``weight`` (Dai et al. 2017 eq. 2; Zhu et al. 2019 eq. 3).

    Args:
        input: (N, C_in, H, W), float32/float16/bfloat16/float64, contiguous or channels-last.
        offset: (N, 2*G*kh*kw, H_out, W_out), (dy, dx) pairs in pixels per offset group G and tap.
        weight: (C_out, C_in/groups, kh, kw).
        bias: (C_out,) or None.
        stride, padding, dilation: int or (h, w) in pixels.
        mask: (N, G*kh*kw, H_out, W_out) modulation scalars, or None.
        backend: ``"auto"`` | ``"cuda"`` | ``"torchvision"`` | ``"reference"``. ``"auto"``: our
            CUDA kernels on CUDA tensors when the extension is built or buildable (first use
            compiles it, cached), else torchvision when importable, else the reference; a failed
            build is logged once and not retried.

    Returns:
        (N, C_out, H_out, W_out) in the input dtype (under ``torch.autocast``: the autocast dtype
        for the CUDA backend, float32 for the reference, torchvision's own autocast rule (float32
        compute) for torchvision). float16/bfloat16 without autocast: the CUDA kernels compute
        natively (fp32 accumulation); torchvision and the reference compute in float32 and cast
        back (torchvision has no bfloat16 kernel).

    Raises:
        evolve.utils.errors.InputError: inconsistent offset/mask/weight/bias shapes, dtype or
            device mismatch, non-floating tensors.
        ValueError: unknown backend.
        RuntimeError: ``backend="cuda"`` on CPU tensors; compile errors of the extension with
            ``backend="cuda"``.
        evolve.ops.build.ExtensionUnavailable: ``backend="cuda"`` without a usable toolchain.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown deformable-convolution backend {backend!r}; choose one of {BACKENDS}")
    stride_p, padding_p, dilation_p = pair(stride, "stride"), pair(padding, "padding"), pair(dilation, "dilation")
    device_type = input.device.type if isinstance(input, Tensor) else "cpu"
    chosen = resolve_backend(backend, input.device if isinstance(input, Tensor) else torch.device("cpu"))
    autocast = device_type in ("cuda", "cpu") and torch.is_autocast_enabled(device_type)

    if chosen == "torchvision":
        return _torchvision(input, offset, weight, bias, stride_p, padding_p, dilation_p, mask, autocast)

    if autocast:
        # the CUDA kernels run in the autocast dtype (tensor cores); the reference in float32
        dtype = torch.get_autocast_dtype(device_type) if chosen == "cuda" else torch.float32
        input, offset, weight = input.to(dtype), offset.to(dtype), weight.to(dtype)
        bias, mask = _cast(bias, dtype), _cast(mask, dtype)
        with torch.autocast(device_type=device_type, enabled=False):
            return _run(chosen, input, offset, weight, bias, stride_p, padding_p, dilation_p, mask)
    return _run(chosen, input, offset, weight, bias, stride_p, padding_p, dilation_p, mask)


def _run(chosen: str, input: Tensor, offset: Tensor, weight: Tensor, bias: Tensor | None,
         stride: tuple[int, int], padding: tuple[int, int], dilation: tuple[int, int],
         mask: Tensor | None) -> Tensor:
    check_deform_args(input, offset, weight, bias, stride, padding, dilation, mask)
    if chosen == "cuda":
        from evolve.ops.function import deform_conv2d_extension

        ext = _cuda_extension(strict=True)
        return deform_conv2d_extension(ext, input, offset, weight, bias, stride, padding, dilation, mask)
    from evolve.ops.reference import deform_conv2d_reference

    return deform_conv2d_reference(input, offset, weight, bias, stride, padding, dilation, mask)


def _torchvision(input: Tensor, offset: Tensor, weight: Tensor, bias: Tensor | None,
                 stride: tuple[int, int], padding: tuple[int, int], dilation: tuple[int, int],
                 mask: Tensor | None, autocast: bool) -> Tensor:
    from torchvision.ops import deform_conv2d as tv_deform_conv2d

    if autocast:
        # torchvision registers its own autocast rule (float32 compute)
        return tv_deform_conv2d(input, offset, weight, bias, stride, padding, dilation, mask)
    check_deform_args(input, offset, weight, bias, stride, padding, dilation, mask)
    if is_reduced_precision(input.dtype):
        # torchvision has no bfloat16 kernels (and no float16 on CPU): compute in float32
        out = tv_deform_conv2d(input.float(), offset.float(), weight.float(), _cast(bias, torch.float32),
                               stride, padding, dilation, _cast(mask, torch.float32))
        return out.to(input.dtype)
    return tv_deform_conv2d(input, offset, weight, bias, stride, padding, dilation, mask)


def cuda_extension_error() -> str | None:
    """Why ``"auto"`` fell back from the CUDA extension in this process, or None if it has not."""
    error = _cuda_state.get("error")
    return None if error is None else str(error)
