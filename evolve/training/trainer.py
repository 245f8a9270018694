"""One training stage on one process: optimisation, AMP, logging, checkpoints (DESIGN 4).

The :class:`Trainer` owns the network of a stage, its DDP wrapper, the AdamW optimizer with
Cutie's parameter groups, the LR schedule, the grad scaler and the iteration counter. Its
randomness is re-seeded at every iteration from ``(seed, stage, rank, iteration)``, and the data
order comes from :class:`evolve.training.sampling.ResumableSampler`, so a run resumed from a
checkpoint continues exactly as the uninterrupted run would have.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from pathlib import Path
from typing import Any, Callable, Iterable

import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from evolve.model.param_groups import parameter_groups
from evolve.training import checkpoint as ckpt
from evolve.training.config import StageConfig, TrainConfig
from evolve.training.distributed import DistInfo, StopVote, all_gather_object, all_reduce_mean, any_rank
from evolve.training.schedule import build_scheduler
from evolve.utils.atomic import atomic_torch_save
from evolve.utils.seeding import stable_seed

log = logging.getLogger(__name__)


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite; training stops without touching the saved checkpoints."""


def _yaml(cfg: Any) -> str:
    node = cfg if isinstance(cfg, DictConfig) else OmegaConf.structured(cfg)
    return OmegaConf.to_yaml(node, resolve=True)


def weights_digest(network: nn.Module) -> str:
    """SHA-256 of every parameter and buffer (name, dtype, shape, bytes): equal on all DDP ranks
    when they are in sync; logged at the end of each stage so a desync is visible."""
    h = hashlib.sha256()
    for name, t in sorted(network.state_dict().items()):
        t = t.detach().cpu().contiguous().reshape(-1)
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def move_batch(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    """Move every tensor of a collated clip batch to ``device`` (non-tensors unchanged)."""
    return {k: (v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v) for k, v in batch.items()}


class Trainer:
    """Trains ``network`` for one stage (task-agnostic).

    Args:
        cfg: the whole training config (intervals, seed, exp_id).
        stage: ``"pre_training"`` or ``"main_training"``.
        stage_cfg: that stage's :class:`StageConfig`.
        network: the network (any registered architecture; moved to ``info.device`` here).
        wrapper: the task's module running a batch through ``network`` (``outputs = wrapper(batch)``);
            its parameters are ``network``'s.
        loss: the task's ``loss(outputs, batch) -> {"total_loss": ..., ...}``.
        info: this process's place in the job.
        out_dir: ``output/<exp_id>``.
        on_images: called on rank 0 every ``log_image_interval`` iterations with
            ``(iteration, batch, outputs)`` (visualisation), or None.
        writer: a TensorBoard ``SummaryWriter`` (rank 0) or None.
    """

    def __init__(
        self,
        cfg: TrainConfig,
        stage: str,
        stage_cfg: StageConfig,
        network: nn.Module,
        wrapper: nn.Module,
        loss: Callable[[Any, Any], dict[str, torch.Tensor]],
        info: DistInfo,
        out_dir: Path,
        on_images: Callable[[int, dict, dict], None] | None = None,
        writer: Any = None,
    ) -> None:
        self.cfg, self.stage, self.s, self.info, self.out_dir = cfg, stage, stage_cfg, info, Path(out_dir)
        self.on_images, self.writer = on_images, writer
        self.device = info.device
        self.network = network.to(self.device)
        self.wrapper = wrapper.to(self.device)
        if info.distributed:
            self.model: nn.Module = DistributedDataParallel(
                self.wrapper,
                device_ids=[self.device.index] if self.device.type == "cuda" else None,
                broadcast_buffers=False,
                find_unused_parameters=True,  # deep sensory updates and aux heads are not used every step
            )
        else:
            self.model = self.wrapper
        self.loss = loss
        self.amp = bool(stage_cfg.amp) and self.device.type == "cuda"
        if stage_cfg.amp and not self.amp:
            log.info("%s: AMP is only used on CUDA; running in float32 on %s", stage, self.device)
        if stage_cfg.amp_dtype not in ("float16", "bfloat16"):
            raise ValueError(f"{stage}.amp_dtype must be float16 or bfloat16, got {stage_cfg.amp_dtype!r}")
        self.amp_dtype = getattr(torch, stage_cfg.amp_dtype)
        groups = parameter_groups(
            self.network,
            lr=stage_cfg.learning_rate,
            weight_decay=stage_cfg.weight_decay,
            embed_weight_decay=stage_cfg.embed_weight_decay,
            backbone_lr_ratio=stage_cfg.backbone_lr_ratio,
        )
        # fused: one kernel per step, and it can skip a non-finite step on the device (found_inf)
        self.optimizer = torch.optim.AdamW(
            groups, lr=stage_cfg.learning_rate, weight_decay=stage_cfg.weight_decay, eps=1e-6 if self.amp else 1e-8, fused=True
        )
        self.scheduler = build_scheduler(
            self.optimizer, stage_cfg.lr_schedule, stage_cfg.lr_schedule_steps, stage_cfg.lr_schedule_gamma,
            stage_cfg.num_iterations,
        )
        # A grad scaler only for float16 on CUDA (bfloat16 has float32's range).
        self.scaler = torch.amp.GradScaler(
            "cuda", init_scale=8192, enabled=self.amp and self.amp_dtype == torch.float16
        )
        self.it = 0
        # non-finite step counters, kept on the device (read by check_nonfinite)
        self._streak = torch.zeros((), dtype=torch.int64, device=self.device)
        self._max_streak = torch.zeros((), dtype=torch.int64, device=self.device)
        self._skipped = torch.zeros((), dtype=torch.int64, device=self.device)

    # ----------------------------------------------------------------------------- state
    def state_dict(self, finished: bool = False) -> dict[str, Any]:
        """Everything :meth:`load_state_dict` needs to continue this stage exactly."""
        return {
            "format": ckpt.CHECKPOINT_FORMAT,
            "exp_id": self.cfg.exp_id,
            "stage": self.stage,
            "it": self.it,
            "finished": finished,
            "num_iterations": self.s.num_iterations,
            "world_size": self.info.world_size,
            "weights": self.network.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "rng": all_gather_object(ckpt.capture_rng_state(), self.info),  # one entry per rank
            "config": _yaml(self.cfg),  # the resolved run config, for the record
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict` (the network must already have the same architecture),
        including this rank's Python, NumPy, torch and CUDA RNG states when the checkpoint was
        written by a job with the same number of processes."""
        self.network.load_state_dict(state["weights"])
        self.optimizer.load_state_dict(state["optimizer"])
        for group in self.optimizer.param_groups:  # a checkpoint written before the fused step restores fused=None
            group["fused"], group["foreach"] = True, None
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        self.it = int(state["it"])
        rng = state.get("rng")
        if isinstance(rng, list) and len(rng) == self.info.world_size:
            ckpt.restore_rng_state(rng[self.info.rank])
        elif rng is not None:
            log.warning("%s: the checkpoint's RNG states are from %s process(es), this job has %d: not restored",
                        self.stage, len(rng) if isinstance(rng, list) else 1, self.info.world_size)

    def save(self, finished: bool = False) -> None:
        """Write the weights (``_last``) and the full checkpoint (rank 0 writes; every rank must
        call it, since the checkpoint gathers every rank's RNG state)."""
        state = self.state_dict(finished)
        if not self.info.is_main:
            return
        atomic_torch_save(state["weights"], ckpt.weights_path(self.out_dir, self.cfg.exp_id, self.stage))
        atomic_torch_save(state, ckpt.checkpoint_path(self.out_dir, self.cfg.exp_id, self.stage))
        log.info("%s: saved weights and checkpoint at iteration %d%s", self.stage, self.it, " (finished)" if finished else "")

    # ----------------------------------------------------------------------------- steps
    def train_step(self, batch: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """One optimisation step on a collated batch, without reading anything back to the host.

        The loss terms and the gradient norm stay on the device. A step whose loss or gradient
        norm is not finite is skipped on the device (the fused AdamW kernel receives
        ``found_inf``; parameters, moments and the step count stay as they were; with a float16
        grad scaler the scaler does the same); the iteration still counts, and
        :meth:`check_nonfinite` stops training after ``max_nonfinite_steps`` in a row. With
        ``sync_checks=true`` the old per-step check runs instead: finiteness read on the host
        and agreed across ranks before the backward pass.

        Returns:
            (detached loss terms and ``grad_norm`` as device tensors, model outputs).
        Raises:
            NonFiniteLossError: only with ``sync_checks``: the loss is NaN/inf on any rank.
        """
        torch.manual_seed(stable_seed(self.cfg.seed, self.stage, self.info.rank, "it", self.it))
        batch = move_batch(batch, self.device)
        self.model.train()
        with torch.amp.autocast(device_type=self.device.type, dtype=self.amp_dtype, enabled=self.amp):
            outputs = self.model(batch)
            losses = self.loss(outputs, batch)
        total = losses["total_loss"]
        if self.cfg.sync_checks and any_rank(not bool(torch.isfinite(total.detach()).all()), self.info):
            values = {k: float(v.detach()) for k, v in losses.items()}
            raise self._nonfinite_error(f"non-finite loss at iteration {self.it + 1} (loss terms: {values})")
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(total).backward()
        self.scaler.unscale_(self.optimizer)
        grad_norm = torch.nn.utils.clip_grad_norm_(self.network.parameters(), self.s.clip_grad_norm)
        finite = torch.isfinite(grad_norm) & torch.isfinite(total.detach())  # same on every rank: grads are all-reduced
        if not self.scaler.is_enabled():
            self.optimizer.found_inf = (~finite).float()  # read by the fused AdamW kernel: skip on the device
            self.optimizer.grad_scale = None
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        self.it += 1
        bad = (~finite).to(torch.int64)
        self._streak = (self._streak + 1) * bad
        self._max_streak = torch.maximum(self._max_streak, self._streak)
        self._skipped = self._skipped + bad
        terms = {k: v.detach() for k, v in losses.items()}
        terms["grad_norm"] = grad_norm.detach()
        return terms, outputs

    def _nonfinite_error(self, what: str) -> "NonFiniteLossError":
        return NonFiniteLossError(
            f"{self.stage}: {what}. The skipped steps changed no weight; the last checkpoint in {self.out_dir} is intact. "
            "Fix: lower the learning rate, use amp_dtype=bfloat16 or amp=False, or check the data for "
            "empty/corrupt clips; then rerun the same exp_id to resume from the last checkpoint."
        )

    def check_nonfinite(self) -> int:
        """Read the non-finite-step counters (one host read; called at the logging interval).

        Returns:
            steps skipped since the last call.
        Raises:
            NonFiniteLossError: ``max_nonfinite_steps`` or more consecutive steps were non-finite.
        """
        streak, skipped = (int(v) for v in torch.stack([self._max_streak, self._skipped]).tolist())
        self._max_streak = torch.zeros_like(self._max_streak)
        self._skipped = torch.zeros_like(self._skipped)
        if streak >= self.cfg.max_nonfinite_steps:
            raise self._nonfinite_error(
                f"non-finite loss or gradients in {streak} consecutive steps up to iteration {self.it} "
                f"(max_nonfinite_steps={self.cfg.max_nonfinite_steps})"
            )
        return skipped

    def fit(self, batches: Iterable[dict[str, Any]], should_stop: Callable[[], bool] = lambda: False) -> bool:
        """Train until ``num_iterations`` (or a stop request). Returns True when the stage finished.

        ``batches`` must already start at the batch of iteration ``self.it`` (see ResumableSampler).
        The host reads the device only at the logging interval (loss means, non-finite counters)
        and at checkpoints; a stop request (SIGTERM/SIGINT on any rank) is agreed across ranks
        without blocking, one iteration late.

        Raises:
            NonFiniteLossError: see :meth:`check_nonfinite`.
        """
        from tqdm import tqdm

        total = self.s.num_iterations
        bar = tqdm(total=total, initial=self.it, desc=self.stage, dynamic_ncols=True, disable=not self.info.is_main)
        vote = StopVote(self.info)
        sums: dict[str, torch.Tensor] = {}
        count, t0 = 0, time.perf_counter()
        iterator = iter(batches)
        try:
            while self.it < total:
                if vote(should_stop()):
                    log.warning("%s: stop requested; saving at iteration %d", self.stage, self.it)
                    self.save()
                    return False
                batch = next(iterator)
                terms, outputs = self.train_step(batch)
                for k, v in terms.items():
                    sums[k] = sums[k] + v if k in sums else v.float().clone()
                count += 1
                bar.update(1)
                if self.cfg.sync_checks:
                    bar.set_postfix(loss=f"{float(terms['total_loss']):.3f}", refresh=False)
                if self.it % self.cfg.log_text_interval == 0 or self.it == total:
                    skipped = self.check_nonfinite()
                    keys = sorted(sums)
                    values = torch.stack([sums[k] for k in keys]).double().div(count).tolist()  # the one read per interval
                    means = all_reduce_mean(dict(zip(keys, values)), self.info)
                    dt = (time.perf_counter() - t0) / count
                    bar.set_postfix(loss=f"{means['total_loss']:.3f}", refresh=False)
                    self._log_scalars(means, dt, skipped)
                    sums, count, t0 = {}, 0, time.perf_counter()
                if self.on_images is not None and self.info.is_main and (
                    self.it % self.cfg.log_image_interval == 0 or self.it == 1
                ):
                    self.on_images(self.it, batch, outputs)
                if self.it % self.cfg.save_weights_interval == 0 and self.info.is_main:
                    atomic_torch_save(self.network.state_dict(), ckpt.weights_path(self.out_dir, self.cfg.exp_id, self.stage, self.it))
                if self.it % self.cfg.save_checkpoint_interval == 0 and self.it < total:
                    self.check_nonfinite()  # never checkpoint past a failed stretch unnoticed
                    self.save()
        finally:
            bar.close()
            vote.close()
        self.check_nonfinite()
        self.save(finished=True)
        log.info("%s: final weights sha256 %s (rank %d of %d)", self.stage, weights_digest(self.network), self.info.rank, self.info.world_size)
        return True

    def _log_scalars(self, means: dict[str, float], seconds_per_it: float, skipped: int = 0) -> None:
        if not self.info.is_main:
            return
        if skipped:
            log.warning("%s: %d non-finite step(s) skipped in the last interval (iteration %d)", self.stage, skipped, self.it)
        lr = max(g["lr"] for g in self.optimizer.param_groups)  # the base LR (the backbone group runs lower)
        remaining = (self.s.num_iterations - self.it) * seconds_per_it
        eta = time.strftime("%H:%M:%S", time.gmtime(remaining)) if math.isfinite(remaining) else "?"
        text = " ".join(f"{k}={v:.4f}" for k, v in sorted(means.items()))
        log.info("%s it %d/%d: %s lr=%.2e %.2fs/it ETA %s", self.stage, self.it, self.s.num_iterations, text, lr, seconds_per_it, eta)
        if self.writer is not None:
            for k, v in means.items():
                self.writer.add_scalar(f"{self.stage}/{k}", v, self.it)
            self.writer.add_scalar(f"{self.stage}/lr", lr, self.it)
            self.writer.add_scalar(f"{self.stage}/seconds_per_iteration", seconds_per_it, self.it)
