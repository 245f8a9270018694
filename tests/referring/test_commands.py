"""The referring commands as a user runs them: evolve/train.py task=referring model=sgmg on a
tiny on-disk set (with eval_after_training), then evolve-eval-referring with all methods."""

from __future__ import annotations

import json

import pytest
import torch

from evolve.apps.eval_referring import main as eval_referring
from tests.training.conftest import run_script

pytestmark = pytest.mark.slow

TINY = ["model.hidden_dim=32", "model.num_heads=2", "model.ff_dim=64", "model.text.dim=32", "model.text.num_heads=2",
        "model.text.ff_dim=64", "model.dec_layers=2"]


@pytest.fixture(scope="module")
def trained(referring_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    data_root = referring_root.parent.parent
    proc = run_script("train.py", "task=referring", "model=sgmg", "data=procedural_referring", f"data_root={data_root}",
                      f"output_root={out}", "exp_id=ref", "main_training.num_iterations=2", "main_training.crop_size=64",
                      "num_workers=0", "device=cpu", "eval_after_training=true", "log_text_interval=1", *TINY)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out / "ref"


def test_training_writes_weights_with_vocabulary_and_evaluates(trained):
    state = torch.load(trained / "ref_main_training_last.pth", map_location="cpu", weights_only=True)
    assert "text_encoder.vocabulary" in state and bool(state["text_encoder.vocabulary"][2:].any())
    summary = json.loads((trained / "val" / "summary.json").read_text())
    assert summary["methods"]["sgmg"]["per_expression"]["count"] == 4


def test_wrong_task_model_pair_is_refused(referring_root, tmp_path):
    proc = run_script("train.py", "task=referring", "model=small", "data=procedural_referring",
                      f"data_root={referring_root.parent.parent}", f"output_root={tmp_path}", "device=cpu")
    assert proc.returncode == 2 and "cannot train arch 'evolve'" in proc.stderr
    assert not any(tmp_path.iterdir())


def test_eval_referring_all_methods_and_picture(trained, referring_root, tmp_path, capsys):
    from evolve.model import registry

    torch.manual_seed(0)
    evolve_w = tmp_path / "evolve_small.pth"
    torch.save(registry.build_model(registry.load_model_config("small")).state_dict(), evolve_w)
    sgmg_set = [a for t in TINY for a in ("--sgmg-set", t.removeprefix("model."))]
    args = ["--root", str(referring_root), "--sgmg-weights", str(trained / "ref_main_training_last.pth"), *sgmg_set,
            "--evolve-weights", str(evolve_w), "--out", str(tmp_path / "out"), "--device", "cpu", "--no-progress",
            "--picture", str(tmp_path / "pic.png")]
    assert eval_referring(args) == 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert set(summary["methods"]) == {"sgmg", "propagate", "largest"}
    assert summary["methods"]["largest"]["per_expression"]["J&F"] == 0.5
    assert (tmp_path / "pic.png").stat().st_size > 0
    assert (tmp_path / "out" / "propagate" / "Annotations" / "va0" / "0" / "00000.png").is_file()
    # a second run into the same folder is refused, as are missing weights and a method without its network
    assert eval_referring(args) == 2
    assert eval_referring([*args[:-2], "--overwrite", "--methods", "propagate", "--evolve-weights", str(tmp_path / "none.pth")]) == 2
    assert eval_referring(["--root", str(referring_root), "--out", str(tmp_path / "o2"), "--methods", "propagate",
                           "--sgmg-weights", str(trained / "ref_main_training_last.pth")]) == 2
    err = capsys.readouterr().err
    assert "already holds a referring summary" in err and "weights file not found" in err and "needs --evolve-weights" in err
