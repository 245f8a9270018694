"""Random-access frames for interactive sessions (propagation runs backward and forward).

A session needs frame t and its voxel grid in any order, many times (every round), at one
working size. :class:`VideoFrames` keeps them in memory: RGB as uint8 and voxel grids as
float16 (about 1.3 MB per frame at 240x427 with 5 bins), so reading and event binning happen
once per video.
"""

from __future__ import annotations

from typing import Optional, Protocol, Sequence

import torch
from torch import Tensor


class FrameSource(Protocol):
    """What a session reads frames from.

    Attributes:
        num_frames: T.
        size: (H, W) of every frame (the session's working size).
    """

    num_frames: int
    size: tuple[int, int]

    def frame(self, t: int) -> tuple[Tensor, Optional[Tensor]]:
        """Frame ``t``: float32 RGB (3, H, W) in [0, 1] and float32 voxel grid (B, H, W) or None."""
        ...


class VideoFrames:
    """Frames held in memory (uint8 RGB, float16 voxel grids).

    Args:
        rgb: T float tensors (3, H, W) in [0, 1] (or one (T, 3, H, W) tensor).
        voxel: T float tensors (B, H, W), one (T, B, H, W) tensor, or None (frames only).
        names: frame stems (for writing masks), default ``00000`` ...
    Raises:
        ValueError: no frame, frames of different sizes, or a voxel count/size mismatch.
    """

    def __init__(self, rgb: Sequence[Tensor] | Tensor, voxel: Sequence[Tensor] | Tensor | None = None, names: Optional[Sequence[str]] = None) -> None:
        frames = list(rgb)
        if not frames:
            raise ValueError("a video needs at least one frame")
        self.size = (int(frames[0].shape[-2]), int(frames[0].shape[-1]))
        if any(f.dim() != 3 or f.shape[0] != 3 or tuple(f.shape[-2:]) != self.size for f in frames):
            raise ValueError(f"every frame must be (3, {self.size[0]}, {self.size[1]})")
        self._rgb = [(f.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).cpu() for f in frames]
        self._voxel: Optional[list[Tensor]] = None
        if voxel is not None:
            vox = list(voxel)
            if len(vox) != len(frames) or any(tuple(v.shape[-2:]) != self.size for v in vox):
                raise ValueError(f"need {len(frames)} voxel grids of size {self.size}")
            self._voxel = [v.detach().to(torch.float16).cpu() for v in vox]
        self.num_frames = len(frames)
        self.names = list(names) if names is not None else [f"{i:05d}" for i in range(self.num_frames)]

    def frame(self, t: int) -> tuple[Tensor, Optional[Tensor]]:
        """See :class:`FrameSource` (raises IndexError outside 0..T-1)."""
        if not 0 <= t < self.num_frames:
            raise IndexError(t)
        voxel = self._voxel[t].float() if self._voxel is not None else None
        return self._rgb[t].float() / 255.0, voxel

    @staticmethod
    def from_reader(reader, events: bool = True, num_workers: int = 0) -> "VideoFrames":
        """Read every frame of a :class:`~evolve.data.video_reader.VideoReader` (at its size).

        Args:
            reader: the sequence.
            events: keep the voxel grids (False: frames only).
            num_workers: decoding processes.
        """
        rgb, vox, names = [], [], []
        for sample in reader.loader(num_workers=num_workers):
            rgb.append(sample.rgb)
            vox.append(sample.voxel)
            names.append(sample.name)
        return VideoFrames(rgb, vox if events else None, names)
