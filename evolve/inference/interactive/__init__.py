"""Interactive VOS sessions: scribbles/clicks -> interaction network -> round-based propagation
(GLTM's bounded bidirectional propagation and round blending) with the EVOLVE memory or GLTM's
transfer network. The API a GUI calls is :class:`InteractiveSession` (docs/interactive.md)."""

from evolve.inference.interactive.frames import FrameSource, VideoFrames
from evolve.inference.interactive.interactor import Interactor
from evolve.inference.interactive.propagation import EvolvePropagator, GLTMPropagator, Propagator
from evolve.inference.interactive.session import InteractiveSession, RoundResult, SessionConfig, blend_weight

__all__ = [
    "EvolvePropagator", "FrameSource", "GLTMPropagator", "InteractiveSession", "Interactor", "Propagator", "RoundResult",
    "SessionConfig", "VideoFrames", "blend_weight",
]
