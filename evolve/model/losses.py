"""Training losses (Cutie's, unchanged by EVOLVE; DESIGN 3, cutie.md 3.5).

Point-supervised cross entropy + Dice on frames 1..T-1 summed over time, with PointRend /
Mask2Former uncertainty point sampling (Kirillov et al., CVPR 2020, "PointRend", Sec. 3.1
"training"; Cheng et al., CVPR 2022, "Mask2Former", Sec. 4.1): draw ``oversample_ratio * P``
uniform points, keep the ``importance_sample_ratio * P`` most uncertain (uncertainty = minus
the margin between the two largest logits), fill up with uniform points. The same losses on
the sensory aux logits and on each of the 4 query-level aux logits, weighted 0.01 each.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor


@dataclass
class LossConfig:
    """Loss settings (Cutie / EVOLVE main training; pre-training uses num_points 8192).

    Attributes:
        num_points: points per frame (12544 = 112^2).
        oversample_ratio: candidate points = oversample_ratio * num_points (3).
        importance_sample_ratio: fraction of points taken from the most uncertain (0.75).
        sensory_aux_weight, query_aux_weight: weights of the auxiliary losses (0.01 each).
        point_padding: ``zeros`` (Cutie's point sampling) or ``border``; see :func:`point_sample`.
    """

    num_points: int = 12544
    oversample_ratio: float = 3.0
    importance_sample_ratio: float = 0.75
    sensory_aux_weight: float = 0.01
    query_aux_weight: float = 0.01
    point_padding: str = "zeros"

    def __post_init__(self) -> None:
        if self.point_padding not in ("zeros", "border"):
            raise ValueError(f"point_padding must be 'zeros' or 'border', got {self.point_padding!r}")


def point_sample(x: Tensor, coords: Tensor, padding: str = "zeros") -> Tensor:
    """Bilinearly sample ``x`` at normalised points (grid_sample, align_corners=False).

    ``padding="zeros"`` is Cutie's (and PointRend's) ``point_sample``: a point within half a
    pixel of the image edge blends with zeros outside. ``"border"`` takes the edge value instead
    (our earlier choice: zero padding shrinks one-hot labels there to less than one).

    Args:
        x: (M, C, H, W).
        coords: (M, P, 2) points as (x, y) in [0, 1] of the image extent.
        padding: ``"zeros"`` or ``"border"``.
    Returns:
        (M, C, P), dtype of ``x``.
    """
    grid = (2.0 * coords - 1.0).unsqueeze(1).to(x.dtype)  # (M, 1, P, 2)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode=padding, align_corners=False).squeeze(2)


def margin_uncertainty(logits: Tensor) -> Tensor:
    """Uncertainty of class logits: ``-(top1 - top2)`` (highest where the two best classes tie).

    Args:
        logits: (M, C, P) with C >= 2.
    Returns:
        (M, P).
    """
    top2 = torch.topk(logits, k=2, dim=1).values
    return top2[:, 1] - top2[:, 0]


def uncertain_point_coords(logits: Tensor, num_points: int, oversample_ratio: float, importance_sample_ratio: float, padding: str = "zeros") -> Tensor:
    """Uncertainty-biased random points (PointRend training sampling), no gradient.

    Args:
        logits: (M, C, H, W) class logits (C >= 2).
        num_points: P.
        oversample_ratio: candidates = int(P * oversample_ratio) (>= 1).
        importance_sample_ratio: int(P * ratio) points are the most uncertain candidates, the
            rest are uniform.
    Returns:
        (M, P, 2) coordinates (x, y) in [0, 1].
    """
    m = logits.shape[0]
    device = logits.device
    with torch.no_grad():
        num_candidates = max(int(num_points * oversample_ratio), 1)
        num_uncertain = min(int(num_points * importance_sample_ratio), num_candidates)
        num_random = num_points - num_uncertain
        candidates = torch.rand(m, num_candidates, 2, device=device)
        uncertainty = margin_uncertainty(point_sample(logits.float(), candidates, padding))  # (M, K)
        idx = torch.topk(uncertainty, k=num_uncertain, dim=1).indices  # (M, num_uncertain)
        chosen = torch.gather(candidates, 1, idx.unsqueeze(-1).expand(-1, -1, 2))
        if num_random > 0:
            chosen = torch.cat([chosen, torch.rand(m, num_random, 2, device=device)], dim=1)
    return chosen


def soft_cross_entropy(point_logits: Tensor, point_labels: Tensor) -> Tensor:
    """Cross entropy with soft targets, summed over frames, averaged over points.

    Args:
        point_logits, point_labels: (T, C, P) (labels are probabilities over C).
    Returns:
        scalar: ``mean_p sum_t -sum_c y log softmax(x)``.
    """
    loss = -(point_labels * torch.log_softmax(point_logits, dim=1)).sum(dim=1)  # (T, P)
    return loss.sum(0).mean()


def dice_loss(prob: Tensor, labels: Tensor) -> Tensor:
    """Dice loss ``1 - (2 |p y| + 1) / (|p| + |y| + 1)`` per frame and object, summed over
    frames, averaged over objects.

    Args:
        prob, labels: (T, N, P) foreground probabilities / labels.
    """
    numerator = 2 * (prob * labels).sum(-1)
    denominator = prob.sum(-1) + labels.sum(-1)
    loss = 1 - (numerator + 1) / (denominator + 1)  # (T, N)
    return loss.sum(0).mean()


class LossComputer:
    """Cutie's losses over the outputs of :class:`~evolve.model.evolve.train_wrapper.TrainWrapper`.

    Args:
        config: :class:`LossConfig`.

    Call ``loss_computer(outputs, batch)`` -> dict of scalar tensors:
    ``loss_ce``, ``loss_dice`` (final logits), ``aux_sensory_ce``, ``aux_sensory_dice``,
    ``aux_query_ce_<l>``, ``aux_query_dice_<l>`` (l = 0..3), and ``total_loss`` =
    ce + dice + w_s (sensory ce + dice) + w_q sum_l (query ce + dice), each averaged over the
    batch.
    """

    def __init__(self, config: LossConfig | None = None) -> None:
        self.config = config or LossConfig()

    def _mask_loss(self, logits: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
        """logits (T, 1+n, h, w) at any stride, labels (T, 1+n, H, W) one-hot -> (ce, dice)."""
        c = self.config
        coords = uncertain_point_coords(logits, c.num_points, c.oversample_ratio, c.importance_sample_ratio, c.point_padding)
        with torch.no_grad():
            point_labels = point_sample(labels, coords, c.point_padding)  # (T, 1+n, P)
        point_logits = point_sample(logits.float(), coords, c.point_padding)
        ce = soft_cross_entropy(point_logits, point_labels)
        dice = dice_loss(torch.softmax(point_logits, dim=1)[:, 1:], point_labels[:, 1:])
        return ce, dice

    def __call__(self, outputs: dict[str, Any], batch: dict[str, Any]) -> dict[str, Tensor]:
        """Compute the losses.

        Args:
            outputs: TrainWrapper outputs (``logits``, ``sensory_logits``, ``q_logits``,
                ``num_objects``).
            batch: the clip dict; uses ``cls_gt`` int64 (B, T, 1, H, W) with labels 0..n.
        Returns:
            dict of scalar tensors (see the class docstring).

        Labels must lie in 0..num_objects of their clip; the samplers validate them when they
        build a clip (:mod:`evolve.data.train_sampler`), so this hot path reads nothing back.
        """
        cls_gt = batch["cls_gt"]
        num_objects = outputs["num_objects"]
        b = len(num_objects)
        terms: dict[str, Tensor] = {}

        def add(name: str, value: Tensor) -> None:
            terms[name] = terms.get(name, 0) + value / b  # type: ignore[operator]

        for i, n in enumerate(num_objects):
            gt = cls_gt[i, 1:, 0].long()  # (T-1, H, W)
            labels = F.one_hot(gt, n + 1).permute(0, 3, 1, 2).float()  # (T-1, 1+n, H, W)
            ce, dice = self._mask_loss(outputs["logits"][i, :, : n + 1], labels)
            add("loss_ce", ce)
            add("loss_dice", dice)
            ce, dice = self._mask_loss(outputs["sensory_logits"][i, :, : n + 1], labels)
            add("aux_sensory_ce", ce)
            add("aux_sensory_dice", dice)
            for level, q in enumerate(outputs["q_logits"]):
                ce, dice = self._mask_loss(q[i, :, : n + 1], labels)
                add(f"aux_query_ce_{level}", ce)
                add(f"aux_query_dice_{level}", dice)

        c = self.config
        total = terms["loss_ce"] + terms["loss_dice"]
        total = total + c.sensory_aux_weight * (terms["aux_sensory_ce"] + terms["aux_sensory_dice"])
        for level in range(len(outputs["q_logits"])):
            total = total + c.query_aux_weight * (terms[f"aux_query_ce_{level}"] + terms[f"aux_query_dice_{level}"])
        terms["total_loss"] = total
        return terms
