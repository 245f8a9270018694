"""Hungarian matching on hand-made cost matrices, and the clip cost's choice of query."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from evolve.model.sgmg.config import SgMgLossConfig
from evolve.model.sgmg.matcher import clip_match_cost, focal_class_cost, hungarian_match, pairwise_mask_costs


def test_hand_made_square_matrix_beats_greedy():
    # greedy (row 0 takes its cheapest column 0, then row 1 gets 1, row 2 gets 2) costs 1 + 5 + 9 = 15;
    # the optimum is 0->1, 1->2, 2->0 with 2 + 3 + 1 = 6
    cost = np.array([[1.0, 2.0, 8.0],
                     [9.0, 5.0, 3.0],
                     [1.0, 7.0, 9.0]])
    rows, cols = hungarian_match(cost)
    assert rows.tolist() == [0, 1, 2] and cols.tolist() == [1, 2, 0]
    assert cost[rows, cols].sum() == 6.0


def test_hand_made_rectangular_matrix_five_queries_two_targets():
    cost = torch.tensor([[4.0, 4.0],
                         [0.5, 0.6],
                         [3.0, 3.0],
                         [0.4, 2.0],
                         [5.0, 5.0]])
    rows, cols = hungarian_match(cost)
    # query 3 is best for target 0 and query 1 for target 1 (0.4 + 0.6 = 1.0 < 0.5 + 2.0)
    assert dict(zip(rows.tolist(), cols.tolist())) == {1: 1, 3: 0}


def test_nan_cost_refused():
    with pytest.raises(ValueError, match="NaN"):
        hungarian_match(np.array([[np.nan, 1.0]]))


def test_focal_class_cost_values():
    logit = torch.tensor([0.0])  # p = 0.5
    # alpha (1-p)^2 (-log p) - (1-alpha) p^2 (-log(1-p)) = 0.25*0.25*ln2 - 0.75*0.25*ln2
    assert torch.allclose(focal_class_cost(logit, 0.25, 2.0), torch.tensor([(0.0625 - 0.1875) * float(np.log(2))]), atol=1e-6)


def test_pairwise_mask_costs_match_direct_formula():
    torch.manual_seed(0)
    logits = torch.randn(3, 10)
    targets = (torch.rand(2, 10) > 0.5).float()
    focal, dice = pairwise_mask_costs(logits, targets, 0.25, 2.0)
    from torchvision.ops import sigmoid_focal_loss

    for q in range(3):
        for k in range(2):
            f = sigmoid_focal_loss(logits[q], targets[k], alpha=0.25, gamma=2.0, reduction="mean")
            p = torch.sigmoid(logits[q])
            d = 1 - (2 * (p * targets[k]).sum() + 1) / (p.sum() + targets[k].sum() + 1)
            assert torch.allclose(focal[q, k], f, atol=1e-6) and torch.allclose(dice[q, k], d, atol=1e-6)


def test_clip_cost_prefers_the_query_that_fits_the_target():
    t, q, h, w = 2, 3, 8, 8
    target_mask = torch.zeros(t, 1, h, w)
    target_mask[:, 0, 2:6, 2:6] = 1
    target_box = torch.tensor([[[0.5, 0.5, 0.5, 0.5]]]).expand(t, 1, 4)
    logits = torch.zeros(t, q)
    boxes = torch.tensor([[0.2, 0.2, 0.2, 0.2], [0.5, 0.5, 0.5, 0.5], [0.8, 0.8, 0.3, 0.3]]).expand(t, q, 4)
    masks = torch.full((t, q, h, w), -8.0)
    masks[:, 1] = target_mask[:, 0] * 16 - 8  # query 1 draws the object
    cost = clip_match_cost(logits, boxes, masks, target_box, target_mask, torch.ones(t, 1, dtype=torch.bool), SgMgLossConfig())
    assert cost.shape == (q, 1)
    rows, cols = hungarian_match(cost)
    assert rows.tolist() == [1] and cols.tolist() == [0]
    # raising only query 0's score cannot outweigh its wrong box and mask
    logits[:, 0] = 5.0
    assert int(clip_match_cost(logits, boxes, masks, target_box, target_mask, torch.ones(t, 1, dtype=torch.bool), SgMgLossConfig()).argmin()) == 1
