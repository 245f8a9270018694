"""Evaluation entry point (Hydra), DESIGN 5.

    python evolve/eval_vos.py dataset=<lle-vos|lle-davis|demo|generic|...> weights=<path> model=<small|base>

Runs the streaming inference core over every sequence, writes palette PNGs to
``output/<exp_id>/<dataset>/<seq>/<frame>.png`` (or ``output_dir=``), reports frames/s and peak
memory, then J&F with :mod:`evolve.eval`. ``save_overlays=True save_event_pictures=True
save_mp4=True`` also writes pictures next to the predictions.
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

log = logging.getLogger("evolve.eval")


def evaluate(cfg: Any) -> dict[str, Any]:
    """Run the configured evaluation; see :func:`evolve.inference.dataset_run.run_evaluation`."""
    from evolve.inference.dataset_run import run_evaluation

    return run_evaluation(cfg)


@hydra.main(version_base="1.3", config_path="../configs", config_name="eval_config")
def _hydra_main(cfg: DictConfig) -> None:
    from evolve.utils.errors import InputError

    logging.basicConfig(level=logging.INFO, format="[%(asctime)s] %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S", force=True)
    try:
        summary = evaluate(cfg)
    except InputError as e:
        log.error("%s", e)
        raise SystemExit(2) from e
    jf = summary.get("jf")
    if jf:
        log.info("J&F %.4f (J %.4f, F %.4f); predictions and CSVs in %s", jf["J&F-Mean"], jf["J-Mean"], jf["F-Mean"], summary["out_dir"])


def main() -> None:
    """Console entry: register the structured configs, then let Hydra parse the command line."""
    from evolve.training.config import register_configs

    register_configs()
    _hydra_main()


if __name__ == "__main__":
    main()
