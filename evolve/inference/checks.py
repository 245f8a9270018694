"""Checks of what a streaming core's ``step`` receives (shared by the cores of every network)."""

from __future__ import annotations

from typing import Optional

from torch import Tensor

from evolve.utils.errors import InputError


def check_step_inputs(frame: Tensor, voxel_grid: Optional[Tensor], mask: Optional[Tensor], video_size: Optional[tuple[int, int]],
                      event_bins: int) -> None:
    """Refuse frames, voxel grids and masks a streaming core cannot use.

    Args:
        frame: should be float (3, H, W).
        voxel_grid: should be (bins, H, W) when ``event_bins > 0``; ignored when 0.
        mask: None or an integer (H, W) id mask.
        video_size: (H, W) of the frames seen so far in this video, or None at its start.
        event_bins: voxel-grid bins the network reads (0 = frames only).
    Raises:
        InputError: naming the problem and the fix.
    """
    if frame.dim() != 3 or frame.shape[0] != 3 or not frame.is_floating_point():
        raise InputError(None, f"frame has shape {tuple(frame.shape)} and dtype {frame.dtype}", "pass a float (3, H, W) RGB frame in [0, 1]")
    size = tuple(frame.shape[-2:])
    if video_size is not None and size != video_size:
        raise InputError(None, f"frame size {size} differs from the video's {video_size}", "call reset() before a new video; keep one size per video")
    if event_bins > 0:
        if voxel_grid is None:
            raise InputError(None, "this network has events on but no voxel grid was given", f"pass the ({event_bins}, H, W) voxel grid of the frame")
        if voxel_grid.dim() != 3 or voxel_grid.shape[0] != event_bins or tuple(voxel_grid.shape[-2:]) != size:
            raise InputError(None, f"voxel grid has shape {tuple(voxel_grid.shape)}, frame {size}", f"pass a ({event_bins}, {size[0]}, {size[1]}) voxel grid")
    if mask is not None:
        if mask.dim() != 2 or tuple(mask.shape) != size or mask.is_floating_point():
            raise InputError(None, f"mask has shape {tuple(mask.shape)} and dtype {mask.dtype}, frame {size}", "pass an integer (H, W) object-id mask of the frame's size")
