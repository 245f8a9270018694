"""The EVOLVE network (Baek, Oh, Koh, ICCV 2025; DESIGN 3), built on Cutie's memory network.

- :class:`ModelConfig`, :func:`load_model_config`, :func:`model_config_from_dict`: every size and switch;
- :class:`EVOLVE`: the network (stateless primitives, no monolithic forward);
- :class:`TrainWrapper`: unrolls a training clip.
"""

from evolve.model.evolve.config import ModelConfig, load_model_config, model_config_from_dict
from evolve.model.evolve.network import EVOLVE, FrameFeatures, MaskMemory
from evolve.model.evolve.train_wrapper import TrainWrapper

__all__ = ["EVOLVE", "FrameFeatures", "MaskMemory", "ModelConfig", "TrainWrapper", "load_model_config", "model_config_from_dict"]
