"""Per-frame DAVIS measures: region similarity J and boundary accuracy F.

Semantics follow the DAVIS 2017 semi-supervised benchmark (``davis2017-evaluation``,
``davis2017/metrics.py``) exactly; DESIGN section 5 and docs/evaluation.md give the rules:

- J = |G ∩ P| / |G ∪ P| (region IoU), 1 when both masks are empty.
- F = 2PR / (P + R) on 1-pixel boundary maps (:func:`boundary_map`), where a boundary pixel
  of one map counts as matched when a boundary pixel of the other map lies inside the disk
  of radius :func:`boundary_tolerance` pixels around it (:func:`disk_footprint`).
  Empty boundaries: both empty -> P = R = 1; prediction empty only -> P = 1, R = 0;
  ground truth empty only -> P = 0, R = 1; F = 0 when P + R = 0.

Everything works on boolean (H, W) masks; the per-object work is done on the bounding box
of the object (plus one pixel), which gives the same numbers as the full image (see
:func:`object_frame_scores`) at a fraction of the cost.
"""

from __future__ import annotations

import math
from functools import lru_cache

import cv2
import numpy as np

#: Default boundary tolerance as a fraction of the image diagonal (DAVIS ``bound_th``).
BOUND_TH = 0.008


def boundary_tolerance(height: int, width: int, bound_th: float = BOUND_TH) -> int:
    """Radius in pixels of the boundary matching disk.

    ``ceil(bound_th * sqrt(height**2 + width**2))`` when ``bound_th < 1`` (8 px at 854x480),
    else ``bound_th`` itself taken as a number of pixels (DAVIS ``f_measure``).

    Raises:
        ValueError: ``bound_th`` not positive, or ``>= 1`` and not a whole number of pixels.
    """
    if not bound_th > 0:
        raise ValueError(f"bound_th must be > 0, got {bound_th}")
    if bound_th >= 1:
        if bound_th != int(bound_th):
            raise ValueError(f"a tolerance of >= 1 is a number of pixels and must be whole, got {bound_th}")
        return int(bound_th)
    return int(math.ceil(bound_th * math.sqrt(height * height + width * width)))


@lru_cache(maxsize=16)
def _disk(radius: int) -> np.ndarray:
    offsets = np.arange(-radius, radius + 1)
    inside = offsets[:, None] ** 2 + offsets[None, :] ** 2 <= radius * radius
    out = inside.astype(np.uint8)
    out.setflags(write=False)
    return out


def disk_footprint(radius: int) -> np.ndarray:
    """The disk structuring element of the DAVIS boundary measure.

    Returns:
        uint8 (2r+1, 2r+1): 1 where ``dy**2 + dx**2 <= r**2`` (offsets from the centre), the
        definition of ``skimage.morphology.disk(r)`` (default ``strict_radius=True``) that the
        official code passes to ``cv2.dilate``. Read-only (cached).

    Raises:
        ValueError: negative radius.
    """
    radius = int(radius)
    if radius < 0:
        raise ValueError(f"radius must be >= 0, got {radius}")
    return _disk(radius)


def boundary_map(mask: np.ndarray) -> np.ndarray:
    """1-pixel boundary map of a binary mask (DAVIS ``_seg2bmap`` semantics).

    A pixel is on the boundary when it differs from its east, south or south-east
    neighbour (boundaries sit half a pixel towards the origin). On the last row only the
    east neighbour is compared, on the last column only the south neighbour, and the
    bottom-right pixel is never a boundary pixel, so a mask touching the bottom/right image
    edge has no boundary along that edge and a full-image mask has an empty boundary.

    Args:
        mask: (H, W) array, non-zero = foreground.

    Returns:
        bool (H, W).
    """
    seg = np.asarray(mask).astype(bool, copy=False)
    if seg.ndim != 2:
        raise ValueError(f"mask must be (H, W), got shape {seg.shape}")
    out = np.zeros(seg.shape, dtype=bool)
    if seg.size == 0:
        return out
    body = seg[:-1, :-1]
    out[:-1, :-1] = (body != seg[:-1, 1:]) | (body != seg[1:, :-1]) | (body != seg[1:, 1:])
    out[-1, :-1] = seg[-1, :-1] != seg[-1, 1:]  # last row: east neighbour only
    out[:-1, -1] = seg[:-1, -1] != seg[1:, -1]  # last column: south neighbour only
    out[-1, -1] = False
    return out


def _f_from_boundaries(gt_boundary: np.ndarray, pred_boundary: np.ndarray, footprint: np.ndarray) -> float:
    """F from two boundary maps of the same (crop) size; DAVIS precision/recall rules."""
    n_pred = int(np.count_nonzero(pred_boundary))
    n_gt = int(np.count_nonzero(gt_boundary))
    if n_pred == 0 and n_gt == 0:
        return 1.0  # P = R = 1
    if n_pred == 0 or n_gt == 0:
        return 0.0  # (P, R) = (1, 0) or (0, 1) -> F = 0
    # Pixels outside the array count as 0 for cv2.dilate's default border, which is exact
    # here because every boundary pixel lies inside the array.
    gt_dil = cv2.dilate(gt_boundary.view(np.uint8), footprint)
    pred_dil = cv2.dilate(pred_boundary.view(np.uint8), footprint)
    precision = np.count_nonzero(pred_boundary & gt_dil.view(bool)) / n_pred
    recall = np.count_nonzero(gt_boundary & pred_dil.view(bool)) / n_gt
    if precision + recall == 0:
        return 0.0
    return 2.0 * precision * recall / (precision + recall)


def object_frame_scores(gt: np.ndarray, pred: np.ndarray, radius: int) -> tuple[float, float]:
    """J and F of one object in one frame.

    Works on the bounding box of ``gt | pred`` grown by one pixel up/left (where the
    half-pixel boundary of the top/left edges lies) and one pixel down/right (so every
    pixel of the box sees its true east/south neighbours, background beyond the box). No
    boundary pixel lies outside that box, so J, the boundary maps and the matching equal
    those of the full (H, W) image exactly.

    Args:
        gt, pred: bool (H, W) masks of the object (ground truth, prediction).
        radius: boundary tolerance in pixels (:func:`boundary_tolerance` of the full image).

    Returns:
        ``(J, F)`` as Python floats in [0, 1]; ``(1.0, 1.0)`` when both masks are empty.
    """
    union = gt | pred
    rows = np.flatnonzero(union.any(axis=1))
    if rows.size == 0:
        return 1.0, 1.0
    cols = np.flatnonzero(union.any(axis=0))
    h, w = union.shape
    y0, y1 = max(int(rows[0]) - 1, 0), min(int(rows[-1]) + 2, h)
    x0, x1 = max(int(cols[0]) - 1, 0), min(int(cols[-1]) + 2, w)
    g = np.ascontiguousarray(gt[y0:y1, x0:x1])
    p = np.ascontiguousarray(pred[y0:y1, x0:x1])
    j = np.count_nonzero(g & p) / np.count_nonzero(union[y0:y1, x0:x1])
    f = _f_from_boundaries(boundary_map(g), boundary_map(p), disk_footprint(radius))
    return float(j), float(f)


def region_similarity(gt: np.ndarray, pred: np.ndarray) -> float:
    """J: IoU of two binary (H, W) masks (non-zero = foreground); 1.0 when both are empty.

    Source: DAVIS 2017 ``db_eval_iou`` (no void pixels in the semi-supervised task).

    Raises:
        ValueError: shapes differ.
    """
    g, p = _as_pair(gt, pred)
    union = np.count_nonzero(g | p)
    return 1.0 if union == 0 else float(np.count_nonzero(g & p) / union)


def boundary_f_measure(gt: np.ndarray, pred: np.ndarray, bound_th: float = BOUND_TH) -> float:
    """F: boundary F-measure of two binary (H, W) masks (non-zero = foreground).

    Tolerance radius ``boundary_tolerance(H, W, bound_th)`` pixels; rules in the module
    docstring. Source: DAVIS 2017 ``f_measure``.

    Raises:
        ValueError: shapes differ.
    """
    g, p = _as_pair(gt, pred)
    return object_frame_scores(g, p, boundary_tolerance(*g.shape, bound_th))[1]


def frame_scores(
    gt_ids: np.ndarray, pred_ids: np.ndarray, object_ids: list[int] | tuple[int, ...], radius: int
) -> tuple[np.ndarray, np.ndarray]:
    """J and F of every object of one frame.

    Args:
        gt_ids, pred_ids: integer (H, W) object-id masks (0 = background), same shape.
        object_ids: the ids to score (the sequence's objects), length N.
        radius: boundary tolerance in pixels.

    Returns:
        ``(j, f)``: float64 arrays (N,).
    """
    j = np.empty(len(object_ids), dtype=np.float64)
    f = np.empty(len(object_ids), dtype=np.float64)
    for i, k in enumerate(object_ids):
        j[i], f[i] = object_frame_scores(gt_ids == k, pred_ids == k, radius)
    return j, f


def _as_pair(gt: np.ndarray, pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    g = np.asarray(gt).astype(bool, copy=False)
    p = np.asarray(pred).astype(bool, copy=False)
    if g.shape != p.shape or g.ndim != 2:
        raise ValueError(f"masks must be (H, W) of the same shape, got {g.shape} and {p.shape}")
    return g, p
