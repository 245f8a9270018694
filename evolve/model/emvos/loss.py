"""EMVOS's loss: 2-class cross-entropy of every object's logits at full resolution
(Cho et al. 2022, arXiv 2209.03139), averaged over the real objects."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor


class EMVOSLoss:
    """``loss(outputs, batch) -> {"total_loss", "ce_loss"}`` (float32 scalars).

    ``ce_loss = sum_{b,n} s_bn mean_{t,pixels} CE(logits[b,t,n], target[b,t,n]) / sum s_bn``
    with ``s`` the selector (padding objects weigh 0); ``total_loss = ce_loss``.
    The batch is not read: the wrapper's ``target`` is the ground truth after swap-and-attach.
    """

    def __call__(self, outputs: dict[str, Any], batch: Any = None) -> dict[str, Tensor]:
        logits = outputs["logits"].float()  # (B, T', N, 2, H, W)
        target = outputs["target"]  # (B, T', N, H, W)
        sel = outputs["selector"].float()  # (B, N)
        ce = F.cross_entropy(logits.movedim(3, 1), target, reduction="none")  # (B, T', N, H, W)
        per_object = ce.mean(dim=(1, 3, 4))  # (B, N)
        loss = (per_object * sel).sum() / sel.sum().clamp(min=1)
        return {"total_loss": loss, "ce_loss": loss.detach()}
