"""EMVOS's decoder: three stages of blend convolution -> CBAM -> transposed convolution
(stride 16 -> 8 -> 4 -> 1) with the s8 and s4 encoder skips, 2-class logits per object
(Cho et al. 2022, arXiv 2209.03139; CBAM: Woo et al., ECCV 2018)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def _kaiming(module: nn.Module) -> nn.Module:
    """Kaiming-uniform weights and zero biases for every (transposed) convolution (as EMVOS)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.kaiming_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return module


class CBAM(nn.Module):
    """3x3 convolution, then channel attention and spatial attention (CBAM, Woo et al. 2018).

    ``x = Conv3x3(x)``; ``x = x * sigmoid(MLP(avgpool x) + MLP(maxpool x))`` with a shared
    1x1-convolution MLP (C -> C -> C, ReLU between); ``x = x * sigmoid(Conv3x3(ReLU(Conv3x3(
    [mean_c x ; max_c x]))))`` with 2 -> 16 -> 1 channels.

    Shapes: (B, C, H, W) -> (B, C, H, W).
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)
        self.channel_mlp = nn.Sequential(nn.Conv2d(channels, channels, 1), nn.ReLU(), nn.Conv2d(channels, channels, 1))
        self.spatial = nn.Sequential(nn.Conv2d(2, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 1, 3, padding=1))
        _kaiming(self)

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv(x)
        gate_c = torch.sigmoid(self.channel_mlp(F.adaptive_avg_pool2d(x, 1)) + self.channel_mlp(F.adaptive_max_pool2d(x, 1)))
        x = x * gate_c
        pooled = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)  # (B, 2, H, W)
        return x * torch.sigmoid(self.spatial(pooled))


class EMVOSDecoder(nn.Module):
    """Per-object decoder.

    Stride 16: ``x = CBAM(ReLU(Conv3x3([ReLU(Conv1x1(s16)) ; scores(8) ; prev_mask(2)])))``,
    ``u8 = ConvT(x)`` (2 channels, x2). Stride 8: the same on ``[ReLU(Conv1x1(s8)) ; u8]``,
    ``u4 = ConvT`` (x2). Stride 4: the same on ``[ReLU(Conv1x1(s4)) ; u4]``, then a transposed
    convolution (kernel 6, stride 4, padding 1) to 2-class logits at full resolution.

    Args:
        ms_dims: encoder channels (s16, s8, s4) (DenseNet-121: 1024, 512, 256).
        dim: decoder width (paper 256).
        num_scores: matching-score channels (8).
    Shapes: s16 (B, C16, h, w), s8 (B, C8, 2h, 2w), s4 (B, C4, 4h, 4w) shared by the objects;
        scores (B, N, 8, h, w), prev_mask (B, N, 2, h, w) -> logits (B, N, 2, 16h, 16w).
    """

    def __init__(self, ms_dims: list[int], dim: int, num_scores: int = 8) -> None:
        super().__init__()
        c16, c8, c4 = ms_dims
        self.proj16 = nn.Conv2d(c16, dim, 1)
        self.blend16 = nn.Conv2d(dim + num_scores + 2, dim, 3, padding=1)
        self.cbam16 = CBAM(dim)
        self.up16 = nn.ConvTranspose2d(dim, 2, 4, stride=2, padding=1)
        self.proj8 = nn.Conv2d(c8, dim, 1)
        self.blend8 = nn.Conv2d(dim + 2, dim, 3, padding=1)
        self.cbam8 = CBAM(dim)
        self.up8 = nn.ConvTranspose2d(dim, 2, 4, stride=2, padding=1)
        self.proj4 = nn.Conv2d(c4, dim, 1)
        self.blend4 = nn.Conv2d(dim + 2, dim, 3, padding=1)
        self.cbam4 = CBAM(dim)
        self.up4 = nn.ConvTranspose2d(dim, 2, 6, stride=4, padding=1)
        for m in (self.proj16, self.blend16, self.up16, self.proj8, self.blend8, self.up8, self.proj4, self.blend4, self.up4):
            _kaiming(m)

    def forward(self, s16: Tensor, s8: Tensor, s4: Tensor, scores: Tensor, prev_mask: Tensor) -> Tensor:
        b, n = scores.shape[:2]

        def per_object(feat: Tensor) -> Tensor:  # (B, C, H, W) -> (B*N, C, H, W)
            return feat.unsqueeze(1).expand(b, n, *feat.shape[1:]).flatten(0, 1)

        x = torch.cat([per_object(F.relu(self.proj16(s16))), scores.flatten(0, 1).to(s16.dtype), prev_mask.flatten(0, 1).to(s16.dtype)], dim=1)
        u = self.up16(self.cbam16(F.relu(self.blend16(x))))  # (B*N, 2, 2h, 2w)
        x = torch.cat([per_object(F.relu(self.proj8(s8))), u], dim=1)
        u = self.up8(self.cbam8(F.relu(self.blend8(x))))  # (B*N, 2, 4h, 4w)
        x = torch.cat([per_object(F.relu(self.proj4(s4))), u], dim=1)
        logits = self.up4(self.cbam4(F.relu(self.blend4(x))))  # (B*N, 2, 16h, 16w)
        return logits.view(b, n, *logits.shape[1:])
