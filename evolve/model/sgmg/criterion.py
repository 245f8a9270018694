"""SgMg's training losses (ReferFormer / SgMg set criterion; Wu et al., CVPR 2022, Sec. 3.4).

For each clip the matched query (:mod:`evolve.model.sgmg.matcher`) is the positive:

- class: sigmoid focal loss (Lin et al., ICCV 2017) on every query and frame, target 1 for the
  matched query on frames where the object is visible, 0 otherwise; summed and divided by the
  number of (clip, frame) pairs;
- box: L1 and 1 - GIoU of the matched query's cxcywh box on the visible frames (mean);
- mask: per-pixel sigmoid focal loss (mean) and Dice loss of the matched query's masks on every
  frame, both for the final MSO masks (full resolution) and for the patch masks before MSO
  (stride 2, targets area-downsampled), as SgMg's ``loss_mask``/``loss_dice`` and
  ``loss_mask_low``/``loss_dice_low``.

With ``aux_loss`` the class, box and patch-mask losses of every earlier decoder layer (each
with its own matching) are added with the same weights.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torchvision.ops import box_convert, generalized_box_iou, sigmoid_focal_loss

from evolve.model.sgmg.config import SgMgLossConfig


def dice_loss(logits: Tensor, targets: Tensor) -> Tensor:
    """Mean over rows of ``1 - (2 sum(p y) + 1) / (sum p + sum y + 1)``; logits, targets (M, P)."""
    p = torch.sigmoid(logits.float())
    y = targets.float()
    return (1 - (2 * (p * y).sum(-1) + 1) / (p.sum(-1) + y.sum(-1) + 1)).mean()


def mask_losses(logits: Tensor, targets: Tensor, cfg: SgMgLossConfig) -> tuple[Tensor, Tensor]:
    """(focal, dice) of mask logits (M, h, w) against targets (M, H, W) in [0, 1]
    (targets are area-resized to (h, w) when the sizes differ)."""
    if targets.shape[-2:] != logits.shape[-2:]:
        targets = F.interpolate(targets[:, None].float(), size=logits.shape[-2:], mode="area")[:, 0]
    x, y = logits.flatten(1).float(), targets.flatten(1).float()
    focal = sigmoid_focal_loss(x, y, alpha=cfg.focal_alpha, gamma=cfg.focal_gamma, reduction="mean")
    return focal, dice_loss(x, y)


def layer_losses(layer: dict[str, Tensor], query: Tensor, batch: dict[str, Any], cfg: SgMgLossConfig, low_res: Tensor) -> dict[str, Tensor]:
    """Class, box and patch-mask losses of one decoder layer.

    Args:
        layer: ``logits`` (B, T, Q), ``boxes`` (B, T, Q, 4); query: (B,) long, the matched
            query of each clip; batch: ``masks`` (B, T, H, W), ``boxes`` (B, T, 4), ``valid``
            (B, T); low_res: (B, T, h, w) the matched query's patch-mask logits.
    Returns:
        ``{"class", "box_l1", "giou", "mask_low", "dice_low"}`` unweighted scalars.
    """
    b, t, q = layer["logits"].shape
    valid = batch["valid"].bool()  # (B, T)
    target = torch.zeros_like(layer["logits"], dtype=torch.float32)
    target[torch.arange(b), :, query] = valid.float()
    cls = sigmoid_focal_loss(layer["logits"].float(), target, alpha=cfg.focal_alpha, gamma=cfg.focal_gamma, reduction="sum") / (b * t)
    pred_box = layer["boxes"][torch.arange(b), :, query]  # (B, T, 4)
    if valid.any():
        pb, tb = pred_box[valid].float(), batch["boxes"][valid].float()
        box_l1 = F.l1_loss(pb, tb, reduction="none").sum(-1).mean()
        giou = (1 - torch.diag(generalized_box_iou(box_convert(pb, "cxcywh", "xyxy"), box_convert(tb, "cxcywh", "xyxy")))).mean()
    else:
        box_l1 = giou = pred_box.sum() * 0.0
    focal, dice = mask_losses(low_res.flatten(0, 1), batch["masks"].flatten(0, 1), cfg)
    return {"class": cls, "box_l1": box_l1, "giou": giou, "mask_low": focal, "dice_low": dice}


class SgMgCriterion:
    """``loss(outputs, batch) -> {"total_loss", terms...}`` over the outputs of
    :class:`~evolve.model.sgmg.train_wrapper.SgMgTrainWrapper` (module docstring)."""

    def __init__(self, cfg: SgMgLossConfig | None = None) -> None:
        self.cfg = cfg or SgMgLossConfig()

    def __call__(self, outputs: dict[str, Any], batch: dict[str, Any]) -> dict[str, Tensor]:
        cfg = self.cfg
        weights = {"class": cfg.class_weight, "box_l1": cfg.box_weight, "giou": cfg.giou_weight,
                   "mask_low": cfg.mask_weight, "dice_low": cfg.dice_weight}
        layers = outputs["layers"]
        out: dict[str, Tensor] = {}
        total = torch.zeros((), device=batch["masks"].device)
        chosen = range(len(layers)) if cfg.aux_loss else [len(layers) - 1]
        for index in chosen:
            terms = layer_losses(layers[index], outputs["queries"][index], batch, cfg, outputs["low_res"][index])
            suffix = "" if index == len(layers) - 1 else f"_aux{index}"
            for name, value in terms.items():
                out[name + suffix] = value
                total = total + weights[name] * value
        focal, dice = mask_losses(outputs["masks"].flatten(0, 1), batch["masks"].flatten(0, 1), cfg)
        out["mask"], out["dice"] = focal, dice
        total = total + cfg.mask_weight * focal + cfg.dice_weight * dice
        out["total_loss"] = total
        return out
