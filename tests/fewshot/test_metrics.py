"""Few-shot metrics on hand-made episodes: every expected number is counted by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from evolve.eval.fewshot_metrics import score_episode, scores_csv_text, summarise

T, H, W = 2, 20, 20


def square(top: int, left: int, h: int, w: int) -> np.ndarray:
    m = np.zeros((H, W), bool)
    m[top:top + h, left:left + w] = True
    return m


def episode(gt_per_way: list[np.ndarray | None], pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """gt: per way a (H, W) mask on both frames, or None (absent); pred (H, W) labels on both frames."""
    gt = np.stack([np.stack([g if g is not None else np.zeros((H, W), bool)] * T) for g in gt_per_way])
    return np.stack([pred] * T), gt


def labels(*pairs: tuple[np.ndarray, int]) -> np.ndarray:
    out = np.zeros((H, W), np.int64)
    for m, k in pairs:
        out[m] = k
    return out


A = square(2, 2, 6, 6)      # 36 px
B = square(10, 10, 6, 6)


def test_perfect_way_scores_one_and_absent_way_is_not_scored():
    pred, gt = episode([A, None], labels((A, 1)))
    s = score_episode(pred, gt, ["left", "right"])
    assert s[0].present and s[0].j == 1.0 and s[0].f == 1.0 and s[0].predicted
    assert not s[1].present and math.isnan(s[1].j) and not s[1].predicted
    assert s[0].fg_iou == 1.0 and s[0].bg_iou == 1.0


def test_half_overlap_j_and_swapped_labels():
    half = square(2, 2, 6, 3)  # 18 of A's 36 px
    pred, gt = episode([A, None], labels((half, 1)))
    s = score_episode(pred, gt, ["left", "right"])
    assert s[0].j == pytest.approx(0.5)
    # the right object, wrong way label: J = 0 for way 0, foreground IoU still 1
    pred, gt = episode([A, None], labels((A, 2)))
    s = score_episode(pred, gt, ["left", "right"])
    assert s[0].j == 0.0 and s[0].f == 0.0 and s[0].fg_iou == 1.0 and s[1].predicted


def test_class_balanced_differs_from_object_average():
    """Category 'left' twice perfect (J&F 1), category 'right' once missed (J&F 0):
    class-balanced (1 + 0) / 2 = 0.5; object average (1 + 1 + 0) / 3 = 2/3."""
    scores = []
    for e in range(2):
        pred, gt = episode([A, None], labels((A, 1)))
        scores += score_episode(pred, gt, ["left", "right"], episode=e)
    pred, gt = episode([None, B], labels())
    scores += score_episode(pred, gt, ["left", "right"], episode=2)
    summary = summarise(scores)
    assert summary.jf == pytest.approx(0.5)
    assert summary.jf_object_mean == pytest.approx(2 / 3)
    assert summary.per_category["left"]["count"] == 2 and summary.per_category["right"]["J&F"] == 0.0


def test_t_acc_and_n_acc_counted_by_hand():
    scores = []
    cats = ["left", "right"]
    # e0: present, predicted the target -> T ok
    scores += score_episode(*episode([A, None], labels((A, 1))), cats, episode=0)
    # e1: present, predicted foreground on the WRONG way -> T ok (MOVE: any foreground), target-level miss
    scores += score_episode(*episode([A, None], labels((B, 2))), cats, episode=1)
    # e2: present, predicted nothing -> T miss
    scores += score_episode(*episode([None, B], labels()), cats, episode=2)
    # e3: absent, predicted nothing -> N ok
    scores += score_episode(*episode([None, None], labels()), cats, episode=3)
    # e4: absent, predicted something -> N miss
    scores += score_episode(*episode([None, None], labels((B, 1))), cats, episode=4)
    # e5: absent, nothing -> N ok
    scores += score_episode(*episode([None, None], labels()), cats, episode=5)
    s = summarise(scores)
    assert (s.present_episodes, s.absent_episodes, s.episodes) == (3, 3, 6)
    assert s.t_acc == pytest.approx(2 / 3)
    assert s.n_acc == pytest.approx(2 / 3)
    assert s.t_acc_target == pytest.approx(1 / 3)  # present pairs: e0 w0 (yes), e1 w0 (no), e2 w1 (no)


def test_fg_bg_iou_by_hand():
    # GT foreground A (36 px); prediction A plus B (72 px): fg IoU 36/72; bg: 400-36=364 vs 328 -> 328/364
    pred, gt = episode([A, None], labels((A, 1), (B, 2)))
    s = score_episode(pred, gt, ["left", "right"])
    assert s[0].fg_iou == pytest.approx(0.5)
    assert s[0].bg_iou == pytest.approx(328 / 364)


def test_csv_rows_and_bad_shapes():
    pred, gt = episode([A, None], labels((A, 1)))
    text = scores_csv_text(score_episode(pred, gt, ["left", "right"], episode=7))
    lines = text.strip().splitlines()
    assert lines[0].startswith("episode,way,category") and len(lines) == 3
    assert lines[2].split(",")[5] == ""  # absent way: no J
    with pytest.raises(ValueError):
        score_episode(pred, gt, ["left"])
    with pytest.raises(ValueError):
        score_episode(pred + 5, gt, ["left", "right"])


def test_presence_auc_and_absent_way_rate_counted_by_hand():
    # three episodes of 2 ways; present ways' logits 2.0, 0.5, 1.0, absent ways' 1.0, -1.0, 3.0.
    # Pairs (present > absent): 2.0 beats 1.0 and -1.0 (2); 0.5 beats -1.0 (1); 1.0 beats -1.0 and
    # ties 1.0 (1 + 1/2). AUC = 4.5 / 9 = 0.5.
    # Predictions: episode 0 way 1 (absent) painted, episodes 1 and 2 absent ways empty -> 1/3.
    scores = []
    scores += score_episode(*episode([A, None], labels((A, 1), (B, 2))), ["a", "b"], episode=0, presence_logits=[2.0, 1.0])
    scores += score_episode(*episode([None, A], labels((A, 2))), ["a", "b"], episode=1, presence_logits=[-1.0, 0.5])
    scores += score_episode(*episode([A, None], labels((A, 1))), ["c", "b"], episode=2, presence_logits=[1.0, 3.0])
    s = summarise(scores)
    assert s.presence_auc == pytest.approx(4.5 / 9)
    assert s.absent_way_predicted == pytest.approx(1 / 3)
    # the logits travel to the CSV (last column); without logits the AUC is not defined
    rows = scores_csv_text(scores).strip().splitlines()
    assert rows[0].endswith(",presence_logit") and rows[2].endswith(",1.000000")
    plain = summarise(score_episode(*episode([A, None], labels((A, 1))), ["a", "b"]))
    assert plain.presence_auc is None and plain.absent_way_predicted == 0.0
    assert math.isnan(score_episode(*episode([A, None], labels((A, 1))), ["a", "b"])[0].presence_logit)
    with pytest.raises(ValueError, match="presence logits"):
        score_episode(*episode([A, None], labels((A, 1))), ["a", "b"], presence_logits=[0.0])
