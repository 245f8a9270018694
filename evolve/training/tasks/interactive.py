"""Interactive VOS as a training task (``task=interactive``): the interaction network, or GLTM's
A-Net + transfer network, trained on scribbles simulated by the DAVIS robot (docs/interactive.md).

Data: the video datasets of the stage through Cutie's clip sampler (``VOSClipDataset``; use
``num_objects=1``); every item also carries robot scribbles made on the clip's first frame:

- round 1 from the ground truth: the robot's strokes for an all-background prediction (so
  positive strokes inside the object), previous mask 0.5 everywhere, no negative map;
- round 2 from a *perturbed* ground truth (dilated or eroded by a random radius, shifted,
  with a random blob added or cut out): the robot's strokes on its errors, the perturbed mask
  as the previous mask (negative map limited as in GLTM).

The wrapper adds round 3 from the network's own round-1 prediction (the robot runs on its
errors inside the forward pass), so later rounds see the mistakes the network really makes.

- ``arch: interaction`` (``seq_length=1``): the three rounds on the frame; loss on each.
- ``arch: gltm`` (``seq_length`` T >= 2): rounds 1-2 train the A-Net on frame 0; its round-1
  mask and indicator feature start the T-Net, which propagates through frames 1..T-1 (global
  transfer from frame 0, local transfer from the previous frame's prediction); loss on every
  frame. Clips may play backwards (``reverse_prob``), as GLTM propagates both ways.

Loss: binary cross entropy with logits + soft Dice, averaged over rounds/frames.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import Dataset

from evolve.data.scribbles import interaction_maps
from evolve.eval.interactive.robot import RobotConfig, frame_scribbles
from evolve.training.task import Task
from evolve.training.tasks.semi_supervised import SemiSupervisedTask, build_stage_dataset, _bins

#: The robot used for training (GLTM evaluated with min_nb_nodes 2, which also keeps thin objects).
TRAIN_ROBOT = RobotConfig(min_nb_nodes=2)


def robot_maps(pred: np.ndarray, gt: np.ndarray, prev_mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """The robot's strokes for one object (id 1) rasterised as GLTM's (positive, negative) maps.

    Args:
        pred, gt: int (H, W) masks with ids {0, 1}.
        prev_mask: int (H, W) previous-round mask (None in round 1).
    Returns:
        float32 (H, W) positive and negative maps.
    """
    h, w = gt.shape
    strokes = frame_scribbles(pred, gt, [1], TRAIN_ROBOT)
    return interaction_maps(strokes, 1, h, w, prev_mask)


def perturb_mask(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A plausible wrong mask from a ground-truth one: dilated or eroded (radius 2..S/16 px),
    shifted (up to S/16 px) and with a random elliptical blob added or cut out.

    Args:
        mask: bool (S, S).
    Returns:
        bool (S, S).
    """
    s = max(mask.shape)
    out = mask.astype(np.uint8)
    r = int(rng.integers(2, max(3, s // 16)))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    out = cv2.dilate(out, kernel) if rng.random() < 0.5 else cv2.erode(out, kernel)
    dy, dx = (int(v) for v in rng.integers(-(s // 16), s // 16 + 1, size=2))
    out = np.roll(out, (dy, dx), axis=(0, 1))
    cy, cx = int(rng.integers(mask.shape[0])), int(rng.integers(mask.shape[1]))
    if rng.random() < 0.7 and mask.any():  # centre the blob on the object most of the time
        ys, xs = np.nonzero(mask)
        k = int(rng.integers(len(ys)))
        cy, cx = int(ys[k]), int(xs[k])
    axes = (int(rng.integers(s // 16 + 1, s // 5 + 2)), int(rng.integers(s // 16 + 1, s // 5 + 2)))
    blob = cv2.ellipse(np.zeros_like(out), (cx, cy), axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
    out = np.where(blob > 0, 1 if rng.random() < 0.5 else 0, out)
    return out.astype(bool)


class InteractiveItems(Dataset):
    """Clip items with the round-1 and round-2 robot inputs (module docstring).

    Args:
        clips: a dataset of clip items (``rgb``, ``voxel``, ``cls_gt`` ...) keyed ``(index, seed)``.

    Extra item keys (S x S crops, first frame): ``pos1``, ``neg1``, ``prev2``, ``pos2``, ``neg2``
    float32 (1, S, S).
    """

    def __init__(self, clips: Dataset) -> None:
        self.clips = clips

    def __len__(self) -> int:
        return len(self.clips)  # type: ignore[arg-type]

    def __getitem__(self, key: tuple[int, int]) -> dict[str, Any]:
        item = self.clips[key]
        rng = np.random.default_rng([int(key[1]) if isinstance(key, tuple) else int(key), 7])
        gt = (item["cls_gt"][0, 0].numpy() == 1).astype(np.int64)  # (S, S) the first object
        empty = np.zeros_like(gt)
        pos1, neg1 = robot_maps(empty, gt, None)
        prev2 = perturb_mask(gt.astype(bool), rng).astype(np.int64)
        pos2, neg2 = robot_maps(prev2, gt, prev2)
        for name, arr in (("pos1", pos1), ("neg1", neg1), ("prev2", prev2.astype(np.float32)), ("pos2", pos2), ("neg2", neg2)):
            item[name] = torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32))[None]
        return item


def _robot_round(pred: Tensor, gt: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Round 3 inputs from predictions: (B, 1, S, S) bool pred and gt -> prev, pos, neg float (B, 1, S, S)."""
    prev, pos, neg = [], [], []
    for p, g in zip(pred[:, 0].cpu().numpy().astype(np.int64), gt[:, 0].cpu().numpy().astype(np.int64)):
        a, b = robot_maps(p, g, p)
        prev.append(p.astype(np.float32))
        pos.append(a)
        neg.append(b)
    to = lambda xs: torch.from_numpy(np.stack(xs))[:, None].to(gt.device)  # noqa: E731
    return to(prev), to(pos), to(neg)


class InteractionTrainWrapper(nn.Module):
    """Three interaction rounds on one frame (``arch: interaction``); see the module docstring.

    Returns ``{"logits": [3 x (B, 1, S, S)], "labels": [3 x (B, 1, S, S)] float}``.
    """

    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        self.network = network

    def forward(self, batch: dict[str, Any]) -> dict[str, Any]:
        rgb = batch["rgb"][:, 0]
        voxel = batch["voxel"][:, 0] if getattr(self.network, "events", False) else None
        gt = (batch["cls_gt"][:, 0] == 1).float()  # (B, 1, S, S)
        half = torch.full_like(gt, 0.5)
        out1 = self.network(rgb, half, batch["pos1"], batch["neg1"], voxel)
        out2 = self.network(rgb, batch["prev2"], batch["pos2"], batch["neg2"], voxel)
        with torch.no_grad():
            prev3, pos3, neg3 = _robot_round(out1.logits.detach() > 0, gt > 0.5)
        out3 = self.network(rgb, prev3, pos3, neg3, voxel)
        return {"logits": [out1.logits, out2.logits, out3.logits], "labels": [gt, gt, gt]}


class GLTMTrainWrapper(nn.Module):
    """A-Net rounds 1-2 on frame 0, then T-Net propagation over the clip (``arch: gltm``).

    Returns ``{"logits": [...], "labels": [...]}``: A-Net rounds 1 and 2, then frames 1..T-1.
    """

    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        self.network = network

    def forward(self, batch: dict[str, Any]) -> dict[str, Any]:
        net = self.network
        rgb, cls_gt = batch["rgb"], batch["cls_gt"]  # (B, T, 3, S, S), (B, T, 1, S, S)
        b, t = rgb.shape[:2]
        events = net.events
        voxel = batch["voxel"] if events else None
        gt = (cls_gt == 1).float()
        half = torch.full_like(gt[:, 0], 0.5)
        out1 = net.anet(rgb[:, 0], half, batch["pos1"], batch["neg1"], voxel[:, 0] if events else None)
        out2 = net.anet(rgb[:, 0], batch["prev2"], batch["pos2"], batch["neg2"], voxel[:, 0] if events else None)
        feats = net.tnet.encode(rgb.flatten(0, 1), voxel.flatten(0, 1) if events else None)
        per_frame = lambda x: x.view(b, t, *x.shape[1:])  # noqa: E731
        f16, f8, f4, key, local = (per_frame(v) for v in (feats.f16, feats.f8, feats.f4, feats.key, feats.local))
        from evolve.model.gltm.network import TransferFeatures

        logits, labels = [out1.logits, out2.logits], [gt[:, 0], gt[:, 0]]
        prev_mask = torch.sigmoid(out1.logits).detach()
        for i in range(1, t):
            target = TransferFeatures(f16[:, i], f8[:, i], f4[:, i], key[:, i], local[:, i], feats.size)
            lg, _ = net.tnet(target, [key[:, 0]], [out1.indicator], local[:, i - 1], prev_mask)
            logits.append(lg)
            labels.append(gt[:, i])
            prev_mask = torch.sigmoid(lg).detach()
        return {"logits": logits, "labels": labels}


def mask_loss(outputs: dict[str, Any], batch: Any = None) -> dict[str, Tensor]:
    """BCE with logits + soft Dice (1 - 2|PG| / (|P| + |G|), per item, +1 smoothing), averaged
    over the pairs of ``outputs["logits"]`` / ``outputs["labels"]``.

    Returns:
        ``{"total_loss", "bce", "dice"}`` scalars.
    """
    bce = dice = 0.0
    pairs = list(zip(outputs["logits"], outputs["labels"]))
    for logits, labels in pairs:
        bce = bce + F.binary_cross_entropy_with_logits(logits, labels)
        p = torch.sigmoid(logits).flatten(1)
        g = labels.flatten(1)
        dice = dice + (1 - (2 * (p * g).sum(1) + 1) / (p.sum(1) + g.sum(1) + 1)).mean()
    bce, dice = bce / len(pairs), dice / len(pairs)
    return {"total_loss": bce + dice, "bce": bce, "dice": dice}


class InteractiveTask(Task):
    """Interactive VOS training (module docstring)."""

    name = "interactive"
    architectures = ("interaction", "gltm")

    def preflight(self, stage, stage_cfg, data_cfg, model_cfg) -> None:
        """The semi-supervised task's data checks, plus ``seq_length`` fitting the architecture.

        Raises:
            InputError: data problems, or seq_length < 2 for GLTM.
        """
        from evolve.utils.errors import InputError

        if model_cfg.arch == "gltm" and stage_cfg.seq_length < 2:
            raise InputError(None, f"task interactive with arch gltm needs {stage}.seq_length >= 2 (got {stage_cfg.seq_length})",
                             f"set {stage}.seq_length=4 (frame 0 annotated, the T-Net propagates to the rest)")
        SemiSupervisedTask().preflight(stage, stage_cfg, data_cfg, model_cfg)

    def build_dataset(self, stage, stage_cfg, data_cfg, model_cfg, seed: int) -> Dataset:
        """Clips (first object of each, re-indexed 1) with the robot's round-1/2 inputs."""
        return InteractiveItems(build_stage_dataset(stage, stage_cfg, data_cfg, seed, _bins(model_cfg)))

    def build_wrapper(self, network: nn.Module, stage_cfg) -> nn.Module:
        """:class:`InteractionTrainWrapper` or :class:`GLTMTrainWrapper` by the network's arch."""
        return GLTMTrainWrapper(network) if hasattr(network, "tnet") else InteractionTrainWrapper(network)

    def build_loss(self, stage_cfg) -> Callable[[Any, Any], dict[str, Tensor]]:
        """:func:`mask_loss`."""
        return mask_loss
