"""Synthesis of LLE-DAVIS-style data: low-light frames, simulated events, the demo dataset.

- :mod:`~evolve.synthesis.config`     typed configs (mirrored by configs/synthesis/default.yaml)
- :mod:`~evolve.synthesis.lowlight`   ``beta * (alpha * I) ** gamma`` + Poisson-Gaussian noise
- :mod:`~evolve.synthesis.simulator`  the ESIM-style event simulator (torch, CPU/CUDA)
- :mod:`~evolve.synthesis.calibrate`  contrast threshold for a target event density
- :mod:`~evolve.synthesis.convert`    DAVIS-like dataset -> LLE-DAVIS layout
- :mod:`~evolve.synthesis.demo`       the procedural demo dataset
- :mod:`~evolve.synthesis.drawing`    sprite drawing shared by the procedural generators
- :mod:`~evolve.synthesis.procedural` motion / referring sets (records, expressions; docs/procedural.md)
- :mod:`~evolve.synthesis.motions`    the 24 motion classes, hierarchy, folds, trajectories
- :mod:`~evolve.synthesis.appearance` shapes, colours, textures, sizes, held-out pairs
- :mod:`~evolve.synthesis.expressions` the referring-expression grammar

Nothing is imported here at package import beyond the names below (no side effects).
"""

from evolve.synthesis.config import (
    CalibrationConfig,
    LowLightConfig,
    SimulatorConfig,
    SynthesisConfig,
    load_synthesis_config,
)
from evolve.synthesis.lowlight import LowLightParams, LowLightSynthesizer, sample_lowlight_params
from evolve.synthesis.simulator import EventSimulator, rgb_to_luma, simulate_frames

__all__ = [
    "CalibrationConfig",
    "EventSimulator",
    "LowLightConfig",
    "LowLightParams",
    "LowLightSynthesizer",
    "SimulatorConfig",
    "SynthesisConfig",
    "load_synthesis_config",
    "rgb_to_luma",
    "sample_lowlight_params",
    "simulate_frames",
]
