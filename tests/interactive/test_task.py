"""task=interactive: the robot's training inputs, the loss by hand, and tiny end-to-end runs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from evolve.training.tasks.interactive import mask_loss, perturb_mask, robot_maps
from tests.interactive.conftest import FAST, run


def test_round1_maps_are_positive_strokes_inside_the_object():
    gt = np.zeros((64, 64), np.int64)
    gt[16:48, 20:44] = 1
    pos, neg = robot_maps(np.zeros_like(gt), gt, None)
    assert pos.max() > 0.5 and neg.max() == 0.0
    inside = np.zeros_like(pos, bool)
    inside[13:51, 17:47] = True  # the object grown by the 5 px dilation + blur reach
    assert pos[~inside].max() == 0.0


def test_perturbed_masks_are_wrong_but_related_and_seeded():
    gt = np.zeros((64, 64), bool)
    gt[16:48, 20:44] = True
    ious = []
    for seed in range(20):
        p = perturb_mask(gt, np.random.default_rng(seed))
        assert np.array_equal(p, perturb_mask(gt, np.random.default_rng(seed)))
        ious.append((p & gt).sum() / max((p | gt).sum(), 1))
    assert 0.2 < np.mean(ious) < 0.95 and max(ious) < 1.0


def test_mask_loss_by_hand():
    logits = torch.zeros(1, 1, 2, 2)
    labels = torch.ones(1, 1, 2, 2)
    out = mask_loss({"logits": [logits, logits], "labels": [labels, labels]})
    assert out["bce"].item() == pytest.approx(math.log(2))
    # p = 0.5 on 4 pixels: 1 - (2 * 2 + 1) / (2 + 4 + 1) = 2/7
    assert out["dice"].item() == pytest.approx(2 / 7)
    assert out["total_loss"].item() == pytest.approx(math.log(2) + 2 / 7)


def test_tiny_training_runs_write_loadable_weights(trained):
    from evolve.model import registry

    net = registry.load_network(registry.load_model_config("interaction"), trained["interaction"])
    assert net.config.events
    g = registry.load_network(registry.load_model_config("gltm"), trained["gltm"])
    assert hasattr(g, "tnet")


def test_bad_task_model_pairs_exit_2(tiny_root, tmp_path):
    common = [f"data_root={tiny_root}", f"output_root={tmp_path}", *FAST]
    p = run("train.py", "exp_id=x", "task=interactive", "model=small", "main_training.seq_length=2", *common)
    assert p.returncode == 2 and "cannot train arch 'evolve'" in p.stderr
    p = run("train.py", "exp_id=y", "task=interactive", "model=gltm", "main_training.seq_length=1", *common)
    assert p.returncode == 2 and "seq_length >= 2" in p.stderr
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()
