"""GLTM's networks (Heo, Koh, Kim, "Interactive Video Object Segmentation Using Global and Local
Transfer Modules", ECCV 2020, section 3): the A-Net (:class:`~evolve.model.interaction.network.InteractionNet`)
and the transfer network T-Net.

T-Net, for a target frame t and the object's annotated frames A (all rounds so far):

- **global transfer** (section 3.2, Eq. 2-3): with K_a, K_t the stride-16 keys of frame a and
  frame t (C_k channels, M pixels each), ``W_a = softmax over TARGET positions (K_a^T K_t /
  sqrt(C_k)) / |A|`` (M_a x M_t) and ``G_t = sum_a Z_a W_a``: every annotated pixel spreads its
  indicator feature Z over the target with total weight 1/|A| (the 1/sqrt(C_k) temperature is
  ours; GLTM uses the raw dot product of 2048-d features);
- **local transfer** (section 3.3): stride-4 features of frame t and of the previous frame in
  the propagation direction are correlated over displacements d in {-D, -D+s, ..., D}^2 (GLTM:
  D = 8, s = 2, 81 displacements; correlation = channel mean of the product, FlowNet's),
  displacements falling outside the frame are excluded, ``w(p, .) = softmax over d`` and the
  prior ``L_t(p) = sum_d w(p, d) M_{t-1}(p + d)`` warps the previous mask (stride 4);
- **decoder**: ``conv1x1([f16_t, G_t])`` -> :class:`~evolve.model.interaction.blocks.MaskDecoder`
  with ``prior_weight * L_t`` added at stride 8 (downsampled) and stride 4.

Objects are the batch dimension (one row per object), as in GLTM.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from evolve.model.backbones import ResNetTrunk
from evolve.model.gltm.config import GLTMConfig
from evolve.model.interaction.blocks import MaskDecoder, pad_to_16, up
from evolve.model.interaction.network import InteractionNet

logger = logging.getLogger(__name__)


@dataclass
class TransferFeatures:
    """T-Net encoder outputs of one frame (batch B), on the frame padded to /16 (h = H'/16).

    Attributes:
        f16, f8, f4: trunk features (B, C16, h, w), (B, C8, 2h, 2w), (B, C4, 4h, 4w).
        key: (B, C_k, h, w) global-transfer key.
        local: (B, C_l, 4h, 4w) local-transfer feature.
        size: (H, W) of the frame before padding.
    """

    f16: Tensor
    f8: Tensor
    f4: Tensor
    key: Tensor
    local: Tensor
    size: tuple[int, int]

    def expand(self, n: int) -> "TransferFeatures":
        """The features of a batch-1 frame repeated for ``n`` objects (no copy)."""
        ex = lambda t: t.expand(n, *t.shape[1:])  # noqa: E731
        return TransferFeatures(ex(self.f16), ex(self.f8), ex(self.f4), ex(self.key), ex(self.local), self.size)


def global_transfer(anno_keys: Sequence[Tensor], target_key: Tensor, anno_indicators: Sequence[Tensor]) -> Tensor:
    """GLTM's global transfer (module docstring; "equalized": softmax over target positions).

    Args:
        anno_keys: |A| tensors (B, C_k, h, w): keys of the annotated frames.
        target_key: (B, C_k, h, w).
        anno_indicators: |A| tensors (B, C_z, h, w): indicator features of the annotated frames.
    Returns:
        (B, C_z, h, w) transferred indicator feature G_t.
    Raises:
        ValueError: no annotated frame, or list lengths differ.
    """
    if not anno_keys or len(anno_keys) != len(anno_indicators):
        raise ValueError("global_transfer needs one indicator per annotated key and at least one annotated frame")
    b, ck, h, w = target_key.shape
    n = len(anno_keys)
    q = target_key.reshape(b, ck, h * w)
    out = torch.zeros(b, anno_indicators[0].shape[1], h * w, dtype=q.dtype, device=q.device)
    for key, z in zip(anno_keys, anno_indicators):
        k = key.reshape(b, ck, -1)  # (B, C_k, M_a)
        sim = torch.bmm(k.transpose(1, 2), q) / ck**0.5  # (B, M_a, M_t)
        weights = torch.softmax(sim, dim=2) / n  # over TARGET positions
        out = out + torch.bmm(z.reshape(b, z.shape[1], -1), weights)  # (B, C_z, M_t)
    return out.view(b, -1, h, w)


def displacements(max_displacement: int, stride: int) -> list[tuple[int, int]]:
    """(dy, dx) pairs of the local transfer, row-major: ``range(-D, D + 1, stride)`` per axis."""
    r = range(-max_displacement, max_displacement + 1, stride)
    return [(dy, dx) for dy in r for dx in r]


def local_transfer(prev_feat: Tensor, target_feat: Tensor, prev_mask: Tensor, max_displacement: int = 8, stride: int = 2) -> tuple[Tensor, Tensor]:
    """GLTM's local transfer: warp the previous mask into a prior by a local feature correlation.

    Args:
        prev_feat, target_feat: (B, C, H, W) stride-4 features of the previous and the target frame.
        prev_mask: (B, 1, H, W) previous mask (probabilities) at the same stride.
        max_displacement, stride: displacement range and step in pixels of this grid.
    Returns:
        ``(prior, weights)``: (B, 1, H, W) and the softmax weights (B, D, H, W) over the D
        displacements of :func:`displacements` (0 for displacements leaving the frame).
    """
    b, c, h, w = target_feat.shape
    r = max_displacement
    padded_feat = F.pad(prev_feat, (r, r, r, r))
    padded_mask = F.pad(prev_mask, (r, r, r, r))
    inside = F.pad(torch.ones(1, 1, h, w, dtype=target_feat.dtype, device=target_feat.device), (r, r, r, r))
    scores, masks = [], []
    for dy, dx in displacements(max_displacement, stride):
        ys, xs = r + dy, r + dx
        shifted = padded_feat[:, :, ys : ys + h, xs : xs + w]
        valid = inside[:, :, ys : ys + h, xs : xs + w] > 0
        s = (shifted * target_feat).mean(dim=1, keepdim=True)
        scores.append(s.masked_fill(~valid, float("-inf")))
        masks.append(padded_mask[:, :, ys : ys + h, xs : xs + w])
    weights = torch.softmax(torch.cat(scores, dim=1), dim=1)  # (B, D, H, W); d = 0 is always valid
    prior = (weights * torch.cat(masks, dim=1)).sum(dim=1, keepdim=True)
    return prior, weights


class TransferNet(nn.Module):
    """GLTM's T-Net (module docstring).

    Args:
        config: :class:`GLTMConfig`.
    """

    def __init__(self, config: GLTMConfig) -> None:
        super().__init__()
        self.config = config
        self.events = config.events
        self.encoder = ResNetTrunk(config.backbone, 3 + (config.event_bins if config.events else 0))
        c16, c8, c4 = self.encoder.ms_dims
        self.key_proj = nn.Conv2d(c16, config.key_dim, 1)
        self.local_proj = nn.Conv2d(c4, config.local_dim, 1)
        self.fuse16 = nn.Conv2d(c16 + config.indicator_dim, c16, 1)
        self.decoder = MaskDecoder((c16, c8, c4), config.decoder_dim, config.prior_weight)
        self.register_buffer("pixel_mean", torch.tensor(config.pixel_mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("pixel_std", torch.tensor(config.pixel_std).view(1, 3, 1, 1), persistent=False)

    def encode(self, image: Tensor, voxel: Optional[Tensor] = None) -> TransferFeatures:
        """Encode frames.

        Args:
            image: (B, 3, H, W) RGB in [0, 1]; voxel: (B, bins, H, W) (events on) or None.
        Raises:
            ValueError: events on and no voxel grid.
        """
        h, w = image.shape[-2:]
        x = (image - self.pixel_mean.to(image.dtype)) / self.pixel_std.to(image.dtype)
        if self.events:
            if voxel is None:
                raise ValueError("GLTM has events on: pass the (B, bins, H, W) voxel grid")
            x = torch.cat([x, voxel], dim=1)
        x, _ = pad_to_16(x)
        f16, f8, f4 = self.encoder(x)
        return TransferFeatures(f16, f8, f4, self.key_proj(f16), self.local_proj(f4), (h, w))

    def forward(
        self, target: TransferFeatures, anno_keys: Sequence[Tensor], anno_indicators: Sequence[Tensor],
        prev_local: Tensor, prev_mask: Tensor,
    ) -> tuple[Tensor, Tensor]:
        """Segment the target frame for each object of the batch.

        Args:
            target: the target frame's features (batch B = objects; see :meth:`TransferFeatures.expand`).
            anno_keys, anno_indicators: per annotated frame, (B, C_k, h, w) keys and (B, C_z, h, w)
                indicator features.
            prev_local: (B, C_l, 4h, 4w) local feature of the previous frame (propagation order).
            prev_mask: (B, 1, H, W) previous mask probabilities at the frame size.
        Returns:
            ``(logits (B, 1, H, W), prior (B, 1, 4h, 4w))``.
        """
        g = global_transfer(anno_keys, target.key, anno_indicators)
        f16 = self.fuse16(torch.cat([target.f16, g], dim=1))
        h4, w4 = target.local.shape[-2:]
        mask4 = F.interpolate(F.pad(prev_mask, (0, 4 * w4 - prev_mask.shape[-1], 0, 4 * h4 - prev_mask.shape[-2])), size=(h4, w4), mode="area")
        prior, _ = local_transfer(prev_local, target.local, mask4, self.config.max_displacement, self.config.displacement_stride)
        logits4, _ = self.decoder(f16, target.f8, target.f4, prior)
        h, w = target.size
        return up(logits4, (4 * h4, 4 * w4))[..., :h, :w], prior


class GLTM(nn.Module):
    """GLTM: ``anet`` (interaction network) and ``tnet`` (transfer network).

    Args:
        config: :class:`GLTMConfig`; with ``anet_weights`` the A-Net starts from an interaction
            network's weights file.
    Raises:
        InputError: ``anet_weights`` unreadable or of another network/size.
    """

    def __init__(self, config: GLTMConfig) -> None:
        super().__init__()
        self.config = config
        self.events = config.events
        self.anet = InteractionNet(config.interaction_config())
        self.tnet = TransferNet(config)
        if config.pretrained_backbone:
            self.tnet.encoder.load_imagenet(config.pretrained_backbone, "mean")
        if config.anet_weights:
            from evolve.model.weights import load_weights_from, read_weights_file

            report = load_weights_from(self.anet, read_weights_file(config.anet_weights), config.anet_weights, exact=True,
                                       fix="give weights of an interaction network with the same backbone, decoder_dim, indicator_dim and events")
            logger.info("GLTM A-Net <- %s (%s)", config.anet_weights, report)
