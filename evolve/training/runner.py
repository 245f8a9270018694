"""The stage loop behind ``evolve/train.py``: resume logic, weights hand-over, data, trainer."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from evolve.model import EVOLVE, load_weights
from evolve.model.config import model_config_from_dict
from evolve.model.weights import WeightsMismatchError
from evolve.training import checkpoint as ckpt
from evolve.training.config import TrainConfig
from evolve.training.data_setup import build_loader, build_stage_dataset
from evolve.training.distributed import DistInfo, barrier, cleanup, init_distributed
from evolve.training.run_logging import GracefulStop, setup_logging
from evolve.training.trainer import Trainer
from evolve.utils.errors import InputError
from evolve.utils.seeding import stable_seed

log = logging.getLogger("evolve.train")

STAGES = ("pre_training", "main_training")


def _to_dict(cfg: Any) -> dict:
    return OmegaConf.to_container(cfg if isinstance(cfg, DictConfig) else OmegaConf.structured(cfg), resolve=True)  # type: ignore[return-value]


def _load_into(network: torch.nn.Module, state: dict, source: str | os.PathLike, exact: bool) -> None:
    """Load weights with the single/multi-object surgery; wrap mismatches in an InputError naming ``source``."""
    try:
        report = load_weights(network, state)
    except WeightsMismatchError as e:
        raise InputError(
            source,
            f"these weights do not fit the network being trained ({e})",
            "use the model= (small/base) and events= setting of the run that wrote them, or a new exp_id",
        ) from e
    if exact and (report.missing or report.unexpected or report.adapted):
        raise InputError(source, f"checkpoint does not match the network exactly ({report})",
                         "resume with the same model config, or start a new exp_id with weights=<file>")
    log.info("loaded weights from %s: %s", source, report)


def _prepare_demo(cfg: TrainConfig, info: DistInfo) -> None:
    """Create the embedded demo dataset on rank 0 when the data config asks for it."""
    if not cfg.data.demo_root:
        return
    if info.is_main:
        from evolve.data.synthesis.demo import ensure_demo_dataset

        log.info("making sure the demo dataset exists in %s", cfg.data.demo_root)
        ensure_demo_dataset(Path(cfg.data.demo_root), log=log.info)
    barrier(info)


def run_training(cfg: TrainConfig | DictConfig) -> dict[str, Any]:
    """Run the enabled stages (see :func:`evolve.train.train`)."""
    info = init_distributed(cfg.device)
    out_dir = Path(cfg.output_root) / cfg.exp_id
    log_file = setup_logging(out_dir, info)
    try:
        return _run(cfg, info, out_dir, log_file)
    finally:
        cleanup(info)


def _run(cfg, info: DistInfo, out_dir: Path, log_file: Path) -> dict[str, Any]:
    if cfg.deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
    else:
        torch.backends.cudnn.benchmark = bool(cfg.cudnn_benchmark)
    model_cfg = model_config_from_dict(cfg.model)
    stages = [s for s in STAGES if getattr(cfg, s).enabled]
    if not stages:
        raise InputError(None, "both pre_training and main_training are disabled", "enable at least one stage")
    log.info("exp_id %s: stages %s, model %s (events=%s), %d process(es) on %s; log %s",
             cfg.exp_id, stages, model_cfg.name, model_cfg.events, info.world_size, info.device, log_file)
    _prepare_demo(cfg, info)
    writer = None
    if info.is_main:
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(log_dir=str(out_dir))
        writer.add_text("config", "```\n" + OmegaConf.to_yaml(cfg, resolve=True) + "\n```")
    carried: dict | None = None
    result: dict[str, Any] = {"out_dir": str(out_dir), "weights": {}, "finished": False}
    with GracefulStop() as stop:
        for index, stage in enumerate(stages):
            s, d = getattr(cfg, stage), getattr(cfg.data, stage)
            own = ckpt.checkpoint_path(out_dir, cfg.exp_id, stage)
            state, source = None, None
            if own.is_file():
                state, source = ckpt.read_checkpoint(own), own
                log.info("%s: resuming exp_id %s from its own checkpoint %s (iteration %d)", stage, cfg.exp_id, own, state["it"])
            elif index == 0 and cfg.checkpoint:
                state, source = ckpt.read_checkpoint(cfg.checkpoint), Path(cfg.checkpoint)
                if state["stage"] != stage:
                    raise InputError(source, f"checkpoint is of stage {state['stage']!r}, not {stage!r}",
                                     f"disable the stages before {state['stage']} or pass weights= instead")
            torch.manual_seed(stable_seed(cfg.seed, stage, "init"))  # same initial weights on every rank and every rerun
            network = EVOLVE(model_cfg, single_object=(s.num_objects == 1))
            if state is not None and state.get("finished"):
                _load_into(network, state["weights"], source, exact=True)  # refuses a checkpoint of another model
                log.info("%s: already finished (%s); moving on", stage, source)
                carried = state["weights"]
                result["weights"][stage] = str(ckpt.weights_path(out_dir, cfg.exp_id, stage))
                continue
            dataset = build_stage_dataset(stage, s, d, seed=stable_seed(cfg.seed, stage, "data"))
            on_images = None
            if info.is_main:
                from evolve.vis.training import TrainingImageLogger

                on_images = TrainingImageLogger(out_dir / f"{stage}_images", writer, stage)
            trainer = Trainer(cfg, stage, s, network, info, out_dir, on_images=on_images, writer=writer)
            if state is not None:
                _load_into(network, state["weights"], source, exact=True)
                trainer.load_state_dict(state)
            elif carried is not None:
                _load_into(network, carried, f"<weights of the previous stage of {cfg.exp_id}>", exact=False)
            elif index == 0 and cfg.weights:
                _load_into(network, ckpt.extract_weights(ckpt.load_file(cfg.weights), cfg.weights), cfg.weights, exact=False)
            loader = build_loader(dataset, s, info, seed=stable_seed(cfg.seed, stage, "order"),
                                  start_iteration=trainer.it, num_workers=cfg.num_workers)
            finished = trainer.fit(loader, stop)
            if not finished:
                log.warning("%s: stopped at iteration %d; rerun the same command to resume", stage, trainer.it)
                return result
            carried = network.state_dict()
            result["weights"][stage] = str(ckpt.weights_path(out_dir, cfg.exp_id, stage))
    if writer is not None:
        writer.close()
    result["finished"] = True
    return result
