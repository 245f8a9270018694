"""evolve-eval-interactive end to end on a tiny dataset, and its refusals (exit 2)."""

from __future__ import annotations

import csv
import json

import torch

from evolve.model import registry
from tests.interactive.conftest import run

APP = "evolve.apps.eval_interactive"


def _common(root, out):
    return [f"data_root={root}", "dataset=demo", "datasets.demo.root=" + str(root / "LLE_DAVIS"), "size=-1", "device=cpu",
            "protocol.max_interactions=2", "protocol.min_nb_nodes=2", f"output_dir={out}"]


def test_protocol_runs_for_evolve_and_gltm(tiny_root, trained, tmp_path):
    evolve_w = tmp_path / "evolve_small.pth"
    torch.manual_seed(0)
    torch.save(registry.build_model(registry.load_model_config("small")).state_dict(), evolve_w)
    out = tmp_path / "a"
    p = run(APP, *_common(tiny_root, out), "model=small", f"weights={evolve_w}", f"interaction_weights={trained['interaction']}")
    assert p.returncode == 0, p.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert len(summary["per_round"]["J_AND_F"]) == 2 and 0.0 <= summary["auc"] <= 1.0
    assert summary["curve"]["time"][0] == 0.0 and summary["max_time"] >= 240.0
    rows = list(csv.DictReader((out / "rounds.csv").open()))
    objects = summary["objects"]
    assert len(rows) == 2 * objects and {r["round"] for r in rows} == {"1", "2"}
    assert (out / "jf_vs_round.png").is_file() and (out / "jf_vs_time.png").is_file()
    seq = next((out / "rounds").iterdir())
    assert (seq / "robot" / "round_01.json").is_file() and (seq / "robot" / "round_02_mask.png").is_file()
    # the rounds picture reads these outputs
    from evolve.vis.interactive import round_rows

    pic = round_rows(tiny_root / "LLE_DAVIS", {"ours": out}, seq.name, rounds=(1, 2), height=32)
    assert pic.dtype.name == "uint8" and pic.shape[0] == 2 * (32 + 4) and pic.shape[2] == 3
    # the same folder again: refused without overwrite
    p = run(APP, *_common(tiny_root, out), "model=small", f"weights={evolve_w}", f"interaction_weights={trained['interaction']}")
    assert p.returncode == 2 and "overwrite=true" in p.stderr
    out2 = tmp_path / "c"
    p = run(APP, *_common(tiny_root, out2), "model=gltm", f"weights={trained['gltm']}")
    assert p.returncode == 0, p.stderr[-3000:]
    assert len(json.loads((out2 / "summary.json").read_text())["per_round"]["J_AND_F"]) == 2


def test_refusals(tiny_root, trained, tmp_path, capsys):
    from evolve.apps.eval_interactive import main

    base = _common(tiny_root, tmp_path / "o")
    cases = [
        (["model=small", f"weights={trained['interaction']}", f"interaction_weights={trained['interaction']}"], "weights of the interaction network"),
        (["model=gltm", f"weights={trained['gltm']}", f"interaction_weights={trained['interaction']}"], "drop interaction_weights"),
        (["model=small", f"weights={trained['gltm']}"], "interaction_weights"),
        (["model=small", "protocol.max_interactons=3"], "max_interactons"),
    ]
    for args, message in cases:
        assert main([*base, *args]) == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
    assert main(["--help"]) == 0 and "interaction_weights" in capsys.readouterr().out
