"""ImageNet initialisation from local files, and the warning when real data trains from scratch (issue 11, point 2)."""

from __future__ import annotations

import pytest
import torch
import torchvision
from omegaconf import OmegaConf

from tests.training.conftest import FAST, run_script

pytestmark = pytest.mark.slow


def test_random_init_on_real_data_warns_and_is_recorded_imagenet_files_do_not(tiny_data_root, tmp_path):
    r = run_script("train.py", "exp_id=rand", *FAST, f"data_root={tiny_data_root}", f"output_root={tmp_path}",
                   "main_training.num_iterations=1")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "starts from RANDOM initialisation" in r.stderr and "INSTALL.md" in r.stderr
    init = OmegaConf.load(tmp_path / "rand" / "config.yaml")["initialisation"]
    assert init["source"] == "random" and "RANDOM" in init["warning"]

    torch.manual_seed(0)
    weights = tmp_path / "resnet18.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), weights)  # a generated torchvision state dict
    r = run_script("train.py", "exp_id=inet", *FAST, f"data_root={tiny_data_root}", f"output_root={tmp_path}",
                   "main_training.num_iterations=1", f"model.pretrained_backbone={weights}", f"model.pretrained_mask_encoder={weights}")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "RANDOM initialisation" not in r.stderr
    init = OmegaConf.load(tmp_path / "inet" / "config.yaml")["initialisation"]
    assert init["source"] == "imagenet" and init["image_encoder"] == str(weights) and init["warning"] is None
