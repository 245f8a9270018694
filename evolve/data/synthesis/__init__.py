"""Synthesis of LLE-DAVIS-style data: low-light frames, simulated events, the demo dataset.

- :mod:`~evolve.data.synthesis.config`     typed configs (mirrored by configs/synthesis/default.yaml)
- :mod:`~evolve.data.synthesis.lowlight`   ``beta * (alpha * I) ** gamma`` + Poisson-Gaussian noise
- :mod:`~evolve.data.synthesis.simulator`  the ESIM-style event simulator (torch, CPU/CUDA)
- :mod:`~evolve.data.synthesis.calibrate`  contrast threshold for a target event density
- :mod:`~evolve.data.synthesis.convert`    DAVIS-like dataset -> LLE-DAVIS layout
- :mod:`~evolve.data.synthesis.demo`       the procedural demo dataset

Nothing is imported here at package import beyond the names below (no side effects).
"""

from evolve.data.synthesis.config import (
    CalibrationConfig,
    LowLightConfig,
    SimulatorConfig,
    SynthesisConfig,
    load_synthesis_config,
)
from evolve.data.synthesis.lowlight import LowLightParams, LowLightSynthesizer, sample_lowlight_params
from evolve.data.synthesis.simulator import EventSimulator, rgb_to_luma, simulate_frames

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
