"""The training unroll of a clip through EMVOS (Cho et al. 2022, arXiv 2209.03139).

Frame 0 with its ground-truth masks is the global reference; for t = 1 .. T-1 the previous frame
with the network's own prediction (each object's 2-class softmax, objects independent, not
detached, as the authors' training) is the local reference. Optionally swap-and-attach pastes
another clip's objects into the clip first (:func:`evolve.data.distractors.swap_and_attach`).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from evolve.data.distractors import swap_and_attach
from evolve.model.clip_batch import read_clip_batch
from evolve.model.emvos.network import EMVOS, aggregate_objects


class EMVOSTrainWrapper(nn.Module):
    """Unrolls a training clip through :class:`~evolve.model.emvos.network.EMVOS`.

    Args:
        network: the EMVOS network (its parameters are this module's, under ``network.``).
        swap_attach_prob: probability that a batch gets swap-and-attach distractors (EMVOS:
            0.2); drawn from torch's global generator (the trainer seeds it per iteration).

    Raises:
        ValueError: ``swap_attach_prob`` outside [0, 1].
    """

    def __init__(self, network: EMVOS, swap_attach_prob: float = 0.0) -> None:
        super().__init__()
        if not 0.0 <= swap_attach_prob <= 1.0:
            raise ValueError(f"swap_attach_prob must be in [0, 1], got {swap_attach_prob}")
        self.network = network
        self.swap_attach_prob = swap_attach_prob

    def forward(self, batch: dict[str, Any]) -> dict[str, Any]:
        """Unroll one batch of clips.

        Args:
            batch: the "Training clips" dict of docs/architecture.md (``rgb`` (B, T, 3, H, W),
                ``voxel`` (B, T, bins, H, W) with events on, ``cls_gt`` (B, T, 1, H, W) ids
                0..N, ``selector`` (B, N_max), ``info``); H, W multiples of 16.
        Returns:
            dict with ``logits`` float32 (B, T-1, N, 2, H, W) per-object 2-class logits of
            frames 1..T-1; ``target`` int64 (B, T-1, N, H, W) each object's 0/1 ground truth
            (after swap-and-attach); ``masks`` float32 (B, T-1, N, H, W) soft-aggregated object
            probabilities (for pictures); ``selector`` (B, N); ``num_objects`` list[int];
            ``swapped`` bool (B,) clips that received distractors.
        Raises:
            ValueError: T < 2, a clip without objects, or missing voxel grids.
        """
        net = self.network
        rgb = batch["rgb"]
        clip = read_clip_batch(batch, net.events)
        b, seq_len, num_objects, selector, voxel = clip.batch_size, clip.seq_len, clip.num_objects, clip.selector, clip.voxel
        n = max(num_objects)  # selector: (B, N); voxel: (B, T, C, H, W) | None
        ids = torch.arange(1, n + 1, device=rgb.device).view(1, 1, n, 1, 1)
        objects = (batch["cls_gt"] == ids).float()  # (B, T, N, H, W)
        swapped = torch.zeros(b, dtype=torch.bool, device=rgb.device)
        if self.training and self.swap_attach_prob > 0 and bool(torch.rand(()) < self.swap_attach_prob):
            rgb, voxel, objects, swapped = swap_and_attach(rgb, voxel, objects, selector)

        frames = net.encode_frame(rgb.flatten(0, 1), None if voxel is None else voxel.flatten(0, 1))
        global_ref = net.reference(frames.at_time(b, seq_len, 0), objects[:, 0])
        local_ref = global_ref
        out_logits: list[Tensor] = []
        out_masks: list[Tensor] = []
        for t in range(1, seq_len):
            query = frames.at_time(b, seq_len, t)
            logits = net.segment(query, global_ref, local_ref)  # (B, N, 2, H, W)
            fg = torch.softmax(logits, dim=2)[:, :, 1]  # (B, N, H, W)
            if t < seq_len - 1:
                local_ref = net.reference(query, fg)
            out_logits.append(logits)
            out_masks.append(aggregate_objects(fg * selector[:, :, None, None])[:, 1:])
        return {
            "logits": torch.stack(out_logits, dim=1),
            "target": objects[:, 1:].long(),
            "masks": torch.stack(out_masks, dim=1),
            "selector": selector,
            "num_objects": num_objects,
            "swapped": swapped,
        }
