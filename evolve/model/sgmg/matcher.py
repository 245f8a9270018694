"""Hungarian matching of SgMg's queries to the referred objects (DETR, Carion et al., ECCV 2020,
Sec. 3.1; the video form of ReferFormer / SgMg: one query index is matched for the whole clip,
its cost averaged over the clip's frames).

Cost of query q for target k, with weights of :class:`~evolve.model.sgmg.config.SgMgLossConfig`:

    C = w_cls * C_cls + w_box * C_L1 + w_giou * C_giou + w_mask * C_focal + w_dice * C_dice

- ``C_cls`` (Deformable DETR's focal cost): ``alpha (1 - p)^gamma (-log p) - (1 - alpha) p^gamma
  (-log(1 - p))`` with p the query's score, averaged over the frames where the target is visible;
- ``C_L1``: L1 distance of the cxcywh boxes, ``C_giou``: minus their generalised IoU
  (Rezatofighi et al., CVPR 2019), both averaged over the visible frames;
- ``C_focal``: mean per-pixel sigmoid focal loss and ``C_dice``: Dice loss of the mask logits
  against the target mask, averaged over all frames.

The assignment minimises the summed cost with ``scipy.optimize.linear_sum_assignment``.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torch import Tensor
from torchvision.ops import box_convert, generalized_box_iou


def hungarian_match(cost: Tensor | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Minimum-cost assignment of rows (queries) to columns (targets).

    Args:
        cost: (Q, K) cost matrix (Q >= K for every target to be matched).
    Returns:
        ``(rows, cols)`` int64 arrays of length min(Q, K), sorted by row: query ``rows[i]`` is
        matched to target ``cols[i]``.
    Raises:
        ValueError: a NaN or infinite cost.
    """
    c = cost.detach().float().cpu().numpy() if isinstance(cost, Tensor) else np.asarray(cost, dtype=np.float64)
    if not np.all(np.isfinite(c)):
        raise ValueError("the matching cost has NaN or infinite entries")
    rows, cols = linear_sum_assignment(c)
    return rows.astype(np.int64), cols.astype(np.int64)


def focal_class_cost(logits: Tensor, alpha: float, gamma: float) -> Tensor:
    """Per-entry focal classification cost of being matched (positive) vs not, same shape as ``logits``."""
    p = torch.sigmoid(logits.float())
    neg = (1 - alpha) * p.pow(gamma) * (-torch.log((1 - p).clamp(min=1e-8)))
    pos = alpha * (1 - p).pow(gamma) * (-torch.log(p.clamp(min=1e-8)))
    return pos - neg


def pairwise_mask_costs(logits: Tensor, targets: Tensor, alpha: float, gamma: float) -> tuple[Tensor, Tensor]:
    """Mean sigmoid focal loss and Dice loss of every (prediction, target) pair.

    Args:
        logits: (Q, P) mask logits over P pixels; targets: (K, P) in [0, 1].
    Returns:
        ``(focal, dice)`` each (Q, K).
    """
    x = logits.float()
    y = targets.float()
    p = torch.sigmoid(x)
    pixels = x.shape[1]
    # focal loss = y * pos_term + (1 - y) * neg_term, summed over pixels as matrix products
    pos = alpha * (1 - p).pow(gamma) * torch.nn.functional.binary_cross_entropy_with_logits(x, torch.ones_like(x), reduction="none")
    neg = (1 - alpha) * p.pow(gamma) * torch.nn.functional.binary_cross_entropy_with_logits(x, torch.zeros_like(x), reduction="none")
    focal = (pos @ y.T + neg @ (1 - y).T) / pixels
    numerator = 2 * (p @ y.T)
    denominator = p.sum(-1)[:, None] + y.sum(-1)[None, :]
    dice = 1 - (numerator + 1) / (denominator + 1)
    return focal, dice


@torch.no_grad()
def clip_match_cost(
    logits: Tensor, boxes: Tensor, mask_logits: Tensor, target_boxes: Tensor, target_masks: Tensor, valid: Tensor, weights
) -> Tensor:
    """Matching cost of every query against every target over one clip (module docstring).

    Args:
        logits: (T, Q) class logits; boxes: (T, Q, 4) cxcywh in [0, 1];
        mask_logits: (T, Q, h, w); target_boxes: (T, K, 4) cxcywh; target_masks: (T, K, h, w)
            in [0, 1] (resized to the predictions' size); valid: (T, K) bool, target visible.
        weights: a :class:`~evolve.model.sgmg.config.SgMgLossConfig`.
    Returns:
        (Q, K) float32 cost.
    """
    t, q = logits.shape
    k = target_boxes.shape[1]
    vis = valid.float()  # (T, K)
    frames_vis = vis.sum(0).clamp(min=1.0)  # (K,)
    cls = focal_class_cost(logits, weights.focal_alpha, weights.focal_gamma)  # (T, Q)
    cost_cls = torch.einsum("tq,tk->qk", cls, vis) / frames_vis
    l1 = torch.cdist(boxes.float(), target_boxes.float(), p=1)  # (T, Q, K)
    cost_l1 = torch.einsum("tqk,tk->qk", l1, vis) / frames_vis
    giou = torch.stack([
        generalized_box_iou(box_convert(boxes[i].float(), "cxcywh", "xyxy"), box_convert(target_boxes[i].float(), "cxcywh", "xyxy"))
        for i in range(t)
    ])  # (T, Q, K)
    cost_giou = -torch.einsum("tqk,tk->qk", giou, vis) / frames_vis
    focal = torch.zeros(q, k, device=logits.device)
    dice = torch.zeros(q, k, device=logits.device)
    for i in range(t):
        f_i, d_i = pairwise_mask_costs(mask_logits[i].flatten(1), target_masks[i].flatten(1), weights.focal_alpha, weights.focal_gamma)
        focal += f_i / t
        dice += d_i / t
    return (weights.class_weight * cost_cls + weights.box_weight * cost_l1 + weights.giou_weight * cost_giou
            + weights.mask_weight * focal + weights.dice_weight * dice)
