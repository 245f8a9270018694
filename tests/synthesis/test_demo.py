"""The procedural demo dataset: deterministic, moving multi-object videos, idempotent generation."""

import json

import numpy as np
import pytest

from evolve.data.image_io import read_mask
from evolve.eval.baselines import copy_first_mask
from evolve.synthesis.config import SimulatorConfig, SynthesisConfig
from evolve.synthesis.demo import DemoConfig, ensure_demo_dataset, render_sequence


def _centroid(mask):
    ys, xs = np.nonzero(mask)
    return np.array([xs.mean(), ys.mean()])


def test_render_is_deterministic_and_seeded():
    cfg = DemoConfig()
    f1, m1 = render_sequence(cfg, "demo-train-03")
    f2, m2 = render_sequence(cfg, "demo-train-03")
    assert all(np.array_equal(a, b) for a, b in zip(f1, f2)) and all(np.array_equal(a, b) for a, b in zip(m1, m2))
    f3, _ = render_sequence(DemoConfig(seed=1), "demo-train-03")
    assert len(f3) != len(f1) or not np.array_equal(f3[0], f1[0])


@pytest.mark.parametrize("name", ["demo-train-00", "demo-train-05", "demo-val-01"])
def test_objects_are_visible_travel_far_and_change_scale(name):
    cfg = DemoConfig()
    frames, masks = render_sequence(cfg, name)
    assert cfg.min_frames <= len(frames) <= cfg.max_frames
    assert frames[0].shape == (128, 128, 3) and frames[0].dtype == np.uint8
    ids = [int(i) for i in np.unique(masks[0]) if i]
    assert 2 <= len(ids) <= 3 and ids == list(range(1, len(ids) + 1))
    for k in ids:
        areas = [int((m == k).sum()) for m in masks]
        assert areas[0] > 0 and areas[-1] > 0
        # Visible centroid moves by at least ~0.45 of the width (travel_fraction 0.5 minus occlusion).
        assert np.linalg.norm(_centroid(masks[-1] == k) - _centroid(masks[0] == k)) >= 0.45 * cfg.width
        assert max(areas) / max(min(a for a in areas if a > 0), 1) >= 1.3


def test_ensure_demo_dataset_is_idempotent_deterministic_and_converted(tmp_path):
    synth = SynthesisConfig(target_density=None, simulator=SimulatorConfig(contrast_threshold=0.3))
    cfg = DemoConfig(height=48, width=64, num_train=2, num_val=1, min_frames=5, max_frames=6, synthesis=synth)
    root = ensure_demo_dataset(tmp_path / "demo", cfg)
    assert root == tmp_path / "demo" / "LLE_DAVIS"
    base = root / "trainval_480p"
    assert (base / "ImageSets/2017/train.txt").read_text() == "demo-train-00\ndemo-train-01\n"
    assert (base / "ImageSets/2017/val.txt").read_text() == "demo-val-00\n"
    for seq in ("demo-train-00", "demo-train-01", "demo-val-00"):
        frames = sorted(p.stem for p in (base / "Lowlight_Images" / seq).iterdir())
        assert frames[0] == "00000" and 5 <= len(frames) <= 6
        assert sorted(p.stem for p in (base / "Lowlight_event" / seq).iterdir()) == frames[1:]
        ids, palette = read_mask(base / "Annotations" / seq / "00000.png")
        assert ids.shape == (48, 64) and palette is not None and ids.max() >= 2
    files = {p: p.stat().st_mtime_ns for p in (tmp_path / "demo").rglob("*") if p.is_file()}
    assert ensure_demo_dataset(tmp_path / "demo", cfg) == root
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "demo").rglob("*") if p.is_file()} == files
    # A second root from the same config holds byte-identical data.
    other = ensure_demo_dataset(tmp_path / "demo2", cfg)
    for p in sorted((root / "trainval_480p").rglob("*")):
        if p.is_file() and p.name != "synthesis.json":  # that one records the source path
            assert p.read_bytes() == (other / p.relative_to(root)).read_bytes(), p
    assert json.loads((tmp_path / "demo" / "demo.json").read_text())["fingerprint"]
    # Copying the first mask to every frame scores poorly: the objects move.
    copied = copy_first_mask(base / "Annotations", tmp_path / "copy", base / "ImageSets/2017/train.txt")
    assert copied.global_row()["J-Mean"] < 0.5
