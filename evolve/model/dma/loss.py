"""Training losses of DMA (the authors' training script, weights of their README command).

- Masks: binary cross-entropy (weight ``ce``) + soft-IoU loss ``1 - (I + 1) / (U + 1)`` over
  each (way, clip) volume (weight ``iou``), on logits upsampled bilinearly to the frame size, for
  (a) the predicted masks of the ways whose target is present (of every way with
  ``absent_masks``, ours), (b) the class-agnostic proposal
  against every moving object of the query, (c) the ground-truth-branch masks of every way
  (absent ways against empty targets).
- Presence: BCE-with-logits of the presence scores against "the way's target is present"
  (positive weight ``cls_pos_weight``) for the prediction (with ``presence: way_masks`` both the
  way-mask score ``cls`` and the paper's proposal score ``proposal_cls``) and the ground-truth branch, and of
  the support-pair scores against 0 (two ways are different motions) (weight ``cls``).
- Auxiliary object and motion category cross-entropy on the support (weights 0.005 each;
  object labels of -1 are ignored).
- Orthogonality ``mean |cos(m, a)|`` of support motion and appearance tokens (weight 0.05).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from evolve.model.dma.config import DMALossConfig


def _up(logits: Tensor, size: tuple[int, int]) -> Tensor:
    """(..., h, w) logits -> (..., H, W) bilinear."""
    lead = logits.shape[:-2]
    x = F.interpolate(logits.reshape(-1, 1, *logits.shape[-2:]), size=size, mode="bilinear", align_corners=False)
    return x.view(*lead, *size)


def mask_losses(logits: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    """BCE and soft-IoU loss of mask logits against {0, 1} targets of the same shape (V, T, H, W).

    IoU loss per volume ``1 - (sum(p g) + 1) / (sum(p + g - p g) + 1)``, averaged over V.
    Returns two scalars (zeros when V = 0).
    """
    if logits.shape[0] == 0:
        z = logits.sum() * 0.0
        return z, z
    ce = F.binary_cross_entropy_with_logits(logits, target)
    p = logits.sigmoid().flatten(1)
    g = target.flatten(1)
    inter = (p * g).sum(1)
    union = (p + g - p * g).sum(1)
    iou = 1.0 - (inter + 1.0) / (union + 1.0)
    return ce, iou.mean()


class DMALoss:
    """``loss(outputs, batch) -> {"total_loss", <term>: scalar}`` (module docstring).

    Args:
        config: the weights (:class:`DMALossConfig`).
    """

    def __init__(self, config: DMALossConfig) -> None:
        self.c = config

    def __call__(self, out: dict[str, Tensor], batch: dict) -> dict[str, Tensor]:
        c = self.c
        gt = batch["query_masks"].float()  # (B, N, T, H, W)
        size = tuple(gt.shape[-2:])
        present = batch["present"].bool()  # (B, N)
        losses: dict[str, Tensor] = {}
        pred = _up(out["mask_logits"], size)
        trained = torch.ones_like(present) if c.absent_masks else present
        losses["mask_ce"], losses["mask_iou"] = mask_losses(pred[trained], gt[trained])
        prop = _up(out["proposal_logits"], size)
        losses["proposal_ce"], losses["proposal_iou"] = mask_losses(prop, batch["moving_masks"].float())
        target = present.float()
        pw = torch.tensor(c.cls_pos_weight, device=gt.device)
        losses["cls"] = F.binary_cross_entropy_with_logits(out["cls_logits"], target, pos_weight=pw)
        zero = pred.sum() * 0.0
        if "proposal_cls_logits" in out:  # presence: way_masks trains the paper's score too
            losses["proposal_cls"] = F.binary_cross_entropy_with_logits(out["proposal_cls_logits"], target, pos_weight=pw)
        else:
            losses["proposal_cls"] = zero
        if "gt_mask_logits" in out:
            g = _up(out["gt_mask_logits"], size)
            losses["gt_ce"], losses["gt_iou"] = mask_losses(g.flatten(0, 1), gt.flatten(0, 1))
            losses["gt_cls"] = F.binary_cross_entropy_with_logits(out["gt_cls_logits"], target, pos_weight=pw)
        else:
            losses["gt_ce"] = losses["gt_iou"] = losses["gt_cls"] = zero
        if "support_pair_logits" in out:
            pair = out["support_pair_logits"]
            losses["pair_cls"] = F.binary_cross_entropy_with_logits(pair, torch.zeros_like(pair))
        else:
            losses["pair_cls"] = zero
        if "object_logits" in out:
            lab = batch["object_labels"].long()
            logits = out["object_logits"]
            valid = lab >= 0
            losses["object_cls"] = F.cross_entropy(logits[valid], lab[valid]) if bool(valid.any()) else zero
        else:
            losses["object_cls"] = zero
        if "motion_logits" in out:
            losses["motion_cls"] = F.cross_entropy(out["motion_logits"].flatten(0, 1), batch["motion_labels"].long().flatten())
        else:
            losses["motion_cls"] = zero
        losses["ortho"] = out["ortho"]
        total = (c.ce * (losses["mask_ce"] + losses["proposal_ce"] + losses["gt_ce"])
                 + c.iou * (losses["mask_iou"] + losses["proposal_iou"] + losses["gt_iou"])
                 + c.cls * (losses["cls"] + losses["proposal_cls"] + losses["gt_cls"] + losses["pair_cls"])
                 + c.object_cls * losses["object_cls"] + c.motion_cls * losses["motion_cls"] + c.ortho * losses["ortho"])
        losses["total_loss"] = total
        return losses
