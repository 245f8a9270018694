"""All memory of one video during streaming inference (DESIGN 5).

- pixel memory: :class:`~evolve.inference.memory_store.MemoryBucket` per group of objects,
  image keys + event keys over the same EDFT-deformed values;
- sensory memory: (1, N, Cs, h, w), one GRU state per object;
- object memory: running sums of the image and event summaries, (1, N, 1, Q, C+1) each (the
  DMOT averages ``sum(sums) / sum(area)``, so a running sum is the streaming average).
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from evolve.inference.config import InferenceConfig
from evolve.inference.memory_store import MemoryBucket, TokenSet
from evolve.model.evolve.network import FrameFeatures, MaskMemory


class MemoryManager:
    """Owns the memory of one video (batch size 1).

    Args:
        config: :class:`InferenceConfig` (mem sizes, top_k, long-term settings).
        events: whether the network has events (event keys and event object memory are kept).
        sensory_dim: Cs; summary_shape: (Q, C+1) of an object summary.
        affinity_norm, bijective_k: the network's ``model.affinity_norm`` and ``model.bijective_k``
            (how every read normalises the affinity; docs/emvos.md).
        equalized_scores: keep the objects' stride-16 masks with the tokens and return EMVOS's
            equalized fg/bg scores from :meth:`read_all`.
    """

    def __init__(self, config: InferenceConfig, events: bool, sensory_dim: int, summary_shape: tuple[int, int],
                 affinity_norm: str = "memory_softmax", bijective_k: int = 4, equalized_scores: bool = False) -> None:
        self.config = config
        self.events = events
        self.affinity_norm = affinity_norm
        self.bijective_k = bijective_k
        self.equalized_scores = equalized_scores
        self.sensory_dim = sensory_dim
        self.summary_shape = summary_shape
        self.buckets: list[MemoryBucket] = []
        self._new_buckets: list[MemoryBucket] = []
        self.sensory: Optional[Tensor] = None  # (1, N, Cs, h, w)
        self.obj_memory: Optional[Tensor] = None  # (1, N, 1, Q, C+1)
        self.event_obj_memory: Optional[Tensor] = None

    @property
    def num_objects(self) -> int:
        """Objects with memory (N)."""
        return 0 if self.sensory is None else self.sensory.shape[1]

    @property
    def has_memory(self) -> bool:
        """Whether any bucket holds a memory frame."""
        return any(b.num_frames for b in self.buckets)

    def add_objects(self, count: int, feature_size: tuple[int, int], device: torch.device) -> None:
        """Add ``count`` objects (a new bucket; its next memory frame is permanent) with zero
        sensory and object memory."""
        if count <= 0:
            return
        n = self.num_objects
        bucket = MemoryBucket(list(range(n, n + count)))
        self.buckets.append(bucket)
        self._new_buckets.append(bucket)
        h, w = feature_size
        zeros_s = torch.zeros(1, count, self.sensory_dim, h, w, device=device)
        zeros_o = torch.zeros(1, count, 1, *self.summary_shape, device=device)
        self.sensory = zeros_s if self.sensory is None else torch.cat([self.sensory, zeros_s], dim=1)
        self.obj_memory = zeros_o if self.obj_memory is None else torch.cat([self.obj_memory, zeros_o], dim=1)
        if self.events:
            self.event_obj_memory = zeros_o.clone() if self.event_obj_memory is None else torch.cat([self.event_obj_memory, zeros_o], dim=1)

    def write_next_as_permanent(self) -> None:
        """Make the next :meth:`add_memory` write a permanent frame in every bucket (never evicted
        by the FIFO nor consolidated), as for the frame a bucket is created on. Interactive
        sessions use it for every annotated frame (docs/interactive.md)."""
        self._new_buckets = list(self.buckets)

    def read_all(self, frame: FrameFeatures) -> tuple[Tensor, Optional[Tensor], Optional[Tensor], Optional[Tensor]]:
        """Pixel readouts and (with ``equalized_scores``) the equalized fg/bg scores of every object.

        Returns:
            image readout (1, N, Cv, h, w), event readout (1, N, Cv, h, w) or None, image scores
            (1, N, 2, h, w) or None, event scores (1, N, 2, h, w) or None; float32. Objects of
            buckets without any memory frame read zeros.
        """
        h, w = frame.key.shape[-2:]
        qk = frame.key[0].flatten(1).float()
        qe = frame.selection[0].flatten(1).float()
        ek = es = None
        if self.events:
            assert frame.event_key is not None and frame.event_selection is not None
            ek = frame.event_key[0].flatten(1).float()
            es = frame.event_selection[0].flatten(1).float()
        cv = None
        parts: dict[str, dict[int, Tensor]] = {"image": {}, "event": {}, "image_scores": {}, "event_scores": {}}
        top_k = self.config.top_k if self.config.top_k is not None and self.config.top_k > 0 else None
        for bucket in self.buckets:
            if bucket.num_frames == 0 and bucket.long_term is None:
                continue
            out = bucket.read_all(qk, qe, ek, es, top_k, count_usage=self.config.use_long_term, gather=self.config.readout == "gather",
                                  affinity_norm=self.affinity_norm, bijective_k=self.bijective_k, scores=self.equalized_scores)
            cv = out.image.shape[1]
            for i, obj in enumerate(bucket.objects):
                for name in parts:
                    value = getattr(out, name)
                    if value is not None:
                        parts[name][obj] = value[i]
        if cv is None:
            raise RuntimeError("no memory to read: add a memory frame first")
        n = self.num_objects

        def stacked(name: str, channels: int, present: bool) -> Optional[Tensor]:
            if not present:
                return None
            zeros = torch.zeros(channels, h * w, device=qk.device)
            return torch.stack([parts[name].get(i, zeros) for i in range(n)]).view(1, n, channels, h, w)

        image = stacked("image", cv, True)
        assert image is not None
        return (image, stacked("event", cv, self.events), stacked("image_scores", 2, self.equalized_scores),
                stacked("event_scores", 2, self.events and self.equalized_scores))

    def add_memory(self, frame: FrameFeatures, memory: MaskMemory) -> None:
        """Write one memory frame for every object: pixel tokens per bucket (permanent for buckets
        created since the last write), sensory memory, object-memory sums; then trim the FIFO or
        consolidate into long-term memory."""
        key = frame.key[0].flatten(1).float()  # (Ck, M)
        shrinkage = frame.shrinkage[0].flatten(1).float()  # (1, M)
        selection = frame.selection[0].flatten(1).float()
        ek = es = esel = None
        if self.events:
            assert frame.event_key is not None and frame.event_shrinkage is not None and frame.event_selection is not None
            ek = frame.event_key[0].flatten(1).float()
            es = frame.event_shrinkage[0].flatten(1).float()
            esel = frame.event_selection[0].flatten(1).float()
        value = memory.value[0].flatten(2).float()  # (N, Cv, M)
        mask = None
        if self.equalized_scores:
            if memory.mask16 is None:
                raise ValueError("equalized_scores is on: the memory frame carries no mask16")
            mask = memory.mask16[0].flatten(1).float()  # (N, M)
        m = key.shape[1]
        cfg = self.config
        for bucket in self.buckets:
            tokens = TokenSet(
                key=key,
                shrinkage=shrinkage,
                selection=selection,
                value=value[bucket.objects],
                usage=torch.zeros(m, device=key.device),
                life=torch.zeros(m, device=key.device),
                event_key=ek,
                event_shrinkage=es,
                event_selection=esel,
                mask=None if mask is None else mask[bucket.objects],
            )
            bucket.add_frame(tokens, permanent=bucket in self._new_buckets)
            if cfg.use_long_term:
                lt = cfg.long_term
                bucket.consolidate(lt.max_mem_frames, lt.min_mem_frames, lt.num_prototypes, lt.max_num_tokens, lt.buffer_tokens)
            else:
                bucket.trim_fifo(cfg.max_mem_frames)
        self._new_buckets = []
        self.sensory = memory.sensory.float()
        assert self.obj_memory is not None
        self.obj_memory = self.obj_memory + memory.summary.float().unsqueeze(2)
        if self.events:
            assert self.event_obj_memory is not None and memory.event_summary is not None
            self.event_obj_memory = self.event_obj_memory + memory.event_summary.float().unsqueeze(2)
