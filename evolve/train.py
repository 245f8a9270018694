"""Training entry point (Hydra), DESIGN 4.

    OMP_NUM_THREADS=4 torchrun --master_port 25357 --nproc_per_node=4 evolve/train.py \\
        exp_id=<id> model=<small|base> data=<demo|lle_vos|lle_davis|base|with-mose|mega>

``python evolve/train.py ...`` runs the same job as one process. Stages ``pre_training`` then
``main_training`` (either can be switched off with ``<stage>.enabled=False``); ``weights=``
initialises the first enabled stage's network; ``checkpoint=`` resumes it; re-running an
exp_id resumes from its own last checkpoint. Outputs: ``output/<exp_id>/``.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: import the package from the checkout, not evolve/
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import logging
from typing import Any

import hydra
from omegaconf import DictConfig

from evolve.training.config import TrainConfig, register_configs

log = logging.getLogger("evolve.train")


def train(cfg: TrainConfig | DictConfig) -> dict[str, Any]:
    """Run every enabled stage of ``cfg`` in this process (one rank of a torchrun job).

    Returns:
        ``{"out_dir", "weights": {stage: path}, "finished": bool}``.

    Raises:
        InputError: bad data roots, weights or checkpoints (nothing is overwritten).
        NonFiniteLossError: the loss became NaN/inf.
    """
    from evolve.training.runner import run_training

    return run_training(cfg)


@hydra.main(version_base="1.3", config_path="../configs", config_name="train_config")
def _hydra_main(cfg: DictConfig) -> None:
    from evolve.utils.errors import InputError

    try:
        result = train(cfg)
    except InputError as e:
        log.error("%s", e)
        raise SystemExit(2) from e
    if result["finished"]:
        log.info("done: outputs in %s", result["out_dir"])


def main() -> None:
    """Console entry: register the structured configs, then let Hydra parse the command line."""
    register_configs()
    _hydra_main()


if __name__ == "__main__":
    main()
