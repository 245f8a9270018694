"""Text prompts into the event-aware memory: detect the referred object with SgMg, then propagate
it with EVOLVE's streaming core (DESIGN 9; the decoupled recipe of DEVA, Cheng et al., ICCV 2023).

1. SgMg segments the expression on every frame (:func:`sgmg_per_frame`; clip by clip, the
   query with the highest mean score in each clip, SgMg's inference rule).
2. The key frame is the frame where that query's score is highest (among frames whose mask is
   not empty): :func:`choose_key_frame`.
3. Its thresholded mask seeds an :class:`~evolve.inference.inference_core.InferenceCore`, which
   runs forward from the key frame to the end, and, reset, on the reversed frame list from the
   key frame back to frame 0 (with the time-reversed voxel grids of reverse playback,
   :func:`evolve.data.voxel.frame_voxel_grid` ``reverse=True``): :func:`propagate_from_key`.

The per-frame SgMg output stays available next to the propagated one (:class:`ReferringResult`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from torch import Tensor

from evolve.inference.inference_core import InferenceCore
from evolve.model.sgmg.network import SgMg


@dataclass
class ReferringVideo:
    """The inputs of one video.

    Attributes:
        frames: float32 (T, 3, H, W) in [0, 1].
        voxels: float32 (T, bins, H, W) voxel grid of each frame in forward playback, or None.
        reverse_voxels: float32 (T, bins, H, W) voxel grid of each frame in reverse playback
            (the time-reversed grid of the events between frame i + 1 and frame i), or None.
    """

    frames: Tensor
    voxels: Optional[Tensor] = None
    reverse_voxels: Optional[Tensor] = None

    def __len__(self) -> int:
        return int(self.frames.shape[0])


@dataclass
class ReferringResult:
    """One expression on one video.

    Attributes:
        sgmg_prob: float32 (T, H, W) SgMg's per-frame foreground probability.
        scores: float32 (T,) SgMg's chosen query's score per frame.
        key_frame: the frame that seeded the memory, or None (no frame had a non-empty mask).
        propagated_prob: float32 (T, H, W) after propagation, or None when not asked for
            (all zeros when there was no key frame).
    """

    sgmg_prob: Tensor
    scores: Tensor
    key_frame: Optional[int]
    propagated_prob: Optional[Tensor] = None


@torch.no_grad()
def sgmg_per_frame(
    network: SgMg, video: ReferringVideo, text: str, clip_len: int = 36, device: torch.device | str = "cpu",
    cache: Optional[dict] = None,
) -> tuple[Tensor, Tensor]:
    """SgMg on every frame, ``clip_len`` frames at a time (SgMg's Ref-DAVIS inference uses 36).

    Args:
        cache: a dict kept for one video across its expressions: the backbone features of each
            clip are computed once and reused (they do not depend on the sentence).
    Returns:
        ``(prob (T, H, W), scores (T,))`` float32 on the CPU.
    """
    probs, scores = [], []
    use_events = network.events and video.voxels is not None
    for start in range(0, len(video), clip_len):
        rgb = video.frames[start : start + clip_len].to(device)
        vox = video.voxels[start : start + clip_len].to(device) if use_events else None
        visual = None
        if cache is not None:
            key = (start, clip_len)
            if key not in cache:
                x, v = network.pad_clip(rgb, vox)
                cache[key] = network.encode_visual(x, v)
            visual = cache[key]
        pred = network.predict(rgb, vox, text, visual)
        probs.append(pred.prob.cpu())
        scores.append(pred.scores.cpu())
    return torch.cat(probs), torch.cat(scores)


def choose_key_frame(prob: Tensor, scores: Tensor, threshold: float = 0.5) -> Optional[int]:
    """The frame with the highest score whose thresholded mask is not empty (ties: the
    earliest), or None when every mask is empty.

    Args:
        prob: (T, H, W) probabilities; scores: (T,).
    """
    nonempty = (prob >= threshold).flatten(1).any(1)  # (T,)
    if not bool(nonempty.any()):
        return None
    masked = torch.where(nonempty, scores.float(), torch.full_like(scores.float(), -float("inf")))
    return int(torch.argmax(masked))


class FrameFeatureCache:
    """An EVOLVE network whose ``encode_frame`` results are kept, for propagating several
    expressions through the same video: a frame's features (image and event encoders, keys,
    EDFT) do not depend on the object, so each (direction, frame) is encoded once.

    Use it as the network of an :class:`InferenceCore` and set :attr:`key` before every
    ``core.step`` (:func:`propagate_from_key` does); with ``key`` None nothing is cached.
    Every other attribute is the wrapped network's. Call :meth:`clear` for a new video.
    """

    def __init__(self, network) -> None:
        self._network = network
        self._store: dict = {}
        self.key = None

    def __getattr__(self, name: str):
        return getattr(self._network, name)

    def parameters(self, recurse: bool = True):
        """The wrapped network's parameters."""
        return self._network.parameters(recurse)

    def encode_frame(self, image: Tensor, voxel: Optional[Tensor] = None):
        """The wrapped ``encode_frame``, computed once per :attr:`key`."""
        if self.key is None:
            return self._network.encode_frame(image, voxel)
        if self.key not in self._store:
            self._store[self.key] = self._network.encode_frame(image, voxel)
        return self._store[self.key]

    def clear(self) -> None:
        """Forget the cached frames (a new video)."""
        self._store.clear()
        self.key = None


@torch.no_grad()
def propagate_from_key(core: InferenceCore, video: ReferringVideo, key: int, key_mask: Tensor) -> Tensor:
    """Propagate a key-frame mask forward and backward with the streaming memory.

    Args:
        core: an EVOLVE inference core (reset here before each direction).
        video: frames and voxel grids (both playback directions when the network has events).
        key: key frame index.
        key_mask: bool (H, W) mask on the key frame.
    Returns:
        float32 (T, H, W) object probability on every frame (the key frame's is its mask).
    Raises:
        InputError: from the core (e.g. events on and no voxel grids).
    """
    t = len(video)
    out = torch.zeros(t, *video.frames.shape[-2:])
    seed = key_mask.to(torch.int64)  # object id 1
    events = core.network.events
    for direction in (1, -1):
        order = list(range(key, t)) if direction == 1 else list(range(key, -1, -1))
        if direction == -1 and len(order) == 1:
            break
        grids = video.voxels if direction == 1 else video.reverse_voxels
        core.reset()
        for step, i in enumerate(order):
            voxel = grids[i] if (events and grids is not None) else None
            if isinstance(core.network, FrameFeatureCache):
                core.network.key = (direction, i)
            given = step == 0
            prob = core.step(video.frames[i], voxel, mask=seed if given else None, objects=[1] if given else None,
                             end=step == len(order) - 1)
            if direction == 1 or step > 0:
                out[i] = prob[1].cpu() if prob.shape[0] > 1 else 0.0
    return out


def detect_then_propagate(
    network: SgMg, video: ReferringVideo, text: str, core: Optional[InferenceCore] = None, threshold: float = 0.5,
    clip_len: int = 36, device: torch.device | str = "cpu",
) -> ReferringResult:
    """The whole recipe for one expression (module docstring).

    Args:
        network: SgMg (eval mode, on ``device``).
        video: the video's inputs.
        text: the expression.
        core: an EVOLVE core for propagation, or None (SgMg per frame only).
        threshold: mask threshold for the key frame's seed.
        clip_len: SgMg clip length.
    Returns:
        :class:`ReferringResult`.
    """
    prob, scores = sgmg_per_frame(network, video, text, clip_len, device)
    key = choose_key_frame(prob, scores, threshold)
    propagated = None
    if core is not None:
        if key is None:
            propagated = torch.zeros_like(prob)
        else:
            propagated = propagate_from_key(core, video, key, prob[key] >= threshold)
    return ReferringResult(sgmg_prob=prob, scores=scores, key_frame=key, propagated_prob=propagated)
