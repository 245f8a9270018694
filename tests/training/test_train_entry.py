"""End-to-end tests of evolve/train.py as a user runs it (subprocesses, CPU, model=small at 64x64)."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from evolve.training.checkpoint import read_checkpoint
from tests.training.conftest import FAST, REPO, run_script

pytestmark = pytest.mark.slow


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=True)


def _digests(out: Path) -> dict[int, str]:
    found = {}
    for log in out.glob("*-train-rank*.log"):
        for m in re.finditer(r"final weights sha256 ([0-9a-f]{64}) \(rank (\d+) of (\d+)\)", log.read_text()):
            found[int(m.group(2))] = m.group(1)
    return found


def test_uninterrupted_vs_killed_and_resumed_give_identical_weights(tiny_data_root, tmp_path):
    common = [*FAST, f"data_root={tiny_data_root}", f"output_root={tmp_path}", "deterministic=true",
              "main_training.num_iterations=6", "main_training.lr_schedule_steps=[4]", "save_checkpoint_interval=2"]
    ref = run_script("train.py", "exp_id=ref", *common)
    assert ref.returncode == 0, ref.stderr[-3000:]

    # Same run, killed with SIGKILL once the iteration-2 checkpoint exists, then started again.
    cmd = [sys.executable, "evolve/train.py", "exp_id=resumed", *common]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})
    ckpt = tmp_path / "resumed" / "resumed_main_training_ckpt_last.pth"
    deadline = time.time() + 300
    while not ckpt.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    state = read_checkpoint(ckpt)  # an atomic write: complete, never torn
    assert not state["finished"] and state["it"] in (2, 4), "the kill must land before the end"

    resumed = run_script("train.py", "exp_id=resumed", *common)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "from its own checkpoint" in resumed.stderr
    a = _weights(tmp_path / "ref" / "ref_main_training_last.pth")
    b = _weights(tmp_path / "resumed" / "resumed_main_training_last.pth")
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a), "resumed run diverged from the uninterrupted one"
    assert read_checkpoint(tmp_path / "resumed" / "resumed_main_training_ckpt_last.pth")["it"] == 6

    # A rerun of a finished exp_id changes nothing.
    before = ckpt.stat().st_mtime_ns
    again = run_script("train.py", "exp_id=resumed", *common)
    assert again.returncode == 0 and "already finished" in again.stderr
    assert ckpt.stat().st_mtime_ns == before


def test_torchrun_two_processes_end_with_identical_weights(tiny_data_root, tmp_path):
    r = run_script("train.py", "exp_id=ddp", *FAST, f"data_root={tiny_data_root}", f"output_root={tmp_path}",
                   "main_training.num_iterations=3", torchrun=2)
    assert r.returncode == 0, r.stderr[-4000:]
    digests = _digests(tmp_path / "ddp")
    assert set(digests) == {0, 1}, f"expected a digest from both ranks, got {digests}"
    assert digests[0] == digests[1]
    assert "2 process(es) on cpu" in r.stderr


def test_weights_loads_a_pre_training_result_into_main_training(tiny_data_root, tmp_path):
    pre = run_script(
        "train.py", "exp_id=pre", *FAST, f"data_root={tiny_data_root}", f"output_root={tmp_path}",
        "pre_training.enabled=true", "main_training.enabled=false", "pre_training.num_iterations=2",
        "pre_training.batch_size=2", "pre_training.crop_size=64", "pre_training.train_num_points=512",
    )
    assert pre.returncode == 0, pre.stderr[-3000:]
    pre_w = _weights(tmp_path / "pre" / "pre_pre_training_last.pth")
    assert pre_w["mask_encoder.backbone.conv1.weight"].shape[1] == 4  # single-object network: RGB + mask

    # learning_rate=0: main training must end with exactly the loaded weights
    main = run_script(
        "train.py", "exp_id=main", *FAST, f"data_root={tiny_data_root}", f"output_root={tmp_path}",
        f"weights={tmp_path / 'pre' / 'pre_pre_training_last.pth'}", "main_training.learning_rate=0.0",
        "main_training.num_iterations=1",
    )
    assert main.returncode == 0, main.stderr[-3000:]
    assert "adapted" in main.stderr
    main_w = _weights(tmp_path / "main" / "main_main_training_last.pth")
    conv = main_w["mask_encoder.backbone.conv1.weight"]
    assert conv.shape[1] == 5  # multi-object: RGB + mask + others
    torch.testing.assert_close(conv[:, :4], pre_w["mask_encoder.backbone.conv1.weight"], rtol=0, atol=0)
    assert torch.count_nonzero(conv[:, 4]) == 0  # the new "others" channel starts at zero
    same = [k for k in pre_w if k in main_w and pre_w[k].shape == main_w[k].shape]
    assert len(same) > 400
    assert all(torch.equal(pre_w[k], main_w[k]) for k in same)


def test_data_root_that_does_not_exist_is_a_clear_error_and_outputs_are_untouched(tmp_path):
    out = tmp_path / "out" / "x"
    out.mkdir(parents=True)
    sentinel = out / "x_main_training_last.pth"
    sentinel.write_bytes(b"previous run")
    r = run_script("train.py", "exp_id=x", *FAST, f"data_root={tmp_path / 'nowhere'}", f"output_root={tmp_path / 'out'}")
    assert r.returncode == 2
    assert f"{tmp_path / 'nowhere'}/LLE_DAVIS: dataset root of main_training dataset 'lle_davis' does not exist" in r.stderr
    assert "Fix:" in r.stderr
    assert sentinel.read_bytes() == b"previous run"
    assert sorted(p.name for p in out.glob("*.pth")) == ["x_main_training_last.pth"]  # nothing new, nothing replaced


def test_config_key_typo_is_a_clear_error(tmp_path):
    r = run_script("train.py", "main_training.learing_rate=0.1", f"output_root={tmp_path}")
    assert r.returncode != 0
    assert r.returncode == 2 and "learing_rate" in r.stderr and "StageConfig" in r.stderr and "Fix: check the spelling" in r.stderr
    assert not (tmp_path / "default").exists() or not list((tmp_path / "default").glob("*.pth"))


def test_checkpoint_from_another_model_size_is_a_clear_error(tiny_data_root, tmp_path):
    small = run_script("train.py", "exp_id=s", *FAST, f"data_root={tiny_data_root}", f"output_root={tmp_path}",
                       "main_training.num_iterations=1")
    assert small.returncode == 0, small.stderr[-3000:]
    ckpt = tmp_path / "s" / "s_main_training_ckpt_last.pth"
    existing = tmp_path / "b"
    existing.mkdir()
    (existing / "notes.txt").write_text("keep me")
    base = [o for o in FAST if not o.startswith("model=")] + ["model=base"]
    r = run_script("train.py", "exp_id=b", *base, f"data_root={tiny_data_root}", f"output_root={tmp_path}", f"checkpoint={ckpt}")
    assert r.returncode == 2
    assert f"{ckpt}: these weights do not fit the network" in r.stderr
    assert "Fix: resume with the model config (model=, events=)" in r.stderr
    assert (existing / "notes.txt").read_text() == "keep me"
    assert not list(existing.glob("*.pth"))
