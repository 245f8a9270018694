"""``evolve-train`` / ``evolve/train.py``: training (DESIGN 4), as one process or under torchrun.

    OMP_NUM_THREADS=4 torchrun --master_port 25357 --nproc_per_node=4 evolve/train.py \\
        exp_id=<id> model=<small|base> data=<demo|lle_vos|lle_davis|...>
"""

from __future__ import annotations

import logging
from typing import Optional, Sequence


from evolve.apps.hydra_app import HydraApp, compose_from_argv
from evolve.apps.runner import console_entry, interrupted_exit_code, run_program
from evolve.training.config import TrainConfig

log = logging.getLogger("evolve.train")

HELP = """\
usage: {prog} [KEY=VALUE ...] [--cfg job] [--config-dir DIR]
       torchrun --nproc_per_node=N evolve/train.py [KEY=VALUE ...]

Train a network in stages (pre_training, then main_training) and write weights, checkpoints,
logs, TensorBoard events and pictures to <output_root>/<exp_id>/. Rerunning an exp_id resumes
it from its last checkpoint.

Choices:
{groups}
  task=   semi_supervised

Main keys:
  exp_id=NAME                     run name (outputs in output/NAME/)
  model=small|base                EVOLVE with ResNet-18 / ResNet-50 encoders
  data=NAME                       datasets and schedule (demo: embedded, made on first use)
  data_root=DIR                   where dataset roots are (default ./data)
  weights=FILE                    start the first stage from these network weights
  checkpoint=FILE                 resume the first stage from a full checkpoint
  extend=true                     continue a finished exp_id up to a larger num_iterations
  device=auto|cpu|cuda            (auto: the GPU of each rank when there is one)
  model.events=false              the frames-only baseline (same code path)
  main_training.num_iterations=N  also batch_size=, learning_rate=, crop_size=, amp=
  pre_training.enabled=false      skip a stage
  eval_after_training=true        J&F of the final weights on the data config's val set
  num_workers=N                   data-loading processes per rank

Examples:
  {prog} exp_id=demo model=small data=demo
  {prog} exp_id=mine model=base data=lle_davis data_root=/data main_training.batch_size=16
  {prog} exp_id=mine extend=true main_training.num_iterations=200000
  {prog} exp_id=mine data=mine --config-dir my_configs     (my_configs/data/mine.yaml)

Every key with its value: {prog} [overrides] --cfg job     Exit codes: docs/training.md.
"""

APP = HydraApp(prog="evolve-train", config_name="train_config", schema_name="train_schema", schema=TrainConfig, help_text=HELP)


def train_program(argv: Optional[Sequence[str]] = None) -> int:
    """Parse the command line, compose and check the config, train; returns the exit code."""
    from evolve.training.runner import run_training

    cfg = compose_from_argv(APP, argv or [])
    if cfg is None:  # --help or --cfg
        return 0
    result = run_training(cfg)
    if not result["finished"]:
        return interrupted_exit_code(result["interrupted_by"])
    log.info("done: outputs in %s", result["out_dir"])
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run :func:`train_program` under the project's runner; returns the exit code."""
    return run_program(train_program, argv)


console = console_entry(train_program)

if __name__ == "__main__":
    raise SystemExit(main())
