import shutil

import numpy as np
import pytest

from evolve.data.image_io import read_frame
from evolve.synthesis.demo import DemoConfig, ensure_demo_dataset
from evolve.apps.compare import main
from evolve.vis.compare import comparison_row


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    cfg = DemoConfig(height=64, width=64, num_train=1, num_val=1, min_frames=6, max_frames=6, seed=5)
    return ensure_demo_dataset(tmp_path_factory.mktemp("d") / "demo", cfg)


def test_a_perfect_prediction_draws_like_the_ground_truth(demo, tmp_path):
    ann = demo / "trainval_480p" / "Annotations"
    seq = sorted(p.name for p in ann.iterdir())[0]
    shutil.copytree(ann / seq, tmp_path / "perfect" / seq)
    row = comparison_row(demo, seq, 3, {"perfect": tmp_path / "perfect"}, height=64)
    # four 64-pixel tiles (frame, events, ground truth, prediction) with 4-pixel gaps
    assert row.shape == (64, 4 * 64 + 3 * 4, 3) and row.dtype == np.uint8
    gt_tile, pred_tile = row[:, 2 * 68 : 2 * 68 + 64], row[:, 3 * 68 : 3 * 68 + 64]
    assert np.array_equal(gt_tile[20:], pred_tile[20:])  # below the labels the pictures are identical
    assert not np.array_equal(row[20:, :64], gt_tile[20:])  # and the overlay changed the frame


def test_cli_writes_a_png_and_reports_a_missing_prediction(demo, tmp_path, capsys):
    seq = sorted(p.name for p in (demo / "trainval_480p" / "Annotations").iterdir())[0]
    out = tmp_path / "fig.png"
    assert main([str(demo), "--out", str(out), "--sequences", seq, "--frames", "1", "4", "--height", "48"]) == 0
    assert read_frame(out).shape[0] == 2 * (48 + 4)
    assert main([str(demo), "--out", str(tmp_path / "x.png"), "--sequences", seq, "--frames", "2", "--pred", f"run={tmp_path / 'none'}"]) == 2
    assert "does not exist" in capsys.readouterr().err and not (tmp_path / "x.png").exists()
