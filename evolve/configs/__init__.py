"""The Hydra configs shipped inside the package (train_config.yaml, eval_config.yaml, model/,
data/, synthesis/), so an installed evolve finds them from any folder. The repository's top-level
``configs`` is a link to this folder."""

from pathlib import Path

CONFIG_DIR = Path(__file__).resolve().parent
