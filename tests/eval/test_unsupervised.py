"""Unsupervised-mode J&F (the Ref-DAVIS protocol) against values computed by hand on constructed
masks: an assignment swap, a missing object, void pixels, extra proposals."""

from __future__ import annotations

import numpy as np
import pytest

from evolve.eval.metrics import frame_scores
from evolve.eval.results import EvaluationResult
from evolve.eval.unsupervised import combine_expression_masks, unsupervised_sequence, void_frame_scores
from evolve.utils.errors import InputError

T, S = 2, 12


def two_objects() -> np.ndarray:
    gt = np.zeros((T, S, S), np.uint8)
    gt[:, 1:4, 1:4] = 1
    gt[:, 7:10, 7:10] = 2
    return gt


def test_assignment_swap_scores_perfectly():
    gt = two_objects()
    pred = np.zeros_like(gt)
    pred[gt == 1] = 2
    pred[gt == 2] = 1
    res = unsupervised_sequence("swap", gt, pred, bound_th=1)
    assert res.assignment == {1: 2, 2: 1}
    assert np.all(res.scores.j == 1.0) and np.all(res.scores.f == 1.0)
    # the pair matrix: the right pairs 1, the wrong pairs 0 (disjoint, more than 1 px apart)
    assert np.allclose(res.pair_jf, [[0.0, 1.0], [1.0, 0.0]])
    # the semi-supervised rule (ids compared as they are) would give 0 for both
    j, f = frame_scores(gt[0], pred[0], [1, 2], 1)
    assert j.tolist() == [0.0, 0.0] and f.tolist() == [0.0, 0.0]


def test_missing_object_is_padded_and_scores_zero_where_present():
    gt = two_objects()
    gt[1][gt[1] == 1] = 0  # object 1 leaves after frame 0
    pred = np.zeros_like(gt)
    pred[gt == 2] = 1  # one proposal, on object 2
    res = unsupervised_sequence("missing", gt, pred, bound_th=1)
    assert res.assignment == {1: 0, 2: 1}  # object 1 got a padding proposal
    assert res.scores.j[0].tolist() == [0.0, 1.0]  # frame 1: empty vs empty = 1 (DAVIS)
    assert res.scores.f[0].tolist() == [0.0, 1.0]
    assert np.all(res.scores.j[1] == 1.0)
    result = EvaluationResult.from_sequences([res.scores])
    assert result.j.mean == pytest.approx(0.75) and result.f.mean == pytest.approx(0.75)
    assert result.jf_mean == pytest.approx(0.75)


def test_void_pixels_are_ignored():
    gt = np.zeros((1, S, S), np.uint8)
    gt[0, 2:6, 2:6] = 1  # 16 px
    gt[0, 2:6, 6:8] = 255  # void band of 8 px beside it
    pred = np.zeros_like(gt)
    pred[0, 2:6, 2:8] = 1  # object + void band: 24 px
    res = unsupervised_sequence("void", gt, pred, bound_th=1)
    assert res.scores.j[0, 0] == 1.0 and res.scores.f[0, 0] == 1.0
    # without the void rule the same prediction has J = 16 / 24
    plain = np.where(gt == 255, 0, gt)
    assert unsupervised_sequence("plain", plain, pred, bound_th=1).scores.j[0, 0] == pytest.approx(2 / 3)
    # half of the object plus the void band: J = 8 / 16 once the void is ignored
    half = np.zeros_like(gt)
    half[0, 2:6, 4:8] = 1
    assert unsupervised_sequence("half", gt, half, bound_th=1).scores.j[0, 0] == pytest.approx(0.5)
    # the pixel-level helper agrees
    j, f = void_frame_scores(gt[0] == 1, pred[0] == 1, gt[0] == 255, 1)
    assert (j, f) == (1.0, 1.0)


def test_extra_proposals_are_left_unassigned_and_limit_enforced():
    gt = two_objects()
    pred = np.zeros_like(gt)
    pred[:, 0, 11] = 1  # a stray pixel
    pred[gt == 1] = 2
    pred[gt == 2] = 3
    res = unsupervised_sequence("extra", gt, pred, bound_th=1)
    assert res.assignment == {1: 2, 2: 3}
    assert res.pair_jf.shape == (3, 2)
    many = np.zeros_like(gt)
    many[0, 0, :] = np.arange(1, 13)
    many[0, 1, :9] = np.arange(13, 22)  # 21 proposals
    with pytest.raises(InputError, match="21 proposals, more than the 20"):
        unsupervised_sequence("many", gt, many)


def test_object_ids_rule_and_bad_shapes():
    gt = two_objects()
    gt[0][gt[0] == 2] = 0  # object 2 absent on the first frame: the DAVIS rule counts 1 object
    res = unsupervised_sequence("rule", gt, gt.copy(), bound_th=1)
    assert res.scores.object_ids == (1,)
    res = unsupervised_sequence("given", gt, gt.copy(), object_ids=[1, 2], bound_th=1)
    assert res.scores.object_ids == (1, 2) and np.all(res.scores.j == 1.0)
    with pytest.raises(InputError, match="must both be"):
        unsupervised_sequence("bad", gt, gt[0])


def test_combine_expression_masks_sgmg_rule():
    probs = np.zeros((2, 1, 1, 4), np.float32)
    probs[:, 0, 0, 0] = [0.6, 0.7]  # both above 0.5: the larger wins -> proposal 2
    probs[:, 0, 0, 1] = [0.4, 0.3]  # both below: background
    probs[:, 0, 0, 2] = [0.55, 0.0]  # only the first -> proposal 1
    probs[:, 0, 0, 3] = [0.5, 0.5]  # a tie goes to the first expression
    assert combine_expression_masks(probs).tolist() == [[[2, 0, 1, 1]]]
