"""What the simulator sees of a source frame: the luma chosen by ``simulate_from``.

Shared by the converter and the threshold calibration so both feed the simulator identical
input (same low-light parameters, same per-frame noise draw).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from evolve.synthesis.config import SynthesisConfig
from evolve.synthesis.lowlight import LowLightSynthesizer
from evolve.synthesis.simulator import rgb_to_luma


@dataclass
class PreparedFrame:
    """One source frame after low-light synthesis.

    Attributes:
        lowlight: uint8 (H, W, 3) low-light frame (what is saved to Lowlight_Images).
        luma: float32 (H, W) in [0, 1], the simulator input (per ``simulate_from``).
        flow_luma: float32 (H, W) normal-light luma, the frame optical flow is computed on.
    """

    lowlight: np.ndarray
    luma: np.ndarray
    flow_luma: np.ndarray


def prepare_frame(rgb: np.ndarray, index: int, synthesizer: LowLightSynthesizer, config: SynthesisConfig) -> PreparedFrame:
    """Darken frame ``index`` of a video and pick the simulator's luma.

    Args:
        rgb: uint8 (H, W, 3) normal-light frame.
        index: 0-based position of the frame in its video (selects the noise draw).
        synthesizer: the video's :class:`LowLightSynthesizer`.
        config: ``simulate_from`` chooses ``lowlight`` (saved 8-bit noisy frame),
            ``lowlight_clean`` (darkened, no noise, not quantised) or ``normal``.
    """
    low = synthesizer.frame(rgb, index)
    if config.simulate_from == "lowlight":
        luma = rgb_to_luma(low)
    elif config.simulate_from == "lowlight_clean":
        luma = rgb_to_luma(synthesizer.clean(rgb))
    else:
        luma = rgb_to_luma(rgb)
    return PreparedFrame(low, luma, rgb_to_luma(rgb))
