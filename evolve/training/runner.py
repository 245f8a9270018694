"""The stage loop behind ``evolve/train.py``: validation, resume logic, weights hand-over, data,
trainer, optional evaluation. Task-agnostic: the task (:mod:`evolve.training.task`) supplies the
data, the wrapper, the losses and the evaluation protocol; the network comes from
:mod:`evolve.model.registry`.

Everything that can be checked is checked before anything is written (model config, task,
data roots and the quick dataset check, weights and checkpoint files, a finished run asked to
do more): a bad command leaves no output folder, log or TensorBoard file behind.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from evolve.model import registry
from evolve.model.weights import load_weights_from, read_weights_file
from evolve.training import checkpoint as ckpt
from evolve.training.config import TrainConfig
from evolve.training.distributed import DistInfo, barrier, cleanup, init_distributed
from evolve.training.loader import build_loader
from evolve.training.run_logging import GracefulStop
from evolve.training.task import Task, get_task
from evolve.training.trainer import Trainer
from evolve.utils.atomic import atomic_open
from evolve.utils.devices import configure_tf32
from evolve.utils.errors import InputError
from evolve.utils.logs import setup_logging
from evolve.utils.seeding import stable_seed

log = logging.getLogger("evolve.train")

STAGES = ("pre_training", "main_training")


@dataclass
class StagePlan:
    """What a stage will do, decided before any output is written.

    Attributes:
        stage: ``pre_training`` or ``main_training``.
        state: the checkpoint to resume from (its own, or ``checkpoint=``), or None.
        source: the file ``state`` came from.
        finished: the stage is already done (its own finished checkpoint covers the iterations).
    """

    stage: str
    state: dict | None = None
    source: Path | None = None
    finished: bool = False


def _yaml(cfg: Any) -> str:
    node = cfg if isinstance(cfg, DictConfig) else OmegaConf.structured(cfg)
    return OmegaConf.to_yaml(node, resolve=True)


def _plan_stage(cfg: Any, out_dir: Path, stage: str, first: bool) -> StagePlan:
    """Find the stage's checkpoint and decide whether it resumes, is finished or is extended.

    Raises:
        InputError: unreadable checkpoint; ``checkpoint=`` of another stage; a finished stage
            asked for more iterations without ``extend=true``.
    """
    s = getattr(cfg, stage)
    own = ckpt.checkpoint_path(out_dir, cfg.exp_id, stage)
    plan = StagePlan(stage)
    if own.is_file():
        plan.state, plan.source = ckpt.read_checkpoint(own), own
    elif first and cfg.checkpoint:
        plan.state, plan.source = ckpt.read_checkpoint(cfg.checkpoint), Path(cfg.checkpoint)
        if plan.state["stage"] != stage:
            raise InputError(plan.source, f"checkpoint is of stage {plan.state['stage']!r}, not {stage!r}",
                             f"disable the stages before {plan.state['stage']} or pass weights= instead")
    if plan.state is not None and plan.state.get("finished"):
        done = int(plan.state["it"])
        if done >= s.num_iterations:
            plan.finished = True
        elif plan.source == own and not cfg.extend:
            raise InputError(
                plan.source,
                f"exp_id {cfg.exp_id!r} already finished {stage} at iteration {done}, and {stage}.num_iterations={s.num_iterations} asks for more",
                f"add extend=true to continue it from iteration {done} to {s.num_iterations} (optimizer, schedule and data order "
                "carry on), or use a new exp_id (with weights=<its weights file> to start from it)",
            )
    return plan


RESUME_FIX = "resume with the model config (model=, events=) of the run that wrote it, or use a new exp_id"
WEIGHTS_FIX = "use the model= (small/base) and events= setting of the run that wrote them, or a new exp_id"


def _check_weights_fit(cfg: Any, model_cfg: Any, plans: list[StagePlan], initial: dict | None) -> None:
    """Refuse checkpoints and ``weights=`` that do not fit the network, before anything is written
    (shapes are compared on a ``meta``-device network: no memory, no initialisation).

    Raises:
        InputError: naming the file, the mismatching tensors and the fix.
    """
    for index, plan in enumerate(plans):
        if plan.state is None and not (index == 0 and initial is not None):
            continue
        if plan.state is not None:
            registry.check_weights_arch(model_cfg, plan.state["weights"], plan.source)
        else:
            registry.check_weights_arch(model_cfg, initial, cfg.weights)  # type: ignore[arg-type]
        s = getattr(cfg, plan.stage)
        with torch.device("meta"):
            network = registry.build_model(model_cfg, single_object=(s.num_objects == 1))
        if plan.state is not None:
            assert plan.source is not None
            load_weights_from(network, plan.state["weights"], plan.source, exact=True, fix=RESUME_FIX, check_only=True)
        else:
            assert initial is not None
            load_weights_from(network, initial, cfg.weights, fix=WEIGHTS_FIX, check_only=True)


def initialisation_record(cfg: Any, model_cfg: Any, plans: list[StagePlan]) -> dict[str, Any]:
    """How the first stage's network starts, for the run's config snapshot and the start-up warning.

    Returns:
        ``{"source": "checkpoint" | "weights" | "imagenet" | "random", "image_encoder": file or
        None, "mask_encoder": file or None, "warning": text or None}``. The warning is set when
        main training on real data (``data.pretrained_expected``) starts from random
        initialisation: Cutie and EVOLVE start every ResNet from ImageNet weights.
    """
    backbone = getattr(model_cfg, "pretrained_backbone", None)
    mask_encoder = getattr(model_cfg, "pretrained_mask_encoder", None)
    if plans and plans[0].state is not None:
        source = "checkpoint"
    elif cfg.weights:
        source = "weights"
    elif backbone or mask_encoder:
        source = "imagenet"
    else:
        source = "random"
    warning = None
    if source == "random" and cfg.main_training.enabled and cfg.data.pretrained_expected:
        warning = (
            "main training on real data starts from RANDOM initialisation: no ImageNet weights "
            "(model.pretrained_backbone=, model.pretrained_mask_encoder=) and no weights=. Cutie and EVOLVE start "
            "every ResNet from ImageNet; expect far lower J&F. INSTALL.md says which torchvision files to fetch."
        )
    return {"source": source, "image_encoder": backbone, "mask_encoder": mask_encoder, "warning": warning}


def run_training(cfg: TrainConfig | DictConfig) -> dict[str, Any]:
    """Run the enabled stages in this process (one rank of a torchrun job).

    Returns:
        ``{"out_dir", "weights": {stage: path}, "finished": bool, "interrupted_by": signal or
        None, "val": evaluation summary or None}``.

    Raises:
        InputError: bad config, data, weights or checkpoints (nothing is written then).
        NonFiniteLossError: the loss became NaN/inf.
    """
    model_cfg = registry.model_config_from_node(cfg.model)
    task = get_task(cfg.task)
    task.check_model(model_cfg)
    stages = [s for s in STAGES if getattr(cfg, s).enabled]
    if not stages:
        raise InputError(None, "both pre_training and main_training are disabled", "enable at least one stage")
    info = init_distributed(cfg.device)
    try:
        return _run(cfg, task, model_cfg, stages, info)
    finally:
        cleanup(info)


def _prepare_demo(cfg: Any, info: DistInfo) -> None:
    """Create the embedded demo dataset on rank 0 when the data config asks for it (it is data,
    not run output)."""
    if not cfg.data.demo_root:
        return
    if info.is_main:
        from evolve.synthesis.demo import ensure_demo_dataset

        ensure_demo_dataset(Path(cfg.data.demo_root), log=log.info)
    barrier(info)


def _run(cfg: Any, task: Task, model_cfg: Any, stages: list[str], info: DistInfo) -> dict[str, Any]:
    out_dir = Path(cfg.output_root) / cfg.exp_id
    # ---- checks: nothing is written before they pass -------------------------------------
    _prepare_demo(cfg, info)
    plans = [_plan_stage(cfg, out_dir, stage, i == 0) for i, stage in enumerate(stages)]
    for plan in plans:
        if not plan.finished:
            task.preflight(plan.stage, getattr(cfg, plan.stage), getattr(cfg.data, plan.stage), model_cfg)
    initial = None
    if cfg.weights and plans[0].state is None:
        initial = read_weights_file(cfg.weights)
    _check_weights_fit(cfg, model_cfg, plans, initial)
    if cfg.eval_after_training and not (cfg.data.val.root and Path(cfg.data.val.root).is_dir()):
        raise InputError(cfg.data.val.root, "eval_after_training=true but the data config's val root does not exist",
                         "set data.val.root to a dataset folder, or eval_after_training=false")

    # ---- outputs --------------------------------------------------------------------------
    if cfg.deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
    else:
        torch.backends.cudnn.benchmark = bool(cfg.cudnn_benchmark)
    configure_tf32(info.device, cfg.tf32)
    import time

    log_file = out_dir / f"{time.strftime('%Y-%m-%d_%H-%M-%S')}-train-rank{info.rank}.log"
    setup_logging(log_file=log_file, console_level=logging.INFO if info.is_main else logging.WARNING, tag=f"r{info.rank}")
    log.info("exp_id %s: task %s, stages %s, model %s (arch %s), %d process(es) on %s; log %s",
             cfg.exp_id, task.name, stages, model_cfg.name, model_cfg.arch, info.world_size, info.device, log_file)
    init = initialisation_record(cfg, model_cfg, plans)
    if init["warning"]:
        bar = "!" * 100
        log.warning("\n%s\n%s\n%s", bar, init["warning"], bar)
    writer = None
    if info.is_main:
        with atomic_open(out_dir / "config.yaml", "w") as f:
            f.write(_yaml(cfg) + OmegaConf.to_yaml(OmegaConf.create({"initialisation": init})))
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(log_dir=str(out_dir))
        writer.add_text("config", "```\n" + _yaml(cfg) + "\n```")
    carried: dict | None = None
    network = None
    result: dict[str, Any] = {"out_dir": str(out_dir), "weights": {}, "finished": False, "interrupted_by": None, "val": None}
    with GracefulStop() as stop:
        for index, plan in enumerate(plans):
            stage = plan.stage
            s, d = getattr(cfg, stage), getattr(cfg.data, stage)
            torch.manual_seed(stable_seed(cfg.seed, stage, "init"))  # same initial weights on every rank and every rerun
            network = registry.build_model(model_cfg, single_object=(s.num_objects == 1))
            if plan.finished:
                assert plan.state is not None and plan.source is not None
                load_weights_from(network, plan.state["weights"], plan.source, exact=True, fix=RESUME_FIX)
                log.info("%s: already finished at iteration %d (%s); nothing to do", stage, plan.state["it"], plan.source)
                carried = plan.state["weights"]
                result["weights"][stage] = str(ckpt.weights_path(out_dir, cfg.exp_id, stage))
                continue
            dataset = task.build_dataset(stage, s, d, model_cfg, seed=stable_seed(cfg.seed, stage, "data"))
            on_images = task.image_logger(out_dir / f"{stage}_images", writer, stage) if info.is_main else None
            trainer = Trainer(cfg, stage, s, network, task.build_wrapper(network, s), task.build_loss(s), info, out_dir,
                              on_images=on_images, writer=writer)
            if plan.state is not None:
                assert plan.source is not None
                load_weights_from(network, plan.state["weights"], plan.source, exact=True, fix=RESUME_FIX)
                trainer.load_state_dict(plan.state)
                own = plan.source == ckpt.checkpoint_path(out_dir, cfg.exp_id, stage)
                log.info("%s: resuming exp_id %s from %s %s at iteration %d", stage, cfg.exp_id,
                         "its own checkpoint" if own else "checkpoint=", plan.source, trainer.it)
            elif carried is not None:
                load_weights_from(network, carried, f"<weights of the previous stage of {cfg.exp_id}>")
            elif index == 0 and initial is not None:
                report = load_weights_from(network, initial, cfg.weights, fix=WEIGHTS_FIX)
                log.info("loaded weights from %s: %s", cfg.weights, report)
            loader = build_loader(dataset, s.batch_size, info, seed=stable_seed(cfg.seed, stage, "order"),
                                  start_iteration=trainer.it, num_workers=cfg.num_workers, collate=task.collate)
            finished = trainer.fit(loader, stop)
            if not finished:
                log.warning("%s: stopped at iteration %d by signal %s; rerun the same command to resume", stage, trainer.it, stop.signum)
                result["interrupted_by"] = stop.signum
                return result
            carried = network.state_dict()
            result["weights"][stage] = str(ckpt.weights_path(out_dir, cfg.exp_id, stage))
    result["finished"] = True
    if cfg.eval_after_training and info.is_main and network is not None:
        summary = task.evaluate(network.to(info.device).eval(), cfg.data.val, model_cfg, out_dir / "val", info.device)
        result["val"] = summary
        if summary and summary.get("jf") and writer is not None:
            for key, value in summary["jf"].items():
                writer.add_scalar(f"val/{key}", value, 0)
            log.info("val J&F %.4f (J %.4f, F %.4f) in %s", summary["jf"]["J&F-Mean"], summary["jf"]["J-Mean"], summary["jf"]["F-Mean"], out_dir / "val")
    if writer is not None:
        writer.close()
    return result
