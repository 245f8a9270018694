"""Sequence and dataset evaluation on small synthetic datasets, checked against the oracle."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from PIL import Image

from evolve.eval import GLOBAL_COLUMNS, PER_SEQUENCE_COLUMNS, evaluate_dataset, evaluate_sequence
from tests.eval.conftest import H, W, moving_squares, write_sequence
from tests.eval.oracle import decay_loop, jf


def oracle_sequence(gt_masks, pred_masks):
    """(N, T) J and F over frames 1..n-2 for objects 1..max id of frame 0."""
    n_obj = int(gt_masks[0].max())
    j = np.zeros((n_obj, len(gt_masks) - 2))
    f = np.zeros_like(j)
    for t in range(1, len(gt_masks) - 1):
        for k in range(1, n_obj + 1):
            j[k - 1, t - 1], f[k - 1, t - 1] = jf(gt_masks[t] == k, pred_masks[t] == k)
    return j, f


def test_sequence_scores_match_the_oracle(small_dataset):
    gt_dir, pred_dir, masks = small_dataset
    s = evaluate_sequence(gt_dir / "alpha", pred_dir / "alpha")
    assert s.name == "alpha" and s.object_ids == (1, 2)
    assert s.frames == ("00001", "00002", "00003", "00004")  # first and last excluded
    assert s.j.shape == s.f.shape == (2, 4) and s.j.dtype == np.float64
    assert s.size == (H, W) and s.radius == 1  # ceil(0.008 * 80)
    j, f = oracle_sequence(*masks["alpha"])
    np.testing.assert_allclose(s.j, j, rtol=0, atol=1e-12)
    np.testing.assert_allclose(s.f, f, rtol=0, atol=1e-12)
    assert np.all(s.j[1] == 1.0) and np.all(s.f[1] == 1.0)  # object 2 is perfect
    assert np.all(s.j[0] == pytest.approx(9 / 15))  # 12x12 square, 3 rows off: 108 / 180


def test_dataset_statistics_are_object_weighted_and_match_the_oracle(small_dataset):
    gt_dir, pred_dir, masks = small_dataset
    r = evaluate_dataset(gt_dir, pred_dir, progress=False)
    rows = []
    for name in ("alpha", "beta"):
        j, f = oracle_sequence(*masks[name])
        for k in range(j.shape[0]):
            rows.append((f"{name}_{k + 1}", j[k], f[k]))
    assert [o.name for o in r.objects] == [n for n, _, _ in rows] == ["alpha_1", "alpha_2", "beta_1"]
    j_means = [jj.mean() for _, jj, _ in rows]
    f_means = [ff.mean() for _, _, ff in rows]
    assert r.j.mean == pytest.approx(np.mean(j_means), abs=1e-12)  # mean over the 3 objects
    assert r.f.mean == pytest.approx(np.mean(f_means), abs=1e-12)
    assert r.jf_mean == pytest.approx((np.mean(j_means) + np.mean(f_means)) / 2, abs=1e-12)
    assert r.j.recall == pytest.approx(np.mean([np.mean(jj > 0.5) for _, jj, _ in rows]), abs=1e-12)
    assert r.f.decay == pytest.approx(np.mean([decay_loop(ff) for _, _, ff in rows]), abs=1e-12)
    # object-weighted differs from sequence-weighted here
    seq_weighted = np.mean([(j_means[0] + j_means[1]) / 2, j_means[2]])
    assert abs(r.j.mean - seq_weighted) > 1e-3

    g_rows = list(csv.reader(open(pred_dir / "global_results.csv")))
    assert tuple(g_rows[0]) == GLOBAL_COLUMNS == ("J&F-Mean", "J-Mean", "J-Recall", "J-Decay", "F-Mean", "F-Recall", "F-Decay")
    assert [float(x) for x in g_rows[1]] == pytest.approx(list(r.global_row().values()), abs=5e-4)
    s_rows = list(csv.reader(open(pred_dir / "per-sequence_results.csv")))
    assert tuple(s_rows[0]) == PER_SEQUENCE_COLUMNS == ("Sequence", "J-Mean", "F-Mean")
    assert [row[0] for row in s_rows[1:]] == ["alpha_1", "alpha_2", "beta_1"]
    assert float(s_rows[1][1]) == pytest.approx(j_means[0], abs=5e-4)
    assert float(s_rows[3][2]) == pytest.approx(f_means[2], abs=5e-4)


def test_two_workers_give_the_same_numbers(small_dataset):
    gt_dir, pred_dir, _ = small_dataset
    one = evaluate_dataset(gt_dir, pred_dir, workers=1, write_csv=False, progress=False)
    two = evaluate_dataset(gt_dir, pred_dir, workers=2, write_csv=False, progress=False)
    assert one.global_row() == two.global_row()
    assert [s.name for s in two.sequences] == ["alpha", "beta"]
    for a, b in zip(one.sequences, two.sequences):
        assert np.array_equal(a.j, b.j) and np.array_equal(a.f, b.f)
    assert not (pred_dir / "global_results.csv").exists()  # write_csv=False


def test_sequence_subset_by_names_or_list_file(small_dataset, tmp_path):
    gt_dir, pred_dir, _ = small_dataset
    r = evaluate_dataset(gt_dir, pred_dir, sequences=["beta"], write_csv=False, progress=False)
    assert [o.name for o in r.objects] == ["beta_1"]
    listing = tmp_path / "val.txt"
    listing.write_text("beta\n  alpha \n")
    r = evaluate_dataset(gt_dir, pred_dir, sequences=listing, write_csv=False, progress=False)
    assert [o.name for o in r.objects] == ["beta_1", "alpha_1", "alpha_2"]  # list order kept


def test_objects_are_one_to_the_largest_first_frame_id(tmp_path):
    # first GT frame has ids {1, 3}: objects are 1, 2, 3 (2 never appears); a later GT frame
    # shows id 4, which is not an object of the sequence and is ignored.
    gt = moving_squares(4, {1: (2, 2, 8), 3: (20, 30, 10)})
    gt[2][40:46, 2:8] = 4
    pred = [m.copy() for m in gt]
    for m in pred:
        m[m == 4] = 0
    pred[1][40:44, 50:54] = 2  # a false positive of object 2 in frame 1
    write_sequence(tmp_path / "gt", "s", gt)
    write_sequence(tmp_path / "pred", "s", pred)
    s = evaluate_sequence(tmp_path / "gt" / "s", tmp_path / "pred" / "s")
    assert s.object_ids == (1, 2, 3)
    assert s.j.tolist() == [[1.0, 1.0], [0.0, 1.0], [1.0, 1.0]]
    assert s.f.tolist() == [[1.0, 1.0], [0.0, 1.0], [1.0, 1.0]]


def test_first_and_last_prediction_frames_may_be_absent(small_dataset):
    gt_dir, pred_dir, _ = small_dataset
    full = evaluate_sequence(gt_dir / "beta", pred_dir / "beta")
    (pred_dir / "beta" / "00000.png").unlink()
    (pred_dir / "beta" / "00004.png").unlink()
    part = evaluate_sequence(gt_dir / "beta", pred_dir / "beta")
    assert np.array_equal(full.j, part.j) and np.array_equal(full.f, part.f)


def test_void_255_in_the_ground_truth_counts_as_background(tmp_path):
    gt = moving_squares(3, {1: (5, 5, 10)})
    gt[1][30:40, 30:40] = 255  # void region
    pred = [m.copy() for m in gt]
    pred[1][pred[1] == 255] = 0
    write_sequence(tmp_path / "gt", "s", gt)
    write_sequence(tmp_path / "pred", "s", pred)
    s = evaluate_sequence(tmp_path / "gt" / "s", tmp_path / "pred" / "s")
    assert s.object_ids == (1,) and s.j.tolist() == [[1.0]] and s.f.tolist() == [[1.0]]


def test_davis2016_binary_masks_are_object_1(tmp_path):
    gt = moving_squares(4, {1: (5, 5, 10)})
    for root, shift in (("gt", 0), ("pred", 1)):
        for t, m in enumerate(gt):
            folder = tmp_path / root / "s"
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray((np.roll(m, shift, axis=0) * 255).astype(np.uint8), mode="L").save(folder / f"{t:05d}.png")
    s = evaluate_sequence(tmp_path / "gt" / "s", tmp_path / "pred" / "s")
    assert s.object_ids == (1,)
    np.testing.assert_allclose(s.j, [[90 / 110, 90 / 110]], atol=1e-12)  # 10x10 square 1 row off


def test_long_sequence_decay_uses_exact_bins(tmp_path):
    # 302 frames -> 300 scored frames; the object is perfect for the first 150 scored frames
    # and missing afterwards: J per frame = [1]*150 + [0]*150.
    n = 302
    gt = moving_squares(n, {1: (5, 5, 6)}, step=0)
    pred = [m.copy() if t <= 150 else np.zeros_like(m) for t, m in enumerate(gt)]
    write_sequence(tmp_path / "gt", "long", gt)
    write_sequence(tmp_path / "pred", "long", pred)
    r = evaluate_dataset(tmp_path / "gt", tmp_path / "pred", write_csv=False, progress=False)
    j = r.sequences[0].j[0]
    assert j.tolist() == [1.0] * 150 + [0.0] * 150
    assert r.j.mean == 0.5 and r.j.recall == 0.5
    assert r.j.decay == pytest.approx(decay_loop(j), abs=1e-12) and r.j.decay == 1.0  # bins 0..75 vs 224..299
    assert r.f.decay == 1.0
