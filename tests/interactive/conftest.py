"""Fixtures for the interactive end-to-end tests: a tiny LLE-DAVIS-format dataset (the demo
generator at 64x64) and weights of tiny training runs of task=interactive."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

FAST = [
    "data=lle_davis",
    "main_training.num_iterations=2",
    "main_training.lr_schedule_steps=[]",
    "main_training.batch_size=2",
    "main_training.num_objects=1",
    "main_training.crop_size=64",
    "main_training.amp=false",
    "num_workers=0",
    "log_text_interval=1",
    "log_image_interval=1000",
    "device=cpu",
]


def run(module_or_script: str, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    """Run ``evolve/<script>`` or ``-m <module>`` from the repository root as a user would."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, *(["-m", module_or_script] if not module_or_script.endswith(".py") else [f"evolve/{module_or_script}"]), *args]
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="session")
def tiny_root(tmp_path_factory) -> Path:
    """``<root>/LLE_DAVIS``: 3 train + 1 val procedural sequences of 8 frames at 64x64."""
    from evolve.synthesis.demo import DemoConfig, ensure_demo_dataset

    root = tmp_path_factory.mktemp("idata")
    cfg = DemoConfig(height=64, width=64, num_train=3, num_val=1, min_frames=8, max_frames=8, seed=3)
    lle = ensure_demo_dataset(root / "tiny", cfg)
    (root / "LLE_DAVIS").symlink_to(lle, target_is_directory=True)
    return root


@pytest.fixture(scope="session")
def trained(tiny_root, tmp_path_factory) -> dict[str, Path]:
    """Weights of 2-iteration runs: the interaction network (events) and GLTM (events)."""
    out = tmp_path_factory.mktemp("iruns")
    common = [f"data_root={tiny_root}", f"output_root={out}", *FAST]
    p = run("train.py", "exp_id=inter", "task=interactive", "model=interaction", "main_training.seq_length=1", *common)
    assert p.returncode == 0, p.stderr[-3000:]
    p = run("train.py", "exp_id=gl", "task=interactive", "model=gltm", "main_training.seq_length=3", *common)
    assert p.returncode == 0, p.stderr[-3000:]
    return {"interaction": out / "inter" / "inter_main_training_last.pth", "gltm": out / "gl" / "gl_main_training_last.pth", "out": out}
