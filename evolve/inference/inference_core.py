"""Streaming semi-supervised VOS with EVOLVE: one frame (and its voxel grid) in, probabilities out.

Memory policy (DESIGN 5, Cutie's defaults): a memory frame every ``mem_every`` frames and on
every frame with a given mask (never with ``end=True``); FIFO working memory of
``max_mem_frames`` frames per object bucket with the bucket's first frame permanent; top-k
readout; decoder sensory updates staggered over each memory window; the deep sensory update
on every memory frame; objects may appear on any frame (a given mask adds them and is merged
with the prediction of the others); optional long-term memory.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from evolve.data.video_reader import resized_size
from evolve.inference.checks import check_step_inputs
from evolve.inference.config import InferenceConfig
from evolve.inference.memory_manager import MemoryManager
from evolve.inference.object_manager import ObjectManager
from evolve.inference.padding import prepare_step_inputs, unpad
from evolve.model.evolve.network import EVOLVE
from evolve.utils.errors import InputError


def stagger_offsets(mem_every: int, stagger_updates: int) -> set[int]:
    """Frame offsets after the last memory frame (1 .. mem_every) at which the decoder updates
    the sensory memory: ``stagger_updates`` evenly spaced offsets (all of them when
    ``stagger_updates >= mem_every``)."""
    if stagger_updates >= mem_every:
        return set(range(1, mem_every + 1))
    return {int(v) for v in np.round(np.linspace(1, mem_every, stagger_updates))}


class InferenceCore:
    """Streaming inference over one video at a time (batch size 1).

    Args:
        network: an :class:`~evolve.model.evolve.network.EVOLVE` whose parameters live on ``device``
            (its train/eval mode does not change the output: BN is frozen and nothing drops out).
        config: :class:`InferenceConfig` (defaults = DESIGN 5).
        device: where frames are processed (``torch.device`` or string).

    Raises:
        InputError: an invalid config, or a network on another device.
    """

    def __init__(self, network: EVOLVE, config: Optional[InferenceConfig] = None, device: torch.device | str = "cpu") -> None:
        self.network = network
        self.config = (config or InferenceConfig()).validate()
        self.device = torch.device(device)
        param = next(network.parameters())
        if param.device.type != self.device.type or (self.device.index is not None and param.device.index != self.device.index):
            raise InputError(None, f"the network is on {param.device} but the inference device is {self.device}", f"call network.to({str(self.device)!r}) first")
        self.stagger = stagger_offsets(self.config.mem_every, self.config.stagger_updates)
        self.reset()

    def reset(self) -> None:
        """Forget the current video (memory, objects, frame counter)."""
        net = self.network
        q = net.config.object_transformer.num_queries
        self.objects = ObjectManager()
        self.memory = MemoryManager(self.config, net.events, net.config.sensory_dim, (q, net.config.embed_dim + 1),
                                    net.config.affinity_norm, net.config.bijective_k, net.config.equalized_scores)
        self.curr_ti = -1
        self.last_mem_ti = 0
        self.last_mask: Optional[Tensor] = None  # (1, N, H', W') padded internal size
        self._size: Optional[tuple[int, int]] = None

    @property
    def object_ids(self) -> list[int]:
        """Object ids in output-channel order: channel k+1 of ``step``'s output is object_ids[k]."""
        return self.objects.object_ids

    def prob_to_mask(self, prob: Tensor) -> Tensor:
        """(1+N, H, W) probabilities from :meth:`step` -> (H, W) int64 object-id mask."""
        return self.objects.prob_to_mask(prob)

    # ------------------------------------------------------------------ input handling
    def _check_inputs(self, frame: Tensor, voxel_grid: Optional[Tensor], mask: Optional[Tensor]) -> None:
        bins = self.network.config.event_bins if self.network.events else 0
        check_step_inputs(frame, voxel_grid, mask, self._size, bins)

    # ------------------------------------------------------------------ main entry
    @torch.no_grad()
    def step(
        self,
        frame: Tensor,
        voxel_grid: Optional[Tensor] = None,
        mask: Optional[Tensor] = None,
        objects: Optional[list[int]] = None,
        end: bool = False,
    ) -> Tensor:
        """Process the next frame of the video.

        Args:
            frame: float (3, H, W) RGB in [0, 1] (any device).
            voxel_grid: float (bins, H, W) voxel grid of the events ending at this frame (frame 0
                uses chunk 1's, DESIGN 2.3); required when events are on, ignored otherwise.
            mask: int64 (H, W) object ids (0 = background) given for this frame (frame 0; any
                later frame to add objects or correct them), or None.
            objects: ids in ``mask`` to use; None = every non-zero id of ``mask``. Ids not seen
                before become new objects; pixels of a listed id overwrite the prediction of
                the other objects there (mutual exclusivity, Cutie), a listed object is absent
                outside its given pixels, and elsewhere the prediction of the other objects is
                kept unchanged (the background takes the remaining probability). Pixels of ids not
                listed in ``objects`` count as unannotated.
            end: this is the last frame (no memory write, no sensory update).
        Returns:
            float32 (1+N, H, W) probabilities on the inference device, background first; channel
            k+1 is object ``object_ids[k]`` (N = objects known so far; (1, H, W) of ones before
            any object exists).
        Raises:
            InputError: wrong shapes/dtypes, a size change within a video, a missing voxel grid,
                or ``objects`` naming ids absent from ``mask``.
        """
        self._check_inputs(frame, voxel_grid, mask)
        self.curr_ti += 1
        height, width = frame.shape[-2:]
        self._size = (height, width)
        dev = self.device
        size = resized_size((height, width), self.config.max_internal_size)
        image, voxel, id_mask, pads = prepare_step_inputs(
            frame, voxel_grid if self.network.events else None, mask, size, dev
        )  # (1, 3, H', W'), (1, B, H', W') | None, (H', W') | None

        given_ids: list[int] = []
        if id_mask is not None:
            present = [int(v) for v in torch.unique(id_mask).tolist() if v != 0]
            given_ids = present if objects is None else [int(o) for o in objects]
            absent = [o for o in given_ids if o not in present]
            if absent:
                raise InputError(None, f"objects {absent} are not in the given mask (ids present: {present})", "list only ids that the mask contains (it may have been downscaled by max_internal_size)")

        amp = self.config.amp
        amp_dtype = torch.float16 if dev.type == "cuda" else torch.bfloat16
        with torch.amp.autocast(device_type=dev.type, dtype=amp_dtype, enabled=amp):
            prob = self._step_internal(image, voxel, id_mask, given_ids, end)  # (1+N, H', W')

        prob = unpad(prob, pads)
        if prob.shape[-2:] != (height, width):
            prob = F.interpolate(prob[None], size=(height, width), mode="bilinear", align_corners=False)[0]
        return prob.float()

    def _step_internal(self, image: Tensor, voxel: Optional[Tensor], id_mask: Optional[Tensor], given_ids: list[int], end: bool) -> Tensor:
        net = self.network
        cfg = self.config
        frame = net.encode_frame(image, voxel)
        feature_size = tuple(frame.key.shape[-2:])
        num_old = self.objects.num_objects
        covers_all = num_old > 0 and all(o in given_ids for o in self.objects.object_ids)
        need_segment = self.curr_ti > 0 and num_old > 0 and self.memory.has_memory and not covers_all
        update_sensory = (self.curr_ti - self.last_mem_ti) in self.stagger and not end

        pred: Optional[Tensor] = None  # (N_old, H', W') object probabilities
        if need_segment:
            assert self.last_mask is not None and self.memory.sensory is not None
            image_readout, event_readout, image_scores, event_scores = self.memory.read_all(frame)
            readout, _ = net.fuse_and_transform(
                frame, image_readout, event_readout, self.memory.obj_memory, self.memory.event_obj_memory, self.memory.sensory, self.last_mask,
                image_scores, event_scores,
            )
            sensory, _, prob = net.segment(frame, readout, self.memory.sensory, None, update_sensory)
            if update_sensory:
                self.memory.sensory = sensory.float()
            pred = prob[0, 1:]

        if id_mask is not None and given_ids:
            new_ids = self.objects.add(given_ids)
            self.memory.add_objects(len(new_ids), feature_size, image.device)  # type: ignore[arg-type]
            n = self.objects.num_objects
            hp, wp = id_mask.shape
            probs = torch.zeros(n, hp, wp, device=image.device)  # (N, H', W')
            if pred is not None:
                probs[:num_old] = pred
            elif self.last_mask is not None and num_old > 0:
                probs[:num_old] = self.last_mask[0]  # nothing predicted this frame: keep the last mask
            # mutual exclusivity: given pixels belong to the given objects; a given object is
            # nowhere outside its given mask; elsewhere the prediction stands and the background
            # takes the rest, so the output stays a distribution without re-aggregation
            given_pixels = torch.isin(id_mask, torch.tensor(given_ids, device=id_mask.device))  # (H', W')
            probs[:, given_pixels] = 0
            for obj in given_ids:
                probs[self.objects.index_of(obj)] = (id_mask == obj).float()
            out = torch.cat([(1 - probs.sum(0, keepdim=True)).clamp(0, 1), probs], dim=0)
        elif pred is not None:
            out = prob[0].float()
        else:
            hp, wp = image.shape[-2:]
            n = self.objects.num_objects
            if n == 0:
                return torch.ones(1, hp, wp, device=image.device)
            assert self.last_mask is not None
            objs = self.last_mask[0]
            out = torch.cat([(1 - objs.sum(0, keepdim=True)).clamp(0, 1), objs], dim=0)

        self.last_mask = out[1:].unsqueeze(0).float()  # (1, N, H', W')
        n = self.objects.num_objects
        given = id_mask is not None and bool(given_ids)
        is_mem_frame = n > 0 and not end and (self.curr_ti - self.last_mem_ti >= cfg.mem_every or given or not self.memory.has_memory)
        if is_mem_frame:
            assert self.memory.sensory is not None
            mem = net.encode_mask(image, frame, self.memory.sensory, self.last_mask, deep_update=True)
            self.memory.add_memory(frame, mem)
            self.last_mem_ti = self.curr_ti
        return out
