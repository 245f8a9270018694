"""Events synthesised on request for a sequence that has none (a video file, a frames-only folder).

The project's ESIM-style simulator (:class:`evolve.synthesis.simulator.EventSimulator`, DESIGN 2.5)
runs over the BT.601 luma of the frames at the working size, one frame interval of ``1e6 / fps``
microseconds at a time; each interval's chunk becomes the voxel grid of the frame that ends it
(:func:`evolve.data.voxel.chunk_to_voxel_grid`), and frame 0 takes frame 1's grid (the layout's
frame-0 rule, :mod:`evolve.data.layout`). The page labels such events "synthesised".
"""

from __future__ import annotations

from typing import Callable, Optional

import torch

from evolve.apps.annotate.workspace import LoadedSequence
from evolve.data.voxel import chunk_to_voxel_grid
from evolve.inference.interactive import VideoFrames
from evolve.synthesis.config import SimulatorConfig
from evolve.synthesis.simulator import EventSimulator, rgb_to_luma
from evolve.utils.seeding import stable_seed


def synthesize_voxels(
    seq: LoadedSequence, num_bins: int, config: Optional[SimulatorConfig] = None, progress: Optional[Callable[[int, int], None]] = None,
    cancel: Optional[Callable[[], bool]] = None, seed: int = 0,
) -> Optional[list[torch.Tensor]]:
    """Voxel grids of simulated events for every frame of ``seq``.

    Args:
        seq: the sequence (its working-size frames are the simulator's input).
        num_bins: B of the grids.
        config: simulator settings (defaults of :class:`~evolve.synthesis.config.SimulatorConfig`).
        progress: ``progress(done, total)`` after each frame.
        cancel: returns True to stop (the function then returns None).
        seed: seeds the simulator's per-pixel thresholds (with the sequence name).
    Returns:
        T float32 (B, H, W) voxel grids, or None when cancelled.
    """
    h, w = seq.size
    n = seq.num_frames
    sim = EventSimulator(config or SimulatorConfig(), h, w, seed=stable_seed(seed, seq.name, "annotate-events"))
    dt = 1e6 / max(seq.fps, 1e-3)  # microseconds per frame interval
    sim.reset(rgb_to_luma(seq.rgb_u8(0)))
    grids: list[Optional[torch.Tensor]] = [None] * n
    for t in range(1, n):
        if cancel is not None and cancel():
            return None
        chunk = sim.step(rgb_to_luma(seq.rgb_u8(t)), (t - 1) * dt, t * dt)
        grids[t] = chunk_to_voxel_grid(chunk, (h, w), num_bins)  # (B, H, W)
        if progress is not None:
            progress(t, n)
    grids[0] = grids[1] if n > 1 else torch.zeros(num_bins, h, w)
    if progress is not None:
        progress(n, n)
    return [g for g in grids if g is not None]


def with_voxels(seq: LoadedSequence, voxels: list[torch.Tensor]) -> VideoFrames:
    """The sequence's frames with ``voxels`` as their event input (a new :class:`VideoFrames`)."""
    rgb = [seq.frames.frame(t)[0] for t in range(seq.num_frames)]
    return VideoFrames(rgb, voxels, seq.stems)
