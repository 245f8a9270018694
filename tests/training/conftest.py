"""Fixtures for end-to-end training/evaluation tests: a tiny LLE-DAVIS-format dataset (the demo
generator at 64x64) and a helper that runs evolve/train.py / evolve/eval_vos.py as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# Small, fast settings every training test starts from (model=small on 64x64 clips of 3 frames).
FAST = [
    "model=small",
    "data=lle_davis",
    "main_training.num_iterations=4",
    "main_training.lr_schedule_steps=[3]",
    "main_training.batch_size=2",
    "main_training.seq_length=3",
    "main_training.crop_size=64",
    "main_training.train_num_points=512",
    "main_training.amp=false",
    "num_workers=0",
    "log_text_interval=1",
    "log_image_interval=1000",
    "device=cpu",
]


@pytest.fixture(scope="session")
def tiny_data_root(tmp_path_factory) -> Path:
    """``<root>/LLE_DAVIS``: 3 train + 1 val procedural sequences of 8 frames at 64x64."""
    from evolve.synthesis.demo import DemoConfig, ensure_demo_dataset

    root = tmp_path_factory.mktemp("data")
    cfg = DemoConfig(height=64, width=64, num_train=3, num_val=1, min_frames=8, max_frames=8, seed=3)
    lle = ensure_demo_dataset(root / "tiny", cfg)
    (root / "LLE_DAVIS").symlink_to(lle, target_is_directory=True)
    return root


def run_script(script: str, *overrides: str, env: dict | None = None, timeout: int = 600, torchrun: int = 0) -> subprocess.CompletedProcess:
    """Run ``evolve/<script>`` with Hydra overrides from the repository root; returns the process."""
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", **(env or {})}
    if torchrun:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={torchrun}",
               f"evolve/{script}", *overrides]
    else:
        cmd = [sys.executable, f"evolve/{script}", *overrides]
    return subprocess.run(cmd, cwd=REPO, env=full_env, capture_output=True, text=True, timeout=timeout)
