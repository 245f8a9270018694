"""Streaming inference: :class:`InferenceCore` (one frame in, probabilities out) and its memory (DESIGN 5)."""

from evolve.inference.config import InferenceConfig, LongTermConfig, inference_config_from_dict
from evolve.inference.inference_core import InferenceCore
from evolve.inference.memory_manager import MemoryManager
from evolve.inference.object_manager import ObjectManager

__all__ = ["InferenceConfig", "InferenceCore", "LongTermConfig", "MemoryManager", "ObjectManager", "inference_config_from_dict"]
