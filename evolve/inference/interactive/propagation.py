"""Propagation backends of an interactive session: the EVOLVE memory or GLTM's transfer network.

Both run one *pass*: from the frame just annotated (``start``) frame by frame in one direction
up to, not including, ``stop`` (the nearest earlier annotated frame on that side, or -1 / T),
and hand each frame's (1+N, H, W) distribution to a callback, which may stop the pass.

- :class:`EvolvePropagator`: the streaming memory core (:class:`~evolve.inference.inference_core.InferenceCore`)
  with every annotated frame's mask written as a **permanent** memory frame (never evicted by
  the FIFO), the pass's start frame last (its mask is the "previous mask" of the first step),
  then the usual streaming memory policy (a memory frame every ``mem_every`` frames, FIFO of
  ``max_mem_frames - 1`` working frames next to the permanent ones). Events on or off as the
  network is.
- :class:`GLTMPropagator`: GLTM's T-Net: global transfer from every annotated frame (key +
  that round's indicator feature per object), local transfer from the previous frame of the
  pass (features and the predicted mask).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace
from typing import Callable, Optional, Protocol, Sequence

import torch
from torch import Tensor

from evolve.data.scribbles import Stroke
from evolve.inference.config import InferenceConfig
from evolve.inference.inference_core import InferenceCore
from evolve.inference.interactive.frames import FrameSource
from evolve.inference.interactive.interactor import to_distribution

#: ``callback(frame, probs (1+N, H, W)) -> keep going``.
FrameCallback = Callable[[int, Tensor], bool]


@dataclass
class Annotation:
    """An annotated (interacted) frame.

    Attributes:
        frame: its index.
        probs: float32 (1+N, H, W) distribution after the interaction (background first,
            channel k+1 = the session's k-th object).
        strokes: the strokes that made it.
        indicators: per object id, the interaction network's (C_z, h, w) indicator feature.
    """

    frame: int
    probs: Tensor
    strokes: list[Stroke] = field(default_factory=list)
    indicators: dict[int, Tensor] = field(default_factory=dict)


class Propagator(Protocol):
    """A propagation backend (module docstring)."""

    def reset(self) -> None:
        """Forget everything cached for the current video."""
        ...

    def propagate(
        self, frames: FrameSource, annotations: Sequence[Annotation], object_ids: Sequence[int],
        start: int, stop: int, callback: FrameCallback,
    ) -> None:
        """Run one pass from ``start`` (an annotated frame) towards ``stop`` (exclusive; the step
        is +1 when ``stop > start``, else -1), calling ``callback`` on every frame in between."""
        ...


def _ids(probs: Tensor, object_ids: Sequence[int]) -> Tensor:
    """(1+N, H, W) distribution -> (H, W) int64 ids (argmax)."""
    lut = torch.tensor([0] + [int(o) for o in object_ids], dtype=torch.int64)
    return lut[probs.argmax(0)]


class EvolvePropagator:
    """Propagation with the EVOLVE memory (module docstring).

    Args:
        network: an EVOLVE network in eval mode on ``device`` (events on or off).
        config: the memory policy; ``max_mem_frames`` counts the working frames plus one, the
            permanent annotated frames come on top.
        device: where frames are processed.
    """

    def __init__(self, network, config: Optional[InferenceConfig] = None, device: torch.device | str = "cpu") -> None:
        self.network = network
        self.config = (config or InferenceConfig()).validate()
        self.device = torch.device(device)
        self._seeded: Optional[tuple] = None  # (key, core state) of the last seeding

    def reset(self) -> None:
        """Forget the cached seeded memory."""
        self._seeded = None

    def _seed(self, frames: FrameSource, annotations: Sequence[Annotation], object_ids: Sequence[int], start: int) -> InferenceCore:
        """A core whose memory holds every annotated frame (permanent), ``start`` last."""
        key = (start, tuple(a.frame for a in annotations), tuple(id(a.probs) for a in annotations), tuple(object_ids))
        cfg = replace(self.config, max_mem_frames=self.config.max_mem_frames - 1 + len(annotations))
        core = InferenceCore(self.network, cfg, self.device)
        if self._seeded is not None and self._seeded[0] == key:
            _restore(core, self._seeded[1])
            return core
        ordered = sorted(annotations, key=lambda a: (a.frame == start, -abs(a.frame - start)))
        for ann in ordered:
            ids = _ids(ann.probs, object_ids)
            present = [int(o) for o in object_ids if bool((ids == o).any())]
            rgb, voxel = frames.frame(ann.frame)
            if present:
                core.memory.write_next_as_permanent()
                core.step(rgb, voxel, mask=ids, objects=present)
        self._seeded = (key, _snapshot(core))
        return core

    @torch.no_grad()
    def propagate(self, frames, annotations, object_ids, start, stop, callback) -> None:
        """See :class:`Propagator`."""
        core = self._seed(frames, annotations, object_ids, start)
        step = 1 if stop > start else -1
        order = list(range(start + step, stop, step))
        for i, t in enumerate(order):
            rgb, voxel = frames.frame(t)
            prob = core.step(rgb, voxel, end=(i == len(order) - 1)).cpu()  # (1 + N_core, H, W)
            out = torch.zeros(1 + len(object_ids), *prob.shape[-2:])
            out[0] = prob[0]
            for c, obj in enumerate(core.object_ids):
                out[1 + list(object_ids).index(obj)] = prob[1 + c]
            if not core.object_ids:
                out[0] = 1.0
            if not callback(t, out):
                return


def _snapshot(core: InferenceCore) -> tuple:
    """The per-video state of a core (memory, objects, counters), deep-copied."""
    return copy.deepcopy((core.memory, core.objects, core.curr_ti, core.last_mem_ti, core.last_mask, core._size))


def _restore(core: InferenceCore, state: tuple) -> None:
    core.memory, core.objects, core.curr_ti, core.last_mem_ti, core.last_mask, core._size = copy.deepcopy(state)


class GLTMPropagator:
    """Propagation with GLTM's transfer network (module docstring).

    Args:
        network: a :class:`~evolve.model.gltm.network.GLTM` in eval mode on ``device``.
        device: where frames are processed.
    """

    def __init__(self, network, device: torch.device | str = "cpu") -> None:
        self.network = network
        self.device = torch.device(device)
        self._keys: dict[int, Tensor] = {}

    def reset(self) -> None:
        """Forget the cached keys of annotated frames."""
        self._keys = {}

    def _encode(self, frames: FrameSource, t: int):
        rgb, voxel = frames.frame(t)
        vox = voxel.to(self.device)[None] if (voxel is not None and self.network.events) else None
        return self.network.tnet.encode(rgb.to(self.device)[None], vox)

    @torch.no_grad()
    def propagate(self, frames, annotations, object_ids, start, stop, callback) -> None:
        """See :class:`Propagator`."""
        n = len(object_ids)
        if n == 0:
            return
        for ann in annotations:
            if ann.frame not in self._keys:
                self._keys[ann.frame] = self._encode(frames, ann.frame).key
        keys = [self._keys[a.frame].expand(n, -1, -1, -1) for a in annotations]
        inds = []
        for a in annotations:
            some = next(iter(a.indicators.values()), None)
            z = []
            for obj in object_ids:
                v = a.indicators.get(int(obj))
                z.append(v if v is not None else (torch.zeros_like(some) if some is not None else None))
            if any(v is None for v in z):
                raise ValueError(f"annotation of frame {a.frame} has no indicator features (GLTM needs its A-Net's)")
            inds.append(torch.stack(z).to(self.device))
        start_ann = next(a for a in annotations if a.frame == start)
        prev_mask = start_ann.probs[1:].to(self.device)[:, None]  # (N, 1, H, W)
        prev_local = self._encode(frames, start).local.expand(n, -1, -1, -1)
        step = 1 if stop > start else -1
        for t in range(start + step, stop, step):
            feats = self._encode(frames, t)
            logits, _ = self.network.tnet(feats.expand(n), keys, inds, prev_local, prev_mask)
            dist = to_distribution(torch.sigmoid(logits[:, 0]).cpu())
            prev_mask = dist[1:].to(self.device)[:, None]
            prev_local = feats.local.expand(n, -1, -1, -1)
            if not callback(t, dist):
                return
