"""evolve/eval_vos.py end to end on a tiny LLE-DAVIS-format dataset (CPU, model=small)."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
from PIL import Image

from evolve.model.evolve import EVOLVE, load_model_config
from tests.training.conftest import run_script

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def small_weights(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("w") / "small.pth"
    torch.save(EVOLVE(load_model_config("small")).state_dict(), path)
    return path


def test_predictions_stats_csvs_and_pictures(tiny_data_root, small_weights, tmp_path):
    out = tmp_path / "pred"
    args = ["model=small", "dataset=lle_davis", f"data_root={tiny_data_root}", f"weights={small_weights}",
            f"output_dir={out}", "device=cpu", "num_workers=0", "eval_workers=1",
            "save_overlays=true", "save_event_pictures=true", "save_mp4=true"]
    r = run_script("eval_vos.py", *args)
    assert r.returncode == 0, r.stderr[-3000:]
    gt_root = tiny_data_root / "LLE_DAVIS" / "trainval_480p"
    val = (gt_root / "ImageSets" / "2017" / "val.txt").read_text().split()
    for seq in val:
        frames = sorted(p.name for p in (gt_root / "Lowlight_Images" / seq).iterdir())
        preds = sorted(p.name for p in (out / seq).iterdir())
        assert preds == [f.replace(".jpg", ".png") for f in frames]  # one mask per frame, named by frame
        gt_ids = set(np.unique(np.asarray(Image.open(gt_root / "Annotations" / seq / "00000.png"))).tolist())
        for p in preds:
            img = Image.open(out / seq / p)
            assert img.mode == "P" and img.size == (64, 64)
            assert set(np.unique(np.asarray(img)).tolist()) <= gt_ids
        assert (out.parent / "pred-vis" / seq / f"{seq}.mp4").stat().st_size > 0
        assert len(list((out.parent / "pred-vis" / seq).glob("*.jpg"))) == len(frames)
    stats = json.loads((out / "inference_stats.json").read_text())
    assert stats["frames"] == sum(len(list((gt_root / "Lowlight_Images" / s).iterdir())) for s in val)
    assert stats["frames_per_second"] > 0 and stats["peak_memory_mb"] > 0
    with open(out / "global_results.csv") as f:
        assert next(csv.reader(f)) == ["J&F-Mean", "J-Mean", "J-Recall", "J-Decay", "F-Mean", "F-Recall", "F-Decay"]
    assert "J&F" in r.stderr

    # A second run into the same folder is refused and leaves the predictions alone.
    first = out / val[0] / "00003.png"
    before = first.stat().st_mtime_ns
    again = run_script("eval_vos.py", *args)
    assert again.returncode == 2
    assert f"{out}: output folder already holds predictions. Fix: pass overwrite=true" in again.stderr
    assert first.stat().st_mtime_ns == before


def test_weights_of_another_model_are_a_clear_error(tiny_data_root, small_weights, tmp_path):
    r = run_script("eval_vos.py", "model=base", "dataset=lle_davis", f"data_root={tiny_data_root}",
                   f"weights={small_weights}", f"output_dir={tmp_path / 'p'}", "device=cpu")
    assert r.returncode == 2
    assert f"{small_weights}: these weights do not fit the network" in r.stderr and "Fix:" in r.stderr
    assert not (tmp_path / "p").exists() or not list((tmp_path / "p").rglob("*.png"))


def test_missing_weights_and_unknown_dataset(tiny_data_root, tmp_path):
    r = run_script("eval_vos.py", "model=small", "dataset=lle_davis", f"data_root={tiny_data_root}", f"output_dir={tmp_path}")
    assert r.returncode == 2 and "no weights given. Fix: pass weights=" in r.stderr
    r = run_script("eval_vos.py", "model=small", "dataset=davis-2099", "weights=x.pth", f"output_dir={tmp_path}")
    assert r.returncode == 2 and "unknown dataset 'davis-2099'" in r.stderr
