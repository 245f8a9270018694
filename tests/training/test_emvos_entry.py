"""EMVOS through the project's programs: evolve/train.py with task=emvos, evolve/eval_vos.py picking
the EMVOS core by arch, and weights of one network refused by the other (issue 14)."""

from __future__ import annotations

import torch

import pytest

from evolve.model.evolve import EVOLVE, load_model_config
from tests.training.conftest import run_script

pytestmark = pytest.mark.slow

EMVOS_FAST = [
    "task=emvos",
    "model=emvos_small",
    "data=lle_davis",
    "main_training.num_iterations=2",
    "main_training.batch_size=2",
    "main_training.seq_length=3",
    "main_training.crop_size=64",
    "main_training.amp=false",
    "main_training.swap_attach_prob=0.5",
    "num_workers=0",
    "log_text_interval=1",
    "device=cpu",
]


def test_train_then_evaluate_and_refuse_the_other_networks_weights(tiny_data_root, tmp_path):
    r = run_script("train.py", "exp_id=em", *EMVOS_FAST, f"data_root={tiny_data_root}", f"output_root={tmp_path}")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "task emvos" in r.stderr and "arch emvos" in r.stderr
    weights = tmp_path / "em" / "em_main_training_last.pth"
    state = torch.load(weights, map_location="cpu", weights_only=True)
    assert any(k.startswith("matcher.norm_key_proj.") for k in state) and any(k.startswith("event_encoder.") for k in state)

    out = tmp_path / "pred"
    r = run_script("eval_vos.py", "model=emvos_small", "dataset=lle_davis", f"data_root={tiny_data_root}", f"weights={weights}",
                   f"output_dir={out}", "device=cpu", "num_workers=0", "eval_workers=1", "copy_baseline=true")
    assert r.returncode == 0, r.stderr[-3000:]
    assert (out / "global_results.csv").is_file() and list(out.glob("*/*.png"))
    assert "copy first mask" in r.stdout and "model (emvos_small)" in r.stdout

    # EMVOS weights for EVOLVE, in training and in evaluation: refused naming both; nothing written
    r = run_script("train.py", "exp_id=wrong", "model=small", "data=lle_davis", f"data_root={tiny_data_root}",
                   f"output_root={tmp_path}", f"weights={weights}", "device=cpu")
    assert r.returncode == 2
    assert "these are weights of the EMVOS network (arch 'emvos'), but the model config builds EVOLVE (arch 'evolve')" in r.stderr
    assert not (tmp_path / "wrong").exists()
    r = run_script("eval_vos.py", "model=small", "dataset=lle_davis", f"data_root={tiny_data_root}", f"weights={weights}",
                   f"output_dir={tmp_path / 'p2'}", "device=cpu")
    assert r.returncode == 2 and "weights of the EMVOS network" in r.stderr and not (tmp_path / "p2").exists()


def test_evolve_weights_for_emvos_and_the_wrong_task_are_refused(tiny_data_root, tmp_path):
    torch.manual_seed(0)
    evolve_weights = tmp_path / "small.pth"
    torch.save(EVOLVE(load_model_config("small")).state_dict(), evolve_weights)
    r = run_script("eval_vos.py", "model=emvos_small", "dataset=lle_davis", f"data_root={tiny_data_root}",
                   f"weights={evolve_weights}", f"output_dir={tmp_path / 'p'}", "device=cpu")
    assert r.returncode == 2
    assert "these are weights of the EVOLVE network (arch 'evolve'), but the model config builds EMVOS (arch 'emvos')" in r.stderr
    assert not (tmp_path / "p").exists()
    r = run_script("train.py", "exp_id=t", "model=emvos_small", "data=lle_davis", f"data_root={tiny_data_root}",
                   f"output_root={tmp_path}", "device=cpu")
    assert r.returncode == 2
    assert "task 'semi_supervised' cannot train arch 'emvos'" in r.stderr and "task=emvos" in r.stderr
    assert not (tmp_path / "t").exists()
