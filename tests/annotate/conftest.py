"""Fixtures of the evolve-annotate tests: a one-object demo sequence in LLE-DAVIS layout, random
GLTM networks for the server tests, and weights trained in the test setup for the browser test."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
SEQ = "demo-train-00"

#: The short CPU schedules of the browser test's weights (both runs overfit the one demo
#: sequence the test annotates: the test checks the app's plumbing, not generalisation).
TRAIN_COMMON = [
    "data=lle_davis", "main_training.lr_schedule_steps=[]", "main_training.num_objects=1", "main_training.crop_size=64",
    "main_training.amp=false", "num_workers=0", "log_text_interval=10", "log_image_interval=100000",
    "save_checkpoint_interval=100000", "device=cpu", "pre_training.enabled=false",
]
TRAIN_INTERACTION = ["task=interactive", "model=interaction", "main_training.num_iterations=30", "main_training.batch_size=4",
                     "main_training.seq_length=1", "main_training.learning_rate=1e-3"]
TRAIN_EVOLVE = ["model=small", "main_training.num_iterations=80", "main_training.batch_size=2", "main_training.seq_length=3",
                "main_training.num_ref_frames=2", "main_training.max_skip=2", "main_training.learning_rate=2e-4"]


@pytest.fixture(scope="session")
def demo_root(tmp_path_factory) -> Path:
    """``<tmp>/LLE_DAVIS``: one demo sequence (one object, 10 frames at 64x64, low light + events)."""
    from evolve.synthesis.demo import DemoConfig, ensure_demo_dataset

    root = tmp_path_factory.mktemp("adata")
    cfg = DemoConfig(height=64, width=64, num_train=1, num_val=0, min_frames=10, max_frames=10, min_objects=1, max_objects=1, seed=5)
    return ensure_demo_dataset(root / "demo", cfg)


@pytest.fixture(scope="session")
def gltm_net():
    """A random-initialised GLTM (events on), seeded."""
    from evolve.model import registry

    torch.manual_seed(0)
    return registry.build_model(registry.load_model_config("gltm")).eval()


@pytest.fixture
def gltm_networks(gltm_net):
    """:class:`Networks` on the random GLTM (the server tests need working, not good, networks)."""
    from evolve.apps.annotate.networks import Networks
    from evolve.inference.interactive import GLTMPropagator, Interactor

    return Networks(Interactor(gltm_net.anet), lambda: GLTMPropagator(gltm_net), True, 5, "random GLTM")


@pytest.fixture(scope="session")
def gltm_weights(gltm_net, tmp_path_factory) -> Path:
    """The random GLTM's weights file."""
    path = tmp_path_factory.mktemp("aw") / "gltm.pth"
    torch.save(gltm_net.state_dict(), path)
    return path


@pytest.fixture(scope="session")
def demo_weights(demo_root, tmp_path_factory) -> dict[str, Path]:
    """Weights of the interaction network and of EVOLVE-small, trained (in parallel, one process
    each) on the demo sequence with the project's trainer (``evolve/train.py``)."""
    out = tmp_path_factory.mktemp("aruns")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(REPO)}
    common = [f"data_root={demo_root.parent}", f"output_root={out}", *TRAIN_COMMON]  # data=lle_davis reads <data_root>/LLE_DAVIS
    procs = {
        name: subprocess.Popen([sys.executable, "evolve/train.py", f"exp_id={name}", *common, *extra], cwd=REPO, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for name, extra in (("inter", TRAIN_INTERACTION), ("evo", TRAIN_EVOLVE))
    }
    for name, p in procs.items():
        text, _ = p.communicate(timeout=900)
        assert p.returncode == 0, f"{name} training failed:\n{text[-3000:]}"
    return {"interaction": out / "inter" / "inter_main_training_last.pth", "evolve": out / "evo" / "evo_main_training_last.pth"}
