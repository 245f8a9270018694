"""What a new user hit, each reproduced (issue: one framework for five systems, point 4 and 5).

Every test runs the real entry point in a subprocess (as a user would) or the real function,
and asserts the behaviour the fix promises: a clear one-line error naming the file and the
fix, the exit code, and that nothing is written when a run is refused.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from evolve.data.events import EventChunk
from evolve.data.voxel import chunk_to_voxel_grid
from evolve.training.checkpoint import checkpoint_path, read_checkpoint
from tests.apps.conftest import FAST, REPO, run_script

pytestmark = pytest.mark.slow


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*")) if root.exists() else []


def _copy_data(tiny_data_root: Path, dst: Path) -> Path:
    """A private, writable copy of the tiny dataset (the session fixture is shared)."""
    lle = dst / "LLE_DAVIS"
    shutil.copytree(tiny_data_root / "LLE_DAVIS", lle, symlinks=False)
    return dst


# ---------------------------------------------------------------- splits of converted own data
def test_an_empty_split_is_a_clear_error_naming_the_file(tiny_data_root, tmp_path):
    data = _copy_data(tiny_data_root, tmp_path / "data")
    val = data / "LLE_DAVIS" / "trainval_480p" / "ImageSets" / "2017" / "val.txt"
    val.write_text("")
    r = run_script("eval_vos.py", "model=small", "dataset=lle_davis", f"data_root={data}", "weights=none.pth",
                   f"output_dir={tmp_path / 'pred'}", "device=cpu")
    assert r.returncode == 2
    assert f"{val}: split file lists no sequence. Fix: write one sequence name per line" in r.stderr
    assert "IndexError" not in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "pred").exists()


# ---------------------------------------------------------------- unknown keys, with or without +
@pytest.mark.parametrize("override, key", [("+main_training.learing_rate=0.1", "learing_rate"), ("+lerning_rate=0.1", "lerning_rate"),
                                           ("+model.evnets=false", "evnets"), ("model.evnets=false", "evnets")])
def test_a_misspelt_key_is_refused_with_or_without_plus(tmp_path, override, key):
    r = run_script("train.py", override, f"output_root={tmp_path}", "device=cpu")
    assert r.returncode == 2, r.stderr[-2000:]
    assert key in r.stderr and "Fix:" in r.stderr
    assert "To append to your config use +" not in r.stderr  # Hydra's hint that let typos through
    assert _files(tmp_path) == []


# ---------------------------------------------------------------- a truncated event file
def test_a_truncated_event_file_is_found_before_the_first_iteration(tiny_data_root, tmp_path):
    data = _copy_data(tiny_data_root, tmp_path / "data")
    base = data / "LLE_DAVIS" / "trainval_480p"
    seq = (base / "ImageSets" / "2017" / "train.txt").read_text().split()[1]
    chunk = sorted((base / "Lowlight_event" / seq).glob("*.npz"))[3]
    chunk.write_bytes(chunk.read_bytes()[: chunk.stat().st_size // 2])
    out = tmp_path / "out"
    r = run_script("train.py", "exp_id=t", *FAST, f"data_root={data}", f"output_root={out}")
    assert r.returncode == 2
    lines = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and str(chunk) in lines[0] and "truncated or corrupt" in lines[0] and "evolve-check" in lines[0]
    assert "Traceback" not in r.stderr
    assert _files(out) == []  # checked before any output


def test_a_bad_file_met_by_a_loader_worker_is_one_clear_line(tiny_data_root, tmp_path):
    # A corruption the quick check cannot see (values, not sizes): a mask with an RGB image.
    data = _copy_data(tiny_data_root, tmp_path / "data")
    base = data / "LLE_DAVIS" / "trainval_480p"
    from PIL import Image

    for seq in (base / "ImageSets" / "2017" / "train.txt").read_text().split():
        for m in sorted((base / "Annotations" / seq).glob("*.png"))[1:]:
            Image.new("RGB", (64, 64), (200, 10, 10)).save(m)
    r = run_script("train.py", "exp_id=w", *FAST, "num_workers=1", f"data_root={data}", f"output_root={tmp_path / 'out'}")
    assert r.returncode == 2, r.stderr[-3000:]
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Annotations" in errors[0] and "Fix:" in errors[0]
    assert "Traceback" not in r.stderr and "Original Traceback" not in r.stderr


# ---------------------------------------------------------------- finished runs, extend
def test_a_finished_run_asked_for_more_says_so_and_extend_continues_it(tiny_data_root, tmp_path):
    common = [*FAST, f"data_root={tiny_data_root}", f"output_root={tmp_path}"]
    first = run_script("train.py", "exp_id=e", *common, "main_training.num_iterations=2")
    assert first.returncode == 0, first.stderr[-3000:]
    ckpt = checkpoint_path(tmp_path / "e", "e", "main_training")
    before = ckpt.stat().st_mtime_ns
    more = run_script("train.py", "exp_id=e", *common, "main_training.num_iterations=4")
    assert more.returncode == 2
    assert "already finished main_training at iteration 2" in more.stderr and "extend=true" in more.stderr
    assert ckpt.stat().st_mtime_ns == before
    extended = run_script("train.py", "exp_id=e", *common, "main_training.num_iterations=4", "extend=true")
    assert extended.returncode == 0, extended.stderr[-3000:]
    state = read_checkpoint(ckpt)
    assert state["it"] == 4 and state["finished"]


# ---------------------------------------------------------------- nothing written on a refused run
def test_a_missing_data_root_leaves_no_output_at_all(tmp_path):
    out = tmp_path / "out"
    r = run_script("train.py", "exp_id=x", *FAST, f"data_root={tmp_path / 'nowhere'}", f"output_root={out}")
    assert r.returncode == 2 and "does not exist" in r.stderr
    assert _files(out) == []  # no Hydra folder, no log, no TensorBoard file
    assert not (REPO / "outputs").exists() or not list((REPO / "outputs").glob("*x*"))


# ---------------------------------------------------------------- help
def test_help_is_a_real_usage_text():
    r = run_script("train.py", "--help")
    assert r.returncode == 0
    out = r.stdout
    assert out.startswith("usage: evolve-train") and len(out.splitlines()) < 60
    for key in ("exp_id=", "model=small|base", "data=", "weights=", "checkpoint=", "extend=true", "--cfg job"):
        assert key in out, key
    assert "data=   base | demo | lle_davis | lle_davis2016 | lle_vos | mega | with-mose" in out
    e = run_script("eval_vos.py", "--help")
    assert e.returncode == 0 and e.stdout.startswith("usage: evolve-eval")
    assert "dataset=" in e.stdout and "weights=" in e.stdout
    assert "data=  " not in e.stdout  # eval takes no data= group, so its help does not offer it
    full = run_script("train.py", "--cfg", "job", "model=small")
    assert full.returncode == 0 and "main_training:" in full.stdout and "key_dim: 256" in full.stdout


# ---------------------------------------------------------------- one spelling
def test_eval_dataset_names_are_the_training_data_names():
    from evolve.apps.hydra_app import group_choices
    from omegaconf import OmegaConf

    from evolve.configs import CONFIG_DIR

    datasets = set(OmegaConf.load(CONFIG_DIR / "eval_config.yaml")["datasets"])
    data_names = set(group_choices("data"))
    assert {"lle_vos", "lle_davis", "lle_davis2016", "demo"} <= datasets & data_names
    assert not any("-" in name for name in datasets)


# ---------------------------------------------------------------- chunk_to_voxel_grid's arguments
def test_voxel_grid_takes_height_width_and_refuses_a_swapped_call():
    chunk = EventChunk(np.array([3, 5]), np.array([1, 2]), np.array([0.0, 10.0]), np.array([1, -1]))
    grid = chunk_to_voxel_grid(chunk, (4, 8), 5)
    assert grid.shape == (5, 4, 8) and grid[0, 1, 3] == 1.0 and grid[4, 2, 5] == -1.0
    with pytest.raises(ValueError, match=r"sensor_size must be \(height, width\)"):
        chunk_to_voxel_grid(chunk, 480, 854, 5)  # the old (chunk, height, width, bins) call
    for bad_bins in (0, 2.5, (5,)):
        with pytest.raises(ValueError, match=r"num_bins must be an int in \[1, 1024\]"):
            chunk_to_voxel_grid(chunk, (480, 854), bad_bins)


# ---------------------------------------------------------------- SIGTERM
def test_sigterm_saves_a_checkpoint_and_exits_143(tiny_data_root, tmp_path):
    cmd = [sys.executable, "evolve/train.py", "exp_id=s", *FAST, f"data_root={tiny_data_root}", f"output_root={tmp_path}",
           "main_training.num_iterations=400", "main_training.lr_schedule_steps=[300]", "log_text_interval=1"]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})
    deadline = time.time() + 300
    log = ""
    while time.time() < deadline and proc.poll() is None:  # wait for the first iteration's log line
        line = proc.stderr.readline()
        log += line
        if "main_training it 1/" in line:
            break
    proc.send_signal(signal.SIGTERM)
    rest = proc.communicate(timeout=300)[1]
    assert proc.returncode == 128 + signal.SIGTERM, log + rest
    state = read_checkpoint(checkpoint_path(tmp_path / "s", "s", "main_training"))
    assert not state["finished"] and 1 <= state["it"] < 400


# ---------------------------------------------------------------- evolve-model-summary
def test_model_summary_writes_only_when_asked(tmp_path):
    from evolve.apps import model_summary
    from evolve.model import summary
    from evolve.model.summary import Variant

    before = _files(REPO / "docs")
    stamps = {p: p.stat().st_mtime_ns for p in before if p.is_file()}
    mp = pytest.MonkeyPatch()
    mp.setattr(summary, "VARIANTS", (Variant("small", "small"),))
    try:
        assert model_summary.summary_program([]) == 0
        assert {p: p.stat().st_mtime_ns for p in _files(REPO / "docs") if p.is_file()} == stamps
        assert model_summary.summary_program(["--out", str(tmp_path / "p.md")]) == 0
    finally:
        mp.undo()
    assert "| `event_encoder` |" in (tmp_path / "p.md").read_text()


# ---------------------------------------------------------------- eval_after_training, event_bins
def test_event_bins_reach_the_data_and_eval_after_training_scores_the_val_set(tiny_data_root, tmp_path):
    r = run_script("train.py", "exp_id=b", *FAST, f"data_root={tiny_data_root}", f"output_root={tmp_path}",
                   "main_training.num_iterations=1", "model.event_bins=3", "eval_after_training=true")
    assert r.returncode == 0, r.stderr[-3000:]
    w = torch.load(tmp_path / "b" / "b_main_training_last.pth", map_location="cpu")
    assert w["event_encoder.conv1.weight"].shape[1] == 3  # the network reads 3 bins ...
    stats = json.loads((tmp_path / "b" / "val" / "inference_stats.json").read_text())
    assert stats["frames"] > 0  # ... the val set was read with 3-bin grids and scored
    assert (tmp_path / "b" / "val" / "global_results.csv").is_file() and "val J&F" in r.stderr
    e = run_script("eval_vos.py", "model=small", "model.event_bins=3", "dataset=lle_davis", f"data_root={tiny_data_root}",
                   f"weights={tmp_path / 'b' / 'b_main_training_last.pth'}", f"output_dir={tmp_path / 'e'}", "device=cpu",
                   "num_workers=0", "eval_workers=1", "copy_baseline=true")
    assert e.returncode == 0, e.stderr[-3000:]
    rows = [line for line in e.stdout.splitlines() if line.startswith(("model (small)", "copy first mask"))]
    assert len(rows) == 2  # make demo prints the model and copying the first mask side by side
    model_jf = float(rows[0].split()[2])
    global_csv = (tmp_path / "e" / "global_results.csv").read_text().splitlines()[1].split(",")
    assert model_jf == pytest.approx(float(global_csv[0]), abs=1e-3)
