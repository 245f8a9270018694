"""Pixel feature fusers, the mask decoder and the auxiliary sensory head (Cutie; DESIGN 3)."""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from evolve.model.layers import GConv2d, GroupFeatureFusionBlock, GroupResBlock, SensoryUpdater, fp32_island, resize_groups


class PixelFeatureFuser(nn.Module):
    """Fuse a pixel-memory readout with the sensory memory, the last mask and a frame feature.

    ``p = readout + Conv1x1([sensory ; last_mask ; last_others])`` then
    ``GroupFeatureFusionBlock(x, p)`` with ``x`` the image pixel feature (image fuser) or the event
    feature (event fuser). ``last_others`` is dropped in single-object mode (257 input channels of
    the compression instead of 258). With ``equalized_scores`` (issue 14, docs/emvos.md) EMVOS's
    2 fg/bg score channels per object add ``Conv1x1(scores)`` to ``p`` through ``score_proj``,
    zero-initialised so a new network starts as the one without scores; without it the module
    has no extra parameter.

    Shapes: x (B, Cp, h, w), readout (B, N, Cv, h, w), sensory (B, N, Cs, h, w),
        last_mask / last_others (B, N, h, w), scores (B, N, 2, h, w) -> (B, N, C, h, w).
    """

    def __init__(self, pixel_dim: int, value_dim: int, sensory_dim: int, embed_dim: int, single_object: bool,
                 equalized_scores: bool = False) -> None:
        super().__init__()
        self.single_object = single_object
        self.sensory_compress = GConv2d(sensory_dim + (1 if single_object else 2), value_dim, 1)
        self.fuser = GroupFeatureFusionBlock(pixel_dim, value_dim, embed_dim)
        if equalized_scores:
            self.score_proj = GConv2d(2, value_dim, 1)
            nn.init.zeros_(self.score_proj.weight)
            nn.init.zeros_(self.score_proj.bias)
        else:
            self.score_proj = None

    def forward(self, x: Tensor, readout: Tensor, sensory: Tensor, last_mask: Tensor, last_others: Optional[Tensor],
                scores: Optional[Tensor] = None) -> Tensor:
        parts = [sensory, last_mask.unsqueeze(2).to(sensory.dtype)]
        if not self.single_object:
            assert last_others is not None
            parts.append(last_others.unsqueeze(2).to(sensory.dtype))
        cond = self.sensory_compress(torch.cat(parts, dim=2))  # (B, N, Cv, h, w)
        if self.score_proj is not None:
            if scores is None:
                raise ValueError("this fuser was built with equalized_scores: pass the (B, N, 2, h, w) scores")
            cond = cond + self.score_proj(scores.to(cond.dtype))
        return self.fuser(x, readout + cond)


class MaskDecoder(nn.Module):
    """Mask decoder (Cutie): stride 16 -> 8 -> 4 with image skips, one logit per object at stride 4.

    ``p8 = GroupResBlock(up2(p16) + Conv1x1(f8))``, ``p4 = GroupResBlock(up2(p8) + Conv1x1(f4))``,
    ``logit = Conv3x3(relu(p4))`` (fp32). In EVOLVE the skips f8, f4 are image + event features
    (added by the caller). Optionally updates the sensory memory from (p16, p8, [p4 ; logit]).

    Args:
        ms_dims: (C16, C8, C4) of the skip features; up_dims: (256, 128, 128); sensory_dim: Cs.
    """

    def __init__(self, ms_dims: list[int], up_dims: list[int], sensory_dim: int) -> None:
        super().__init__()
        self.sensory_update = SensoryUpdater([up_dims[0], up_dims[1], up_dims[2] + 1], sensory_dim, sensory_dim)
        self.f8_proj = nn.Conv2d(ms_dims[1], up_dims[0], 1)
        self.f4_proj = nn.Conv2d(ms_dims[2], up_dims[1], 1)
        self.up_16_8 = GroupResBlock(up_dims[0], up_dims[1])
        self.up_8_4 = GroupResBlock(up_dims[1], up_dims[2])
        self.pred = nn.Conv2d(up_dims[2], 1, 3, padding=1)

    def forward(self, f8: Tensor, f4: Tensor, readout: Tensor, sensory: Tensor, update_sensory: bool = True) -> tuple[Tensor, Tensor]:
        """f8 (B, C8, H/8, W/8), f4 (B, C4, H/4, W/4), readout (B, N, 256, H/16, W/16), sensory (B, N, Cs, H/16, W/16).

        Returns:
            sensory (B, N, Cs, H/16, W/16) (updated when ``update_sensory``, else the input),
            logits float32 (B, N, H/4, W/4).
        """
        b, n = readout.shape[:2]
        p8 = self.up_16_8(resize_groups(readout, scale=2.0) + self.f8_proj(f8).unsqueeze(1))  # (B, N, 128, H/8, W/8)
        p4 = self.up_8_4(resize_groups(p8, scale=2.0) + self.f4_proj(f4).unsqueeze(1))  # (B, N, 128, H/4, W/4)
        with fp32_island(p4.device.type):
            logits = self.pred(F.relu(p4.flatten(0, 1).float()))  # (B*N, 1, H/4, W/4)
        logits = logits.view(b, n, *logits.shape[-2:])
        if update_sensory:
            p4 = torch.cat([p4.float(), logits.unsqueeze(2)], dim=2)
            sensory = self.sensory_update([readout, p8, p4], sensory)
        return sensory, logits


class LinearPredictor(nn.Module):
    """Auxiliary per-object logits from the sensory memory (Cutie's sensory aux head).

    ``W [sensory] = (a, bias)`` per object (Conv1x1 to C+1 channels) and
    ``logit = sum_c pix_feat_c * a_c + bias``.

    Shapes: pix_feat (B, C, h, w), sensory (B, N, Cs, h, w) -> (B, N, h, w).
    """

    def __init__(self, sensory_dim: int, pixel_dim: int) -> None:
        super().__init__()
        self.projection = GConv2d(sensory_dim, pixel_dim + 1, 1)

    def forward(self, pix_feat: Tensor, sensory: Tensor) -> Tensor:
        proj = self.projection(sensory)
        return (pix_feat.unsqueeze(1) * proj[:, :, :-1]).sum(dim=2) + proj[:, :, -1]
