"""task=few_shot through evolve-train, evolve-eval-fewshot, and EVOLVE propagation of a seed chunk."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from evolve.data.episodes import EpisodeConfig, EpisodeSampler, load_episode
from evolve.data.procedural_motion import ProceduralMotionSource
from evolve.inference.fewshot import FewShotInferenceConfig, propagate_from_seed, segment_episode
from evolve.inference.inference_core import InferenceCore
from evolve.model import registry
from evolve.model.dma import DMA, DMAConfig
from evolve.utils.errors import InputError

from tests.fewshot.tiny_motion import standard_videos, write_procedural

REPO = Path(__file__).resolve().parents[2]
SMALL = ["model.small_widths=[8,8,16,16]", "model.hidden_dim=16", "model.num_heads=2", "model.qformer_layers=1", "model.event_widths=[4,8]"]


def run(module: str, *args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", module, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("fs")
    write_procedural(root / "procedural" / "LLE_DAVIS", standard_videos())
    return root


def _train_args(data_root: Path, out: Path, exp: str, *extra: str) -> list[str]:
    return ["task=few_shot", "model=dma", "data=procedural_motion", f"data_root={data_root}", f"output_root={out}", f"exp_id={exp}",
            "num_workers=0", "main_training.batch_size=2", "data.main_training.episodes.height=32", "data.main_training.episodes.width=32",
            "save_checkpoint_interval=2", *SMALL, *extra]


@pytest.mark.slow
def test_train_resume_and_evaluate(data_root, tmp_path):
    out = tmp_path / "out"
    r = run("evolve.apps.train", *_train_args(data_root, out, "fs", "main_training.num_iterations=3"))
    assert r.returncode == 0, r.stderr[-3000:]
    weights = out / "fs" / "fs_main_training_last.pth"
    assert weights.is_file()
    r = run("evolve.apps.train", *_train_args(data_root, out, "fs", "main_training.num_iterations=5", "extend=true"))
    assert r.returncode == 0 and "resuming exp_id fs" in r.stderr, r.stderr[-3000:]
    ev = tmp_path / "ev"
    r = run("evolve.apps.eval_fewshot", str(data_root / "procedural/LLE_DAVIS"), str(ev), "--weights", str(weights), "--episodes", "5",
            "--size", "32", "32", *[f"--set={s.split('.', 1)[1]}" for s in SMALL])
    assert r.returncode == 0, r.stderr[-3000:]
    summary = json.loads((ev / "summary.json").read_text())
    assert summary["episodes"] == 5 and summary["present_episodes"] + summary["absent_episodes"] == 5
    rows = list(csv.DictReader((ev / "scores.csv").open()))
    assert len(rows) == 10 and {r["category"] for r in rows} <= {"left", "right"}  # fold 0's classes only
    assert (ev / "episode_0000.png").is_file()


def test_bad_requests_write_nothing(data_root, tmp_path):
    out = tmp_path / "out"
    r = run("evolve.apps.train", *_train_args(data_root, out, "bad", "main_training.num_iterations=2", "data.main_training.episodes.ways=7"))
    assert r.returncode == 2 and "ways=7" in r.stderr and "training folds" in r.stderr, r.stderr[-2000:]
    assert not out.exists()
    ev = tmp_path / "ev"
    r = run("evolve.apps.eval_fewshot", str(data_root / "procedural/LLE_DAVIS"), str(ev), "--method", "moving", "--ways", "3")
    assert r.returncode == 2 and "ways=3" in r.stderr and "fold 0" in r.stderr
    assert not ev.exists()
    r = run("evolve.apps.eval_fewshot", str(data_root / "procedural/LLE_DAVIS"), str(ev), "--method", "dma")
    assert r.returncode == 2 and "--weights" in r.stderr and not ev.exists()


def test_support_blind_moving_baseline_cli(data_root, tmp_path):
    ev = tmp_path / "ev"
    r = run("evolve.apps.eval_fewshot", str(data_root / "procedural/LLE_DAVIS"), str(ev), "--method", "moving", "--episodes", "12",
            "--seed", "3", "--pictures", "0")
    assert r.returncode == 0, r.stderr[-2000:]
    s = json.loads((ev / "summary.json").read_text())
    # every query video has moving objects: a support-blind method never leaves an absent episode empty
    assert s["n_acc"] == 0.0 and s["t_acc"] == 1.0
    assert s["run"]["seed"] == 3 and s["run"]["method"] == "moving"


def test_propagation_keeps_the_seed_and_uses_way_ids(data_root):
    src = ProceduralMotionSource(data_root / "procedural/LLE_DAVIS", "val")
    cfg = EpisodeConfig(fold=0, ways=2, shots=1, query_frames=0, absent_probability=0.0)
    ep = load_episode(src, EpisodeSampler(src.catalogue, cfg, "test").sample(0, 0), cfg)
    evo_cfg = registry.load_model_config("small", ["pixel_encoder.type=resnet18", "key_dim=32"])
    torch.manual_seed(0)
    core = InferenceCore(registry.build_model(evo_cfg).eval(), device="cpu")
    seed = torch.zeros(3, 32, 32, dtype=torch.int64)
    seed[:, 4:10, 4:10] = 2  # way 1 seeded on the first three frames
    labels = propagate_from_seed(core, ep.query_rgb, ep.query_voxel, seed, 2)
    assert labels.shape == ep.query_rgb.shape[:1] + ep.query_rgb.shape[-2:]
    assert torch.equal(labels[:3], seed)
    assert set(torch.unique(labels).tolist()) <= {0, 2}  # only the seeded way can be propagated
    empty = propagate_from_seed(core, ep.query_rgb, ep.query_voxel, torch.zeros(3, 32, 32, dtype=torch.int64), 2)
    assert int(empty.abs().sum()) == 0  # nothing seeded: the rest stays background
    torch.manual_seed(0)
    dma = DMA(DMAConfig(small_widths=[8, 8, 16, 16], hidden_dim=16, num_heads=2, qformer_layers=1, event_widths=[4, 8])).eval()
    pred = segment_episode(dma, ep, FewShotInferenceConfig(chunk=4, propagate=True), "cpu", core)
    assert pred.labels.shape == labels.shape and pred.cls_logits.shape == (2,)
    with pytest.raises(InputError, match="EVOLVE"):
        segment_episode(dma, ep, FewShotInferenceConfig(propagate=True), "cpu", None)
