"""Bad input: an InputError naming the file and the fix, and nothing written to pred_dir."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from PIL import Image

from evolve.data.image_io import write_mask
from evolve.eval import evaluate_dataset
from evolve.utils.errors import InputError


def csvs(pred_dir):
    return sorted(p.name for p in pred_dir.glob("*.csv")) if pred_dir.is_dir() else []


def leftovers(pred_dir):
    return sorted(p.name for p in pred_dir.rglob("*.tmp-*")) if pred_dir.is_dir() else []


def expect_error(gt_dir, pred_dir, path_part, problem_part, workers=1, **kw):
    with pytest.raises(InputError) as info:
        evaluate_dataset(gt_dir, pred_dir, workers=workers, progress=False, **kw)
    err = info.value
    assert path_part in str(err.path), err
    assert problem_part in err.problem, err
    assert err.fix and "Fix:" in str(err)
    assert csvs(pred_dir) == [] and leftovers(pred_dir) == []
    return err


def test_missing_prediction_frame(small_dataset):
    gt, pred, _ = small_dataset
    (pred / "alpha" / "00002.png").unlink()
    expect_error(gt, pred, "alpha/00002.png", "1 of the 4 scored frames have no predicted mask")


def test_missing_prediction_sequence(small_dataset):
    gt, pred, _ = small_dataset
    shutil.rmtree(pred / "beta")
    expect_error(gt, pred, "pred/beta", "prediction folder for this sequence does not exist")


def test_size_mismatch(small_dataset):
    gt, pred, _ = small_dataset
    write_mask(pred / "beta" / "00003.png", np.zeros((24, 32), np.uint8))
    expect_error(gt, pred, "beta/00003.png", "predicted mask is 32x24 but the ground truth")


def test_rgb_prediction(small_dataset):
    gt, pred, _ = small_dataset
    Image.new("RGB", (64, 48), (128, 0, 0)).save(pred / "alpha" / "00001.png")
    expect_error(gt, pred, "alpha/00001.png", "colours are not object ids")


def test_predicted_id_absent_from_ground_truth(small_dataset):
    gt, pred, masks = small_dataset
    m = masks["beta"][1][2].copy()
    m[0:3, 0:3] = 7
    write_mask(pred / "beta" / "00002.png", m)
    err = expect_error(gt, pred, "beta/00002.png", "object id(s) [7] are not objects of this sequence")
    assert "ids 1..1" in err.problem


def test_error_in_a_worker_is_raised_and_nothing_is_written(small_dataset):
    gt, pred, masks = small_dataset
    m = masks["alpha"][1][3].copy()
    m[0, 0] = 3
    write_mask(pred / "alpha" / "00003.png", m)
    expect_error(gt, pred, "alpha/00003.png", "object id(s) [3]", workers=2)


def test_empty_ground_truth_folder(tmp_path):
    (tmp_path / "gt").mkdir()
    (tmp_path / "pred").mkdir()
    expect_error(tmp_path / "gt", tmp_path / "pred", "gt", "no sequence sub-folders")


def test_missing_ground_truth_folder(tmp_path):
    (tmp_path / "pred").mkdir()
    expect_error(tmp_path / "nope", tmp_path / "pred", "nope", "ground-truth folder does not exist")


def test_empty_prediction_folder(small_dataset, tmp_path):
    gt, _, _ = small_dataset
    empty = tmp_path / "empty_pred"
    empty.mkdir()
    expect_error(gt, empty, "empty_pred/alpha", "prediction folder for this sequence does not exist")


def test_missing_prediction_folder(small_dataset, tmp_path):
    gt, _, _ = small_dataset
    expect_error(gt, tmp_path / "absent", "absent", "prediction folder does not exist")


def test_empty_prediction_sequence_folder(small_dataset):
    gt, pred, _ = small_dataset
    for p in (pred / "beta").iterdir():
        p.unlink()
    expect_error(gt, pred, "beta/00001.png", "3 of the 3 scored frames have no predicted mask")


def test_too_few_ground_truth_frames(small_dataset):
    gt, pred, _ = small_dataset
    for name in ("00002.png", "00003.png", "00004.png"):
        (gt / "beta" / name).unlink()
    expect_error(gt, pred, "gt/beta", "needs at least 3")


def test_unknown_sequence_in_the_list(small_dataset):
    gt, pred, _ = small_dataset
    expect_error(gt, pred, "gt/gamma", "ground-truth sequence folder does not exist", sequences=["alpha", "gamma"])


def test_first_ground_truth_frame_without_objects(small_dataset):
    gt, pred, _ = small_dataset
    write_mask(gt / "beta" / "00000.png", np.zeros((48, 64), np.uint8))
    expect_error(gt, pred, "beta/00000.png", "first ground-truth frame has no object")


def test_existing_csvs_are_left_untouched_on_error(small_dataset):
    gt, pred, _ = small_dataset
    evaluate_dataset(gt, pred, progress=False)
    before = {p.name: p.read_bytes() for p in pred.glob("*.csv")}
    assert sorted(before) == ["global_results.csv", "per-sequence_results.csv"]
    write_mask(pred / "alpha" / "00001.png", np.zeros((10, 10), np.uint8))
    with pytest.raises(InputError):
        evaluate_dataset(gt, pred, progress=False)
    assert {p.name: p.read_bytes() for p in pred.glob("*.csv")} == before
    assert leftovers(pred) == []


def test_truncated_prediction(small_dataset):
    gt, pred, _ = small_dataset
    path = pred / "alpha" / "00004.png"
    path.write_bytes(path.read_bytes()[:40])
    expect_error(gt, pred, "alpha/00004.png", "cannot decode image")
