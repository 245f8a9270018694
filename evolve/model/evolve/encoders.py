"""EVOLVE encoders: key projections, EDFT, the mask encoder (the ResNet trunks are in evolve.model.backbones).

DESIGN 3 (Cutie part and EVOLVE additions); the authors' modules are summarised in
``shared/reference/evolve_authors_code.md`` 1.2-1.3.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn

from evolve.model.backbones import ResNetTrunk
from evolve.model.layers import GroupFeatureFusionBlock, SensoryDeepUpdater, fp32_island
from evolve.ops import deform_conv2d


class KeyProjection(nn.Module):
    """Key projection (XMem / Cutie; DESIGN 3): key, shrinkage and selection from a stride-16 feature.

    ``feature_proj`` (1x1, in_dim -> mid_dim) gives the feature x that EDFT may deform; then
    ``key = Conv3x3(x)`` (orthogonal init, key_dim channels), ``shrinkage = Conv3x3(x)^2 + 1``
    (1 channel, >= 1), ``selection = sigmoid(Conv3x3(x))`` (key_dim channels, in (0, 1)).
    """

    def __init__(self, in_dim: int, mid_dim: int, key_dim: int) -> None:
        super().__init__()
        self.feature_proj = nn.Conv2d(in_dim, mid_dim, 1)
        self.key_proj = nn.Conv2d(mid_dim, key_dim, 3, padding=1)
        self.d_proj = nn.Conv2d(mid_dim, 1, 3, padding=1)
        self.e_proj = nn.Conv2d(mid_dim, key_dim, 3, padding=1)
        nn.init.orthogonal_(self.key_proj.weight)
        nn.init.zeros_(self.key_proj.bias)

    def keys(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """x (B, mid_dim, h, w) -> key (B, key_dim, h, w), shrinkage (B, 1, h, w), selection (B, key_dim, h, w)."""
        key = self.key_proj(x)
        shrinkage = self.d_proj(x) ** 2 + 1
        selection = torch.sigmoid(self.e_proj(x))
        return key, shrinkage, selection

    def forward(self, f16: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        return self.keys(self.feature_proj(f16))


def edft_dtype(device_type: str, policy: str) -> torch.dtype:
    """The dtype EDFT computes in (``edft_precision``): under autocast with ``policy="autocast"``
    the autocast dtype of ``device_type`` (float16/bfloat16 on CUDA, so our reduced-precision
    kernels run in training and inference), otherwise float32.

    Raises:
        ValueError: an unknown policy.
    """
    if policy not in ("autocast", "float32"):
        raise ValueError(f"edft_precision must be 'autocast' or 'float32', got {policy!r}")
    if policy == "autocast" and torch.is_autocast_enabled(device_type):
        return torch.get_autocast_dtype(device_type)
    return torch.float32


class DeformConv(nn.Module):
    """A 3x3 deformable convolution weight, applied through :func:`evolve.ops.deform_conv2d`.

    No bias (as the authors' ``regular_conv``). DCNv1 when ``modulation`` is None, DCNv2 with it.
    Runs in ``dtype`` (:func:`edft_dtype`: the autocast dtype, or float32) with autocast off
    inside, so the op gets exactly that dtype; offsets are cast with the input.

    Shapes: x (M, C_in, h, w), offset (M, 18, h, w), modulation (M, 9, h, w) or None
        -> (M, C_out, h, w) in ``dtype``.
    """

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(out_dim, in_dim, 3, 3))
        nn.init.kaiming_uniform_(self.weight, a=5**0.5)  # nn.Conv2d's default init

    def forward(self, x: Tensor, offset: Tensor, modulation: Optional[Tensor] = None, dtype: torch.dtype = torch.float32) -> Tensor:
        with fp32_island(x.device.type):
            x, offset, weight = x.to(dtype), offset.to(dtype), self.weight.to(dtype)
            mask = None if modulation is None else modulation.to(dtype)
            return deform_conv2d(x, offset, weight, None, stride=(1, 1), padding=(1, 1), dilation=(1, 1), mask=mask)


class EDFT(nn.Module):
    """Event-guided deformable feature transfer (EVOLVE; DESIGN 3, evolve_authors_code.md 1.3).

    Offsets ``O = Conv3x3(Conv1x1(F_src))`` with 18 channels (one offset group, (dy, dx) per tap
    of a 3x3 kernel), clamped to +-max(h, w)/4 (in stride-16 pixels); ``F_src`` is the raw
    stride-16 event feature (``offset_source: event``, paper) or image feature (``image``, the
    authors' last commit). With ``modulated`` 9 more channels give DCNv2 modulation scalars
    ``sigmoid(.)``. The offset convolution is zero-initialised (offsets start at 0, so EDFT starts
    as a plain 3x3 convolution; the modulation starts at 0.5).

    Two deformable 3x3 convolutions 256 -> 256 (separate weights, as the authors'
    ``key_proj`` DCN and ``regular_conv``): ``feature_deform`` on the current image feature before
    the key projection, ``value_deform`` on every memory frame's mask value with that frame's own
    offsets.
    """

    def __init__(self, source_dim: int, mid_dim: int, value_dim: int, modulated: bool) -> None:
        super().__init__()
        self.modulated = modulated
        self.offset_proj = nn.Conv2d(source_dim, mid_dim, 1)
        self.offset_conv = nn.Conv2d(mid_dim, 18 + (9 if modulated else 0), 3, padding=1)
        nn.init.zeros_(self.offset_conv.weight)
        nn.init.zeros_(self.offset_conv.bias)
        self.feature_deform = DeformConv(mid_dim, mid_dim)
        self.value_deform = DeformConv(value_dim, value_dim)

    def offsets(self, source: Tensor) -> tuple[Tensor, Optional[Tensor]]:
        """source (B, C16, h, w) -> offset (B, 18, h, w) clamped to +-max(h, w)/4, modulation (B, 9, h, w) or None."""
        out = self.offset_conv(self.offset_proj(source))
        limit = max(source.shape[-2:]) / 4
        offset = out[:, :18].clamp(-limit, limit)
        modulation = torch.sigmoid(out[:, 18:]) if self.modulated else None
        return offset, modulation

    def deform_values(self, value: Tensor, offset: Tensor, modulation: Optional[Tensor], dtype: torch.dtype = torch.float32) -> Tensor:
        """Deform per-object values with their frame's offsets: (B, N, C, h, w) -> (B, N, C, h, w) in ``dtype``."""
        b, n = value.shape[:2]
        off = offset.unsqueeze(1).expand(-1, n, -1, -1, -1).flatten(0, 1)  # (B*N, 18, h, w)
        mod = None if modulation is None else modulation.unsqueeze(1).expand(-1, n, -1, -1, -1).flatten(0, 1)
        out = self.value_deform(value.flatten(0, 1), off, mod, dtype)
        return out.view(b, n, *out.shape[1:])


class MaskEncoder(nn.Module):
    """Mask encoder (Cutie; DESIGN 3): ResNet on [RGB, mask, others] per object -> value and deep sensory update.

    ``value = Fusion(x, ResNet18([img, m_i, others_i]))`` where x is the pixel feature (plus the
    event feature in EVOLVE, added by the caller) and the fusion is a GroupFeatureFusionBlock; the
    optional deep update runs the GRU of :class:`SensoryDeepUpdater` on the value.

    Args:
        arch: ResNet of the trunk (resnet18).
        single_object: no "others" channel (4 input channels instead of 5).
    """

    def __init__(self, arch: str, pixel_dim: int, value_dim: int, sensory_dim: int, single_object: bool) -> None:
        super().__init__()
        self.single_object = single_object
        self.backbone = ResNetTrunk(arch, 4 if single_object else 5)
        self.fuser = GroupFeatureFusionBlock(pixel_dim, self.backbone.ms_dims[0], value_dim)
        self.sensory_update = SensoryDeepUpdater(value_dim, sensory_dim)

    def forward(self, image: Tensor, pix_feat: Tensor, sensory: Tensor, masks: Tensor, others: Optional[Tensor], deep_update: bool = True) -> tuple[Tensor, Tensor]:
        """Encode masks into memory values.

        Args:
            image: (B, 3, H, W) ImageNet-normalised.
            pix_feat: (B, C, H/16, W/16) fusion input.
            sensory: (B, N, Cs, H/16, W/16).
            masks, others: (B, N, H, W) probabilities in [0, 1] (others None when single_object).
            deep_update: run the deep sensory update.
        Returns:
            value (B, N, Cv, H/16, W/16), sensory (B, N, Cs, H/16, W/16) (updated or unchanged).
        """
        b, n = masks.shape[:2]
        parts = [image.unsqueeze(1).expand(-1, n, -1, -1, -1), masks.unsqueeze(2).to(image.dtype)]
        if not self.single_object:
            assert others is not None
            parts.append(others.unsqueeze(2).to(image.dtype))
        g = torch.cat(parts, dim=2).flatten(0, 1)  # (B*N, 4|5, H, W)
        g16 = self.backbone(g)[0]
        g16 = g16.view(b, n, *g16.shape[1:])  # (B, N, 256, h, w)
        value = self.fuser(pix_feat, g16)
        if deep_update:
            sensory = self.sensory_update(value, sensory)
        return value, sensory
