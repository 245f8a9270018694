"""Intermediate frames between two frames: motion-compensated with OpenCV DIS optical flow.

The learned interpolators used to make LLE-DAVIS (FILM) and by v2e/vid2e (Super-SloMo) need
checkpoints that cannot be downloaded here; DIS flow is classical and ships with OpenCV
(reference/events_and_lowlight.md 1.4). Intermediate flows follow the linear-motion
approximation of Super-SloMo (Jiang et al., CVPR 2018, Eq. 4):

    F_t->0 = -(1 - t) t F_0->1 + t^2 F_1->0
    F_t->1 = (1 - t)^2 F_0->1 - t (1 - t) F_1->0
    I_t    = (1 - t) I_0(p + F_t->0) + t I_1(p + F_t->1)
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

_PRESETS = {"ultrafast": 0, "fast": 1, "medium": 2}


def to_flow_u8(luma: np.ndarray, scale: float | None = None) -> np.ndarray:
    """Stretch a float luma (H, W) in [0, 1] to uint8 for flow estimation.

    Dark (low-light) frames are divided by ``scale`` (default: their 99.5th percentile) so the
    flow sees usable contrast.
    """
    luma = np.asarray(luma, dtype=np.float32)
    if scale is None:
        scale = float(np.percentile(luma, 99.5))
    scale = max(scale, 1e-3)
    return np.clip(luma / scale * 255.0 + 0.5, 0, 255).astype(np.uint8)


def dis_flow(first_u8: np.ndarray, second_u8: np.ndarray, preset: str = "fast") -> np.ndarray:
    """Dense optical flow from ``first`` to ``second`` with OpenCV DIS.

    Args:
        first_u8, second_u8: uint8 (H, W) grayscale images.
        preset: ``ultrafast``, ``fast`` or ``medium``.

    Returns:
        float32 (H, W, 2) flow in pixels, (dx, dy): ``first(y, x) ~ second(y + dy, x + dx)``.
    """
    import cv2

    dis = cv2.DISOpticalFlow_create(_PRESETS[preset])
    flow = dis.calc(np.ascontiguousarray(first_u8), np.ascontiguousarray(second_u8), None)
    return flow.astype(np.float32)


def bidirectional_flow(luma0: np.ndarray, luma1: np.ndarray, preset: str = "fast") -> tuple[np.ndarray, np.ndarray]:
    """``(F_0->1, F_1->0)``, each float32 (H, W, 2), from two float lumas (H, W) in [0, 1].

    Both frames are stretched with the same scale (the larger 99.5th percentile).
    """
    scale = max(float(np.percentile(luma0, 99.5)), float(np.percentile(luma1, 99.5)))
    a, b = to_flow_u8(luma0, scale), to_flow_u8(luma1, scale)
    return dis_flow(a, b, preset), dis_flow(b, a, preset)


def backward_warp(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Sample ``image`` at ``p + flow(p)`` (bilinear, border values outside).

    Args:
        image: float (H, W).
        flow: float (H, W, 2) in pixels, (dx, dy), same device.

    Returns:
        float (H, W).
    """
    h, w = image.shape
    ys = torch.arange(h, device=image.device, dtype=image.dtype).view(h, 1)
    xs = torch.arange(w, device=image.device, dtype=image.dtype).view(1, w)
    gx = (xs + flow[..., 0]) * (2.0 / max(w - 1, 1)) - 1.0  # (H, W) normalised column
    gy = (ys + flow[..., 1]) * (2.0 / max(h - 1, 1)) - 1.0  # (H, W) normalised row
    grid = torch.stack((gx, gy), dim=-1).unsqueeze(0)  # (1, H, W, 2)
    out = F.grid_sample(image[None, None], grid, mode="bilinear", padding_mode="border", align_corners=True)
    return out[0, 0]


def flow_interpolate(
    image0: torch.Tensor, image1: torch.Tensor, flow01: torch.Tensor, flow10: torch.Tensor, t: float
) -> torch.Tensor:
    """Intermediate frame at fraction ``t`` in [0, 1] (Super-SloMo Eq. 4 linear-motion flows).

    Args:
        image0, image1: float (H, W) intensities at t = 0 and t = 1.
        flow01, flow10: float (H, W, 2) flows 0->1 and 1->0 in pixels (see :func:`dis_flow`).

    Returns:
        float (H, W); equals ``image0`` at t = 0 and ``image1`` at t = 1.
    """
    if t <= 0.0:
        return image0
    if t >= 1.0:
        return image1
    f_t0 = -(1.0 - t) * t * flow01 + t * t * flow10  # (H, W, 2)
    f_t1 = (1.0 - t) ** 2 * flow01 - t * (1.0 - t) * flow10  # (H, W, 2)
    return (1.0 - t) * backward_warp(image0, f_t0) + t * backward_warp(image1, f_t1)
