"""J&F on the real DAVIS 2016 val sequences (../shared/data) against an independent oracle.

Predictions are the ground truth itself, a copy eroded by 5 px, and a copy shifted 10 px
right, written as palette PNGs; the ground truth stays the {0, 255} grayscale PNGs.
Every per-frame J and F of every sequence is recomputed by tests/eval/oracle.py
(scipy.ndimage boundaries, k-d tree distances between boundary pixels) and compared to
1e-9, and so are the per-object and global statistics built from them.
"""

from __future__ import annotations

import shutil

import cv2
import numpy as np
import pytest

from evolve.data.image_io import read_mask, write_mask
from evolve.eval import evaluate_dataset
from tests.eval.oracle import decay_loop, jf

VAL = ("blackswan", "car-shadow", "drift-straight", "horsejump-high", "kite-surf", "motocross-jump")

pytestmark = pytest.mark.shared_data


def erode(m: np.ndarray) -> np.ndarray:
    disk5 = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (11, 11))  # radius 5 px
    return cv2.erode(m, disk5)


def shift(m: np.ndarray) -> np.ndarray:
    out = np.zeros_like(m)
    out[:, 10:] = m[:, :-10]  # 10 px right, zero fill
    return out


@pytest.fixture(scope="module")
def val_data(davis2016, tmp_path_factory):
    """(gt_dir, {variant: pred_dir}, {seq: [gt ids (H, W) uint8]}) for the 6 val sequences."""
    gt_dir = davis2016 / "Annotations" / "480p"
    root = tmp_path_factory.mktemp("davis2016_preds")
    gt_masks, preds = {}, {}
    for variant in ("identity", "eroded", "shifted"):
        preds[variant] = root / variant
    for seq in VAL:
        frames = sorted((gt_dir / seq).glob("*.png"))
        gt_masks[seq] = [read_mask(p)[0] for p in frames]
        (preds["identity"] / seq).mkdir(parents=True)
        for p, m in zip(frames, gt_masks[seq]):
            shutil.copy(p, preds["identity"] / seq / p.name)  # the very same files
            write_mask(preds["eroded"] / seq / p.name, erode(m))
            write_mask(preds["shifted"] / seq / p.name, shift(m))
    return gt_dir, preds, gt_masks


def test_ground_truth_against_itself_is_exactly_one(val_data):
    gt_dir, preds, _ = val_data
    r = evaluate_dataset(gt_dir, preds["identity"], sequences=VAL, workers=2, progress=False)
    print(f"\nGT vs GT: J&F {r.jf_mean:.6f}  J {r.j.mean:.6f}  F {r.f.mean:.6f}")
    assert len(r.objects) == 6 and [o.name for o in r.objects] == [f"{s}_1" for s in VAL]
    assert (r.jf_mean, r.j.mean, r.f.mean, r.j.recall, r.f.recall) == (1.0, 1.0, 1.0, 1.0, 1.0)
    assert (r.j.decay, r.f.decay) == (0.0, 0.0)
    text = (preds["identity"] / "global_results.csv").read_text().splitlines()
    assert text[1] == "1.000,1.000,1.000,0.000,1.000,1.000,0.000"


@pytest.mark.parametrize("variant", ["eroded", "shifted"])
def test_perturbed_predictions_match_the_independent_oracle(val_data, variant):
    gt_dir, preds, gt_masks = val_data
    perturb = erode if variant == "eroded" else shift
    r = evaluate_dataset(gt_dir, preds[variant], sequences=VAL, workers=1, progress=False)

    obj_j, obj_f = [], []
    for seq_scores in r.sequences:
        masks = gt_masks[seq_scores.name]
        assert seq_scores.object_ids == (1,) and seq_scores.radius == 8
        assert len(seq_scores.frames) == len(masks) - 2
        ref = np.array([jf(g == 1, perturb(g) == 1) for g in masks[1:-1]])  # (T, 2)
        np.testing.assert_allclose(seq_scores.j[0], ref[:, 0], rtol=0, atol=1e-9)
        np.testing.assert_allclose(seq_scores.f[0], ref[:, 1], rtol=0, atol=1e-9)
        obj_j.append(ref[:, 0])
        obj_f.append(ref[:, 1])

    j_mean = np.mean([v.mean() for v in obj_j])
    f_mean = np.mean([v.mean() for v in obj_f])
    print(f"\nGT vs {variant}: J&F {r.jf_mean:.6f}  J {r.j.mean:.6f}  F {r.f.mean:.6f}  "
          f"J-Recall {r.j.recall:.6f}  J-Decay {r.j.decay:.6f}  F-Recall {r.f.recall:.6f}  F-Decay {r.f.decay:.6f}")
    assert r.j.mean == pytest.approx(j_mean, abs=1e-9)
    assert r.f.mean == pytest.approx(f_mean, abs=1e-9)
    assert r.jf_mean == pytest.approx((j_mean + f_mean) / 2, abs=1e-9)
    assert r.j.recall == pytest.approx(np.mean([np.mean(v > 0.5) for v in obj_j]), abs=1e-9)
    assert r.f.recall == pytest.approx(np.mean([np.mean(v > 0.5) for v in obj_f]), abs=1e-9)
    assert r.j.decay == pytest.approx(np.mean([decay_loop(v) for v in obj_j]), abs=1e-9)
    assert r.f.decay == pytest.approx(np.mean([decay_loop(v) for v in obj_f]), abs=1e-9)
    assert 0.3 < r.jf_mean < 0.99  # a real, imperfect score
