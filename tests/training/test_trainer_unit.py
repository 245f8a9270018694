"""Trainer pieces in-process: LR schedules, checkpoint files, the non-finite-loss stop."""

from __future__ import annotations

import pytest
import torch
from omegaconf import OmegaConf

import math
import random

import numpy as np

from evolve.model.evolve import EVOLVE, load_model_config
from evolve.model.weights import state_dict_of
from evolve.training import checkpoint as ckpt
from evolve.training.tasks.semi_supervised import SemiSupervisedTask
from evolve.utils.atomic import atomic_torch_save
from evolve.training.config import StageConfig, TrainConfig
from evolve.training.distributed import DistInfo
from evolve.training.schedule import lr_lambda
from evolve.training.trainer import NonFiniteLossError, Trainer
from evolve.utils.errors import InputError
from tests.model.helpers import make_clip


def test_step_schedule_matches_cutie_numbers():
    f = lr_lambda("step", [100_000, 115_000], 0.1, 125_000)
    assert f(0) == 1.0 and f(99_999) == 1.0
    assert f(100_000) == pytest.approx(0.1) and f(114_999) == pytest.approx(0.1)
    assert f(115_000) == pytest.approx(0.01)
    assert lr_lambda("constant", [], 0.1, 10)(9) == 1.0
    assert lr_lambda("poly", [], 0.1, 100)(50) == pytest.approx(0.5**0.9)
    with pytest.raises(ValueError):
        lr_lambda("cosine", [], 0.1, 10)


def test_weights_only_file_is_refused_as_checkpoint(tmp_path):
    path = tmp_path / "w.pth"
    atomic_torch_save({"a": torch.zeros(2)}, path)
    with pytest.raises(InputError, match=r"w\.pth: not a full training checkpoint.*Fix: use weights="):
        ckpt.read_checkpoint(path)
    assert set(state_dict_of(torch.load(path), path)) == {"a"}


def test_truncated_checkpoint_is_a_clear_error(tmp_path):
    path = tmp_path / "c.pth"
    atomic_torch_save({"format": 1, "it": 3, "weights": {}, "optimizer": {}, "stage": "main_training"}, path)
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(InputError, match=r"c\.pth: cannot load"):
        ckpt.read_checkpoint(path)


def _trainer(tmp_path) -> Trainer:
    cfg = OmegaConf.structured(TrainConfig)
    cfg.exp_id = "unit"
    stage = OmegaConf.structured(StageConfig(num_iterations=3, batch_size=1, amp=False, train_num_points=256))
    net = EVOLVE(load_model_config("small"))
    task = SemiSupervisedTask()
    return Trainer(cfg, "main_training", stage, net, task.build_wrapper(net, stage), task.build_loss(stage),
                   DistInfo(0, 1, 0, torch.device("cpu")), tmp_path)


def test_non_finite_steps_are_skipped_on_the_device_and_stop_after_max_in_a_row(tmp_path):
    trainer = _trainer(tmp_path)
    trainer.cfg.max_nonfinite_steps = 2
    batch = make_clip(batch=1, frames=3, num_objects=1, height=32, width=32)
    batch["rgb"][0, 1, :, :4, :4] = float("nan")
    before = {k: v.clone() for k, v in trainer.network.state_dict().items()}
    terms, _ = trainer.train_step(batch)  # no exception, no host read
    after = trainer.network.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # the fused AdamW skipped the update
    assert not torch.isfinite(terms["total_loss"]) and trainer.it == 1
    assert all(int(st["step"]) == 0 for st in trainer.optimizer.state.values())  # step count reverted too
    assert trainer.check_nonfinite() == 1  # one skipped, below max_nonfinite_steps
    trainer.train_step(batch)
    trainer.train_step(batch)
    with pytest.raises(NonFiniteLossError, match=r"non-finite loss or gradients in 3 consecutive steps up to iteration 3.*last checkpoint.*is intact"):
        trainer.check_nonfinite()
    assert not list(tmp_path.glob("*.pth"))
    # a finite step afterwards trains normally
    good = make_clip(batch=1, frames=3, num_objects=1, height=32, width=32)
    trainer.train_step(good)
    assert any(not torch.equal(before[k], v) for k, v in trainer.network.state_dict().items())
    assert trainer.check_nonfinite() == 0


def test_sync_checks_stop_at_the_first_non_finite_loss(tmp_path):
    trainer = _trainer(tmp_path)
    trainer.cfg.sync_checks = True
    batch = make_clip(batch=1, frames=3, num_objects=1, height=32, width=32)
    batch["rgb"][0, 1, :, :4, :4] = float("nan")
    with pytest.raises(NonFiniteLossError, match=r"non-finite loss at iteration 1 \(loss terms"):
        trainer.train_step(batch)
    assert trainer.it == 0


def test_a_step_updates_weights_and_the_state_round_trips(tmp_path):
    trainer = _trainer(tmp_path)
    batch = make_clip(batch=1, frames=3, num_objects=2, height=32, width=32)
    before = {k: v.clone() for k, v in trainer.network.state_dict().items()}
    trainer.optimizer.zero_grad()
    scalars, _ = trainer.train_step(batch)
    assert trainer.it == 1 and torch.isfinite(torch.tensor(scalars["total_loss"]))
    after = trainer.network.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    # AdamW moves every parameter that received a gradient (its first step is lr * sign(g) in size),
    # and weight decay moves the rest: the mask decoder, the key projection and both encoders change.
    for prefix in ("mask_decoder.", "key_proj.", "pixel_encoder.layer3.", "event_encoder.layer3.", "object_transformer."):
        assert any(k.startswith(prefix) for k in changed), prefix
    w = "mask_decoder.pred.weight"
    step = (after[w] - before[w]).abs()
    lr = trainer.optimizer.param_groups[-1]["lr"]
    assert step.max() <= lr * 1.01 + 1e-9 and step.max() > lr * 0.5  # Adam's first step is at most lr per element
    # buffers (BN statistics, frozen) do not change
    assert all(torch.equal(before[k], after[k]) for k in before if "running_" in k)
    trainer.save()
    state = ckpt.read_checkpoint(ckpt.checkpoint_path(tmp_path, "unit", "main_training"))
    assert state["it"] == 1 and not state["finished"] and "exp_id: unit" in state["config"]
    other = _trainer(tmp_path)
    other.load_state_dict(state)
    a, b = trainer.network.state_dict(), other.network.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert other.optimizer.state_dict()["state"].keys() == trainer.optimizer.state_dict()["state"].keys()


def test_a_checkpoint_of_a_non_fused_optimizer_resumes_and_steps(tmp_path):
    # checkpoints written before the fused, device-skipping step store fused=None in each group;
    # loading one must not turn the optimizer back into the loop implementation (which refuses found_inf)
    trainer = _trainer(tmp_path)
    batch = make_clip(batch=1, frames=3, num_objects=2, height=32, width=32)
    trainer.train_step(batch)
    trainer.save()
    state = ckpt.read_checkpoint(ckpt.checkpoint_path(tmp_path, "unit", "main_training"))
    for group in state["optimizer"]["param_groups"]:
        group["fused"] = None
    other = _trainer(tmp_path)
    other.load_state_dict(state)
    assert all(g["fused"] is True for g in other.optimizer.param_groups)
    before = other.network.state_dict()["mask_decoder.pred.weight"].clone()
    other.train_step(batch)
    assert other.it == 2 and not torch.equal(before, other.network.state_dict()["mask_decoder.pred.weight"])


def test_resume_restores_the_python_numpy_and_torch_rng_states(tmp_path):
    trainer = _trainer(tmp_path)
    random.seed(11)
    np.random.seed(12)
    torch.manual_seed(13)
    trainer.save()
    expected = (random.random(), float(np.random.rand()), float(torch.rand(())))
    state = ckpt.read_checkpoint(ckpt.checkpoint_path(tmp_path, "unit", "main_training"))
    assert isinstance(state["rng"], list) and len(state["rng"]) == 1  # one entry per rank
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    _trainer(tmp_path).load_state_dict(state)
    assert (random.random(), float(np.random.rand()), float(torch.rand(()))) == expected


def _count_host_reads(monkeypatch) -> list:
    """Record every read of a tensor's value into Python (what forces a device sync on a GPU)."""
    reads: list = []
    for name in ("item", "tolist", "__bool__", "__float__", "__int__", "__index__"):
        real = getattr(torch.Tensor, name)

        def wrapper(self, *a, _real=real, _name=name, **k):
            reads.append((_name, tuple(self.shape)))
            return _real(self, *a, **k)

        monkeypatch.setattr(torch.Tensor, name, wrapper)
    return reads


def test_a_training_step_reads_nothing_back_but_one_cpu_coin_list(tmp_path, monkeypatch):
    trainer = _trainer(tmp_path)
    batch = make_clip(batch=1, frames=3, num_objects=2, height=32, width=32)
    batch["info"] = [{"num_objects": 2}]  # as collate_clips gives it
    trainer.train_step(batch)  # warm up (lazy optimizer state)
    reads = _count_host_reads(monkeypatch)
    trainer.train_step(batch)
    # the only read: the clip's deep-update coins, drawn at once as a (T,) CPU tensor
    assert reads == [("tolist", (3,))], reads
    monkeypatch.undo()
    trainer.cfg.sync_checks = True  # the old behaviour: the loss is read on the host before the backward pass
    reads = _count_host_reads(monkeypatch)
    trainer.train_step(batch)
    assert reads == [("tolist", (3,)), ("__bool__", ())], reads


def test_the_logging_interval_reads_all_means_at_once(tmp_path, monkeypatch):
    trainer = _trainer(tmp_path)
    batch = make_clip(batch=1, frames=3, num_objects=2, height=32, width=32)
    batch["info"] = [{"num_objects": 2}]
    trainer.cfg.log_text_interval = 2
    trainer.s.num_iterations = 2
    logged = []
    monkeypatch.setattr(trainer, "_log_scalars", lambda means, dt, skipped=0: logged.append(means))
    assert trainer.fit([batch, batch])
    assert len(logged) == 1 and set(logged[0]) >= {"total_loss", "loss_ce", "loss_dice", "grad_norm"}
    assert all(isinstance(v, float) and math.isfinite(v) for v in logged[0].values())
