"""The EVOLVE network (DESIGN 3), its training unroll and losses.

Public API (see docs/model.md):

- :class:`ModelConfig`, :func:`load_model_config` — typed config of every size and switch;
- :class:`EVOLVE` — the network (stateless primitives);
- :class:`TrainWrapper` — unrolls a training clip; :class:`LossComputer`, :class:`LossConfig`;
- :func:`parameter_groups` — AdamW groups; :func:`load_weights` — weights with channel surgery.
"""

from evolve.model.config import ModelConfig, load_model_config, model_config_from_dict
from evolve.model.losses import LossComputer, LossConfig
from evolve.model.network import EVOLVE, FrameFeatures, MaskMemory
from evolve.model.param_groups import parameter_groups
from evolve.model.train_wrapper import TrainWrapper
from evolve.model.weights import LoadReport, WeightsMismatchError, load_weights

__all__ = [
    "EVOLVE",
    "FrameFeatures",
    "LoadReport",
    "LossComputer",
    "LossConfig",
    "MaskMemory",
    "ModelConfig",
    "TrainWrapper",
    "WeightsMismatchError",
    "load_model_config",
    "load_weights",
    "model_config_from_dict",
    "parameter_groups",
]
