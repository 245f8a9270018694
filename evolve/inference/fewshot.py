"""Few-shot motion VOS at test time: support clips in, a label map per query frame out.

- :func:`segment_episode`: DMA over the whole query video in chunks (:func:`~evolve.data.episodes.query_chunks`):
  the support prototypes are computed once, each chunk is segmented for every way, the
  presence logits are averaged over the chunks (as the MOVE authors' inference), and the ways
  are merged per pixel (:func:`~evolve.model.dma.network.merge_ways`).
- :func:`propagate_from_seed` (long queries): the DMA prediction of the first chunk of
  consecutive frames seeds EVOLVE's streaming memory (:class:`~evolve.inference.inference_core.InferenceCore`),
  which propagates the present ways through the rest of the video; object ``n + 1`` is way
  ``n``, so identities are kept beyond DMA's chunk-wise processing (docs/fewshot.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from evolve.data.episodes import Episode, query_chunks
from evolve.inference.inference_core import InferenceCore
from evolve.model.dma.config import PRESENCE
from evolve.model.dma.network import DMA, merge_ways
from evolve.utils.errors import InputError


@dataclass
class FewShotInferenceConfig:
    """Test-time settings.

    Attributes:
        chunk: query frames per DMA forward pass.
        chunk_mode: ``interleaved`` (each chunk spans the video at the support clips' stride) or
            ``consecutive`` (runs of frames, MOVE's test chunks).
        background: the constant background score of the merge (0.5).
        propagate: seed EVOLVE's memory with DMA's prediction of the first ``chunk`` consecutive
            frames and let it propagate the rest (needs an EVOLVE network).
        presence: ``proposal`` (the paper's presence score: query prototype pooled under the
            class-agnostic proposal) or ``way_masks`` (ours: pooled under each way's predicted
            mask, :meth:`~evolve.model.dma.network.DMA.segment_query`; docs/fewshot.md);
            None = the network's ``DMAConfig.presence`` (what it was trained with).
    """

    chunk: int = 5
    chunk_mode: str = "interleaved"
    background: float = 0.5
    propagate: bool = False
    presence: Optional[str] = None

    def validate(self) -> "FewShotInferenceConfig":
        """Raises InputError for a bad value; returns self."""
        if self.chunk < 2:
            raise InputError(None, f"chunk={self.chunk}", "use chunks of at least 2 frames (motion tokens need frame differences)")
        if self.chunk_mode not in ("interleaved", "consecutive"):
            raise InputError(None, f"chunk_mode={self.chunk_mode!r}", "use interleaved or consecutive")
        if not 0.0 <= self.background <= 1.0:
            raise InputError(None, f"background={self.background}", "use a score in [0, 1]")
        if self.presence is not None and self.presence not in PRESENCE:
            raise InputError(None, f"presence={self.presence!r}", f"use one of {list(PRESENCE)}")
        return self


@dataclass
class FewShotPrediction:
    """One episode's prediction.

    Attributes:
        labels: int64 (T, H, W): 0 background, ``n + 1`` way n.
        cls_logits: float32 (N,) presence logits (mean over chunks).
        proposal: float32 (T, H, W) class-agnostic proposal probabilities (the support-blind
            output of the same network).
        mask_prob: float32 (N, T, H, W) per-way mask probabilities.
    """

    labels: Tensor
    cls_logits: Tensor
    proposal: Tensor
    mask_prob: Tensor


@torch.no_grad()
def _dma_chunks(network: DMA, ep: Episode, chunks: list[list[int]], device: torch.device,
                presence: str = "proposal") -> tuple[Tensor, Tensor, Tensor]:
    """Mask logits (N, T, H, W), mean presence logits (N,), proposal probabilities (T, H, W)."""
    n = ep.support_rgb.shape[0]
    T, H, W = ep.query_rgb.shape[0], *ep.query_rgb.shape[-2:]
    events = network.events
    support = network.support_prototypes(ep.support_rgb[None].to(device), ep.support_voxel[None].to(device) if events else None,
                                          ep.support_masks[None].to(device))
    masks = torch.zeros(n, T, H, W)
    proposal = torch.zeros(T, H, W)
    cls = []
    for frames in chunks:
        idx = torch.tensor(frames)
        rgb = ep.query_rgb[idx][None].to(device)
        vox = ep.query_voxel[idx][None].to(device) if events else None
        out = network.segment_query(rgb, vox, support, n, presence=presence)
        ml = F.interpolate(out["mask_logits"][0].float(), size=(H, W), mode="bilinear", align_corners=False).cpu()  # (N, Tc, H, W)
        masks[:, idx] = ml
        pl = F.interpolate(out["proposal_logits"][0][:, None].float(), size=(H, W), mode="bilinear", align_corners=False)[:, 0]
        proposal[idx] = pl.sigmoid().cpu()
        cls.append(out["cls_logits"][0].float().cpu())
    return masks, torch.stack(cls).mean(0), proposal


def segment_episode(network: DMA, ep: Episode, config: FewShotInferenceConfig, device: torch.device | str = "cpu",
                    propagator: Optional[InferenceCore] = None) -> FewShotPrediction:
    """Predict one episode with DMA (and EVOLVE propagation when ``config.propagate``).

    Args:
        network: a DMA in eval mode on ``device``.
        ep: the loaded episode (its query masks are not read).
        config: chunking and merge settings.
        device: where the network runs.
        propagator: an :class:`InferenceCore` with an EVOLVE network (``config.propagate``).

    Raises:
        InputError: ``propagate`` without a propagator.
    """
    config.validate()
    device = torch.device(device)
    presence = config.presence or network.config.presence
    T = ep.query_rgb.shape[0]
    if config.propagate:
        if propagator is None:
            raise InputError(None, "propagate=true but no EVOLVE network was given", "pass evolve_weights= (and evolve_model=) or propagate=false")
        seed = list(range(min(config.chunk, T)))
        masks, cls, proposal = _dma_chunks(network, ep, [seed], device, presence)
        seed_labels = merge_ways(masks[:, : len(seed)], cls, background=config.background)
        labels = propagate_from_seed(propagator, ep.query_rgb, ep.query_voxel, seed_labels, masks.shape[0])
        return FewShotPrediction(labels, cls, proposal, masks.sigmoid())
    chunks = query_chunks(T, config.chunk, config.chunk_mode)
    masks, cls, proposal = _dma_chunks(network, ep, chunks, device, presence)
    labels = merge_ways(masks, cls, background=config.background)
    return FewShotPrediction(labels, cls, proposal, masks.sigmoid())


@torch.no_grad()
def propagate_from_seed(core: InferenceCore, rgb: Tensor, voxel: Tensor, seed_labels: Tensor, ways: int) -> Tensor:
    """Propagate a seed prediction of the first frames through a video with EVOLVE's memory.

    Args:
        core: an :class:`InferenceCore` (reset here).
        rgb: float32 (T, 3, H, W) in [0, 1]. voxel: float32 (T, B, H, W).
        seed_labels: int64 (Ts, H, W) labels (0 background, ``n + 1`` way n) of frames 0..Ts-1.
        ways: N.

    Returns:
        int64 (T, H, W): the seed labels on frames 0..Ts-1, EVOLVE's prediction after them.
        Ways never labelled in the seed are absent everywhere.
    """
    core.reset()
    T = rgb.shape[0]
    ts = seed_labels.shape[0]
    out = torch.zeros(T, *rgb.shape[-2:], dtype=torch.int64)
    out[:ts] = seed_labels
    seen: set[int] = set()
    for t in range(T):
        vox = voxel[t] if core.network.events else None
        if t < ts:
            ids = [int(v) for v in torch.unique(seed_labels[t]).tolist() if v != 0]
            if ids:
                seen.update(ids)
                core.step(rgb[t], vox, mask=seed_labels[t], objects=ids, end=(t == T - 1))
            elif seen:
                core.step(rgb[t], vox, end=(t == T - 1))
            continue
        if not seen:
            break  # nothing to propagate: every later frame is background
        prob = core.step(rgb[t], vox, end=(t == T - 1))
        ids = torch.tensor([0] + list(core.object_ids))
        out[t] = ids[prob.argmax(0).cpu()]
    return out


def support_blind_labels(foreground: Tensor, ways: int, rng: np.random.Generator) -> Tensor:
    """A support-blind baseline's labels: every foreground pixel goes to one way drawn at random.

    Args:
        foreground: bool (T, H, W) (e.g. every moving object, or a class-agnostic proposal > 0.5).
        ways: N.
        rng: the episode's generator (the draw is part of the baseline).

    Returns:
        int64 (T, H, W).
    """
    way = int(rng.integers(ways))
    return foreground.to(torch.int64) * (way + 1)
