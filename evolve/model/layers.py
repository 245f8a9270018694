"""Building blocks shared by the EVOLVE modules (DESIGN 3; Cutie's group operations).

Conventions: ``x`` is a per-image feature ``(B, C, H, W)``; ``g`` is a per-object "group"
feature ``(B, N, C, H, W)`` (N objects, each processed independently); a trailing number in a
name is the stride (``p16`` = stride 16). All convolutions are plain ``torch.nn`` layers.
"""

from __future__ import annotations

import contextlib
import math
from typing import Iterator, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@contextlib.contextmanager
def fp32_island(device_type: str) -> Iterator[None]:
    """Disable autocast inside the block (affinity, GRU, summaries, final logits run in fp32).

    Args:
        device_type: ``tensor.device.type`` of the tensors computed inside ("cpu", "cuda", ...).
    """
    with torch.amp.autocast(device_type=device_type, enabled=False):
        yield


def resize_groups(g: Tensor, size: tuple[int, int] | None = None, scale: float | None = None, mode: str = "bilinear") -> Tensor:
    """Resize (B, N, C, H, W) spatially; ``area`` for downsampling, ``bilinear`` (align_corners
    False) for upsampling."""
    b, n = g.shape[:2]
    flat = g.flatten(0, 1)
    if mode == "area":
        out = F.interpolate(flat, size=size, scale_factor=scale, mode="area")
    else:
        out = F.interpolate(flat, size=size, scale_factor=scale, mode=mode, align_corners=False)
    return out.view(b, n, *out.shape[1:])


class GConv2d(nn.Conv2d):
    """``nn.Conv2d`` applied to each object of a group tensor (B, N, C_in, H, W) -> (B, N, C_out, H', W')."""

    def forward(self, g: Tensor) -> Tensor:  # type: ignore[override]
        b, n = g.shape[:2]
        out = super().forward(g.flatten(0, 1))
        return out.view(b, n, *out.shape[1:])


class CAResBlock(nn.Module):
    """Residual block of two 3x3 convolutions with ECA channel attention (Cutie's CAResBlock).

    ``y = conv2(relu(conv1(relu(x)))) * a + skip(x)``, where ``a = sigmoid(conv1d_k(avgpool(y)))``
    is efficient channel attention (Wang et al., CVPR 2020, "ECA-Net": kernel size
    ``k = odd(|log2(C)| + 1) / 2``; 5 for C = 256).

    Args:
        in_dim, out_dim: channels; a 1x1 projection forms the skip when they differ.
    Shapes: (M, in_dim, H, W) -> (M, out_dim, H, W).
    """

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_dim, out_dim, 3, padding=1)
        self.conv2 = nn.Conv2d(out_dim, out_dim, 3, padding=1)
        t = int((abs(math.log2(out_dim)) + 1) / 2)
        k = t if t % 2 else t + 1
        self.channel_attn = nn.Conv1d(1, 1, k, padding=(k - 1) // 2, bias=False)
        self.skip = nn.Conv2d(in_dim, out_dim, 1) if in_dim != out_dim else None

    def forward(self, x: Tensor) -> Tensor:
        r = x
        x = self.conv1(F.relu(x))
        x = self.conv2(F.relu(x))
        m, c = x.shape[:2]
        w = x.mean(dim=(2, 3)).view(m, 1, c)  # (M, 1, C)
        w = torch.sigmoid(self.channel_attn(w)).view(m, c, 1, 1)
        x = x * w
        if self.skip is not None:
            r = self.skip(r)
        return x + r


class GroupResBlock(nn.Module):
    """Pre-activation residual block over groups: two 3x3 GConv2d (+1x1 skip if widths differ).

    Shapes: (B, N, in_dim, H, W) -> (B, N, out_dim, H, W).
    """

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.conv1 = GConv2d(in_dim, out_dim, 3, padding=1)
        self.conv2 = GConv2d(out_dim, out_dim, 3, padding=1)
        self.skip = GConv2d(in_dim, out_dim, 1) if in_dim != out_dim else None

    def forward(self, g: Tensor) -> Tensor:
        out = self.conv1(F.relu(g))
        out = self.conv2(F.relu(out))
        if self.skip is not None:
            g = self.skip(g)
        return out + g


class GroupFeatureFusionBlock(nn.Module):
    """Fuse a per-image feature into per-object features (Cutie's GroupFeatureFusionBlock).

    ``g' = CAResBlock(CAResBlock(W_g g + W_x x))`` with 1x1 projections W_x, W_g.

    Args:
        x_dim: channels of the image feature x (B, x_dim, H, W).
        g_dim: channels of the group feature g (B, N, g_dim, H, W).
        out_dim: output channels.
    Shapes: -> (B, N, out_dim, H, W).
    """

    def __init__(self, x_dim: int, g_dim: int, out_dim: int) -> None:
        super().__init__()
        self.x_transform = nn.Conv2d(x_dim, out_dim, 1)
        self.g_transform = GConv2d(g_dim, out_dim, 1)
        self.block1 = CAResBlock(out_dim, out_dim)
        self.block2 = CAResBlock(out_dim, out_dim)

    def forward(self, x: Tensor, g: Tensor) -> Tensor:
        b, n = g.shape[:2]
        g = self.g_transform(g) + self.x_transform(x).unsqueeze(1)  # (B, N, out, H, W)
        g = g.flatten(0, 1)
        g = self.block2(self.block1(g))
        return g.view(b, n, *g.shape[1:])


def gru_update(gates: Tensor, h: Tensor) -> Tensor:
    """GRU-style sensory update (Cutie; DESIGN 3), computed in fp32.

    ``gates`` holds (forget, update, candidate) stacked on the channel axis:
    ``h' = sigmoid(f) * h * (1 - sigmoid(u)) + sigmoid(u) * tanh(n)``.

    Args:
        gates: (B, N, 3*C, H, W).
        h: (B, N, C, H, W) previous sensory memory.
    Returns:
        float32 (B, N, C, H, W).
    """
    c = h.shape[2]
    gates = gates.float()
    h = h.float()
    forget = torch.sigmoid(gates[:, :, :c])
    update = torch.sigmoid(gates[:, :, c : 2 * c])
    candidate = torch.tanh(gates[:, :, 2 * c :])
    return forget * h * (1 - update) + update * candidate


class SensoryUpdater(nn.Module):
    """Decoder-side sensory memory update from the stride-16/8/4 decoder features (Cutie).

    ``gates = Conv3x3([W16 p16 + W8 area(p8) + W4 area(p4) ; h])``, then :func:`gru_update`.

    Args:
        g_dims: channels of (p16, p8, p4) where p4 carries the logit as an extra channel.
        mid_dim: fused width; sensory_dim: C of the sensory memory.
    """

    def __init__(self, g_dims: list[int], mid_dim: int, sensory_dim: int) -> None:
        super().__init__()
        self.g16_conv = GConv2d(g_dims[0], mid_dim, 1)
        self.g8_conv = GConv2d(g_dims[1], mid_dim, 1)
        self.g4_conv = GConv2d(g_dims[2], mid_dim, 1)
        self.transform = GConv2d(mid_dim + sensory_dim, sensory_dim * 3, 3, padding=1)

    def forward(self, g: list[Tensor], h: Tensor) -> Tensor:
        """g = [p16 (B,N,C16,h,w), p8 (B,N,C8,2h,2w), p4 (B,N,C4,4h,4w)], h (B,N,Cs,h,w) -> (B,N,Cs,h,w) fp32."""
        size = h.shape[-2:]
        x = self.g16_conv(g[0]) + self.g8_conv(resize_groups(g[1], size=size, mode="area")) + self.g4_conv(resize_groups(g[2], size=size, mode="area"))
        with fp32_island(h.device.type):
            gates = self.transform(torch.cat([x.float(), h.float()], dim=2))
            return gru_update(gates, h)


class SensoryDeepUpdater(nn.Module):
    """Mask-encoder-side ("deep") sensory update from the mask value (Cutie).

    ``gates = Conv3x3([value ; h])``, then :func:`gru_update`.
    """

    def __init__(self, value_dim: int, sensory_dim: int) -> None:
        super().__init__()
        self.transform = GConv2d(value_dim + sensory_dim, sensory_dim * 3, 3, padding=1)

    def forward(self, g: Tensor, h: Tensor) -> Tensor:
        """g (B,N,Cv,h,w), h (B,N,Cs,h,w) -> new h (B,N,Cs,h,w) fp32."""
        with fp32_island(h.device.type):
            gates = self.transform(torch.cat([g.float(), h.float()], dim=2))
            return gru_update(gates, h)


def sine_positional_encoding(height: int, width: int, dim: int, scale: float, temperature: float, device: torch.device, dtype: torch.dtype = torch.float32) -> Tensor:
    """2-D sine positional encoding (DETR-style; Cutie's pixel PE, DESIGN 3: scale 32, temperature 128).

    Row and column coordinates are normalised to [0, scale] (``i / (n - 1) * scale``); each axis
    gets ``dim / 2`` channels of interleaved ``sin(c * f_j), cos(c * f_j)`` with frequencies
    ``f_j = temperature ** (-2j / (dim / 2))``, j = 0 .. dim/4 - 1. The first half of the channels
    encodes the row (y), the second half the column (x).

    Returns:
        (height, width, dim) tensor (channels last).
    Raises:
        ValueError: ``dim`` not divisible by 4.
    """
    if dim % 4:
        raise ValueError(f"sine positional encoding needs dim divisible by 4, got {dim}")
    half = dim // 2
    j = torch.arange(0, half, 2, device=device, dtype=torch.float32)
    inv_freq = 1.0 / (temperature ** (j / half))  # (half/2,)
    eps = 1e-6
    ys = torch.arange(height, device=device, dtype=torch.float32)
    xs = torch.arange(width, device=device, dtype=torch.float32)
    ys = ys / (max(height - 1, 0) + eps) * scale
    xs = xs / (max(width - 1, 0) + eps) * scale

    def embed(pos: Tensor) -> Tensor:  # (L,) -> (L, half)
        ang = pos[:, None] * inv_freq[None, :]
        return torch.stack([ang.sin(), ang.cos()], dim=-1).flatten(-2)

    emb_y = embed(ys)[:, None, :].expand(height, width, half)
    emb_x = embed(xs)[None, :, :].expand(height, width, half)
    return torch.cat([emb_y, emb_x], dim=-1).to(dtype)


class CrossAttention(nn.Module):
    """Pre-norm multi-head attention with a residual connection (Cutie's attention layers).

    ``x' = x + MHA(q = LN(x) + pe_x, k = mem + pe_mem, v = mem)``; for self-attention pass
    ``mem=None`` (then ``mem = LN(x)``). Positional encodings are added to queries and keys,
    never to values (Cutie: add_pe_to_qkv = [True, True, False]).

    Args:
        dim: token width; num_heads: attention heads.
    Shapes: x (M, Lq, dim), mem (M, Lk, dim) -> (M, Lq, dim).
    """

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, num_heads, batch_first=True)

    def forward(self, x: Tensor, mem: Optional[Tensor] = None, x_pe: Optional[Tensor] = None, mem_pe: Optional[Tensor] = None) -> Tensor:
        r = x
        x = self.norm(x)
        if mem is None:
            mem, mem_pe = x, x_pe
        q = x if x_pe is None else x + x_pe
        k = mem if mem_pe is None else mem + mem_pe
        out, _ = self.attn(q, k, mem, need_weights=False)
        return r + out


class FFN(nn.Module):
    """Pre-norm feed-forward block with residual: ``x + W2 relu(W1 LN(x))`` (M, L, dim) -> same."""

    def __init__(self, dim: int, ff_dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.linear1 = nn.Linear(dim, ff_dim)
        self.linear2 = nn.Linear(ff_dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.linear2(F.relu(self.linear1(self.norm(x))))


def aggregate_probabilities(prob: Tensor, dim: int = 1) -> Tensor:
    """Soft aggregation of per-object probabilities (Cutie / STM; DESIGN 3).

    Background ``p_bg = prod_i (1 - p_i)``; the (1+N) probabilities are clamped to
    [1e-7, 1 - 1e-7] and turned into logits ``log(p / (1 - p))``; a softmax over ``dim`` of the
    result is the aggregated distribution.

    Args:
        prob: per-object foreground probabilities, N on axis ``dim`` (e.g. (B, N, H, W)).
    Returns:
        logits with 1+N entries on ``dim`` (background first), same dtype as ``prob``.
    """
    bg = torch.prod(1 - prob, dim=dim, keepdim=True)
    p = torch.cat([bg, prob], dim=dim).clamp(1e-7, 1 - 1e-7)
    return torch.log(p / (1 - p))
