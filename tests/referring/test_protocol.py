"""The referring protocols on an on-disk set, against values computed by hand: the prompt-blind
largest-object baseline is perfect on the large object's expressions and zero on the others."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from evolve.data.image_io import read_mask
from evolve.data.layout import lle_davis
from evolve.eval.referring import ReferringEvalConfig, largest_object_prob, read_referring_video, run_referring
from evolve.utils.errors import InputError


def test_largest_object_baseline_by_hand(referring_root, tmp_path):
    layout = lle_davis(referring_root)
    summary = run_referring(layout, "val", tmp_path, config=ReferringEvalConfig(methods=("largest",), save_masks=True), progress=False)
    s = summary["methods"]["largest"]
    # 4 expressions: 2 name the square (the largest object: J = F = 1), 2 the disc (J = 0, and F = 0:
    # the objects are more than the 1-pixel tolerance apart)
    assert s["per_expression"] == {"J&F": 0.5, "J": 0.5, "F": 0.5, "count": 4}
    assert s["per_expression_held_out"]["count"] == 2 and s["per_expression_held_out"]["J&F"] == 0.5
    assert s["per_expression_by_kind"]["relation"]["J&F"] == 1.0 and s["per_expression_by_kind"]["motion"]["J&F"] == 0.0
    # Ref-DAVIS sets: set 0 (attributes, both objects): both expressions give the square; the tie goes
    # to proposal 1, which is assigned to the square (1); the disc gets the empty proposal 2 (0) -> 0.5.
    # Set 1 (relation, the square) -> 1. Set 2 (motion, the disc) -> 0. Mean over sets: 0.5.
    assert {k: v["J&F"] for k, v in s["ref_davis_sets"].items()} == {"0": 0.5, "1": 1.0, "2": 0.0}
    assert s["ref_davis"]["J&F"] == 0.5 and s["ref_davis"]["sets"] == 3
    rows = list(csv.DictReader((tmp_path / "per_expression.csv").open()))
    assert [r["J&F-Mean"] for r in rows] == ["1.0000", "0.0000", "1.0000", "0.0000"]
    assert json.loads((tmp_path / "summary.json").read_text())["videos"] == 1
    assert "| largest | 50.0 (4) | 50.0 (2) | 50.0 (3) |" in (tmp_path / "summary.md").read_text()
    # the masks are written in the Ref-YouTube-VOS layout
    saved = read_mask(tmp_path / "largest" / "Annotations" / "va0" / "1" / "00002.png")[0]
    gt = read_mask(referring_root / "trainval_480p" / "Annotations" / "va0" / "00002.png")[0]
    assert np.array_equal(saved > 0, gt == 1)


def test_reader_and_baseline_helpers(referring_root):
    data = read_referring_video(lle_davis(referring_root), "va0", size=32)
    assert data.video.frames.shape == (3, 3, 32, 32) and data.video.voxels.shape == (3, 5, 32, 32)
    assert data.video.reverse_voxels.shape == (3, 5, 32, 32) and data.gt.shape == (3, 64, 64)
    gt = np.zeros((2, 4, 4), np.uint8)
    gt[:, :2, :2] = 3
    gt[:, 3, :] = 5
    gt[0, 2, :] = 255  # void is not an object
    assert np.array_equal(largest_object_prob(gt), (gt == 3).astype(np.float32))


def test_methods_without_networks_are_refused(referring_root, tmp_path):
    layout = lle_davis(referring_root)
    with pytest.raises(InputError, match="need the SgMg network"):
        run_referring(layout, "val", tmp_path, config=ReferringEvalConfig(methods=("sgmg",)))
    with pytest.raises(InputError, match="unknown referring methods"):
        run_referring(layout, "val", tmp_path, config=ReferringEvalConfig(methods=("oracle",)))
