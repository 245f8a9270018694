"""Periodic training pictures: one clip's frames, events, ground truth and prediction."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from evolve.data.image_io import write_frame
from evolve.vis.overlay import overlay_mask, side_by_side, voxel_event_picture


def clip_grid(batch: dict[str, Any], outputs: dict[str, Any], index: int = 0) -> np.ndarray:
    """A picture of clip ``index``: one row per frame with
    brightened low-light frame | event picture | ground truth | prediction.

    Args:
        batch: collated clip batch (``rgb`` (B,T,3,H,W), ``voxel`` (B,T,bins,H,W), ``cls_gt`` (B,T,1,H,W)).
        outputs: TrainWrapper outputs (``masks`` (B, T-1, N, H, W) probabilities of frames 1..T-1).

    Returns:
        uint8 (rows*H, W_total, 3).
    """
    from evolve.vis.events import brighten

    rgb = (batch["rgb"][index].detach().float().cpu().clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).numpy()
    voxel = batch["voxel"][index].detach().cpu()
    gt = batch["cls_gt"][index, :, 0].detach().cpu().numpy()
    probs = outputs["masks"][index].detach().float().cpu()  # (T-1, N, H, W)
    bg = (1 - probs.sum(1, keepdim=True)).clamp(0, 1)
    pred = torch.cat([bg, probs], 1).argmax(1).numpy()  # (T-1, H, W)
    rows = []
    for t in range(rgb.shape[0]):
        frame, _ = brighten(rgb[t])
        pred_t = gt[0] if t == 0 else pred[t - 1]  # frame 0 is given
        rows.append(side_by_side(frame, voxel_event_picture(voxel[t]), overlay_mask(frame, gt[t]), overlay_mask(frame, pred_t)))
    gap = np.full((4, rows[0].shape[1], 3), 255, np.uint8)
    return np.concatenate([r for row in rows for r in (row, gap)][:-1], axis=0)


class TrainingImageLogger:
    """Writes :func:`clip_grid` pictures to ``folder/vis_<it>.png`` and to TensorBoard."""

    def __init__(self, folder: Path, writer: Any, stage: str) -> None:
        self.folder, self.writer, self.stage = Path(folder), writer, stage

    def __call__(self, it: int, batch: dict[str, Any], outputs: dict[str, Any]) -> None:
        grid = clip_grid(batch, outputs)
        write_frame(self.folder / f"vis_{it:07d}.png", grid)
        if self.writer is not None:
            self.writer.add_image(f"{self.stage}/clip", grid, it, dataformats="HWC")
