"""Runs a referring training batch through SgMg: forward, Hungarian matching per decoder layer,
MSO refinement of the matched query (as SgMg, only the matched query is refined in training)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from evolve.model.sgmg.matcher import clip_match_cost, hungarian_match
from evolve.model.sgmg.network import SgMg


class SgMgTrainWrapper(nn.Module):
    """``outputs = wrapper(batch)``.

    Batch (:func:`evolve.data.referring_clips.collate_referring`): ``rgb`` (B, T, 3, H, W),
    ``voxel`` (B, T, bins, H, W), ``masks`` (B, T, H, W) float {0, 1} of the referred object,
    ``boxes`` (B, T, 4) cxcywh in [0, 1], ``valid`` (B, T) float, ``texts`` list of B str.

    Outputs: ``layers`` (the network's), ``queries``: per layer (B,) long matched query,
    ``low_res``: per layer (B, T, H/2, W/2) the matched query's patch-mask logits, ``masks``:
    (B, T, H, W) the matched query's final (MSO) mask logits.
    """

    def __init__(self, network: SgMg) -> None:
        super().__init__()
        self.network = network

    def forward(self, batch: dict[str, Any]) -> dict[str, Any]:
        net = self.network
        out = net(batch["rgb"], batch.get("voxel"), batch["texts"])
        layers = out["layers"]
        b, t = batch["rgb"].shape[:2]
        queries: list[Tensor] = []
        low_res: list[Tensor] = []
        for layer in layers:
            low = net.low_res_masks(layer["patch"])  # (B, T, Q, h, w)
            chosen = []
            with torch.no_grad():
                targets = F.interpolate(batch["masks"].float(), size=low.shape[-2:], mode="area")  # (B, T, h, w)
                for i in range(b):
                    cost = clip_match_cost(layer["logits"][i], layer["boxes"][i], low[i], batch["boxes"][i][:, None],
                                           targets[i][:, None], batch["valid"][i][:, None].bool(), net.config.loss)
                    rows, _ = hungarian_match(cost)
                    chosen.append(int(rows[0]))
            query = torch.tensor(chosen, device=low.device)
            queries.append(query)
            low_res.append(low[torch.arange(b), :, query])  # (B, T, h, w)
        last = layers[-1]["patch"][torch.arange(b), :, queries[-1]]  # (B, T, p^2, h8, w8)
        masks = net.refine(last.flatten(0, 1), out["f8"], out["f4"]).reshape(b, t, *batch["rgb"].shape[-2:])
        return {"layers": layers, "queries": queries, "low_res": low_res, "masks": masks}
