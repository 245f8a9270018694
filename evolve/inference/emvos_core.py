"""Streaming semi-supervised VOS with EMVOS: the first frame (with its given mask) is the global
reference, the previous frame (with its soft-aggregated prediction) the local reference; no
memory bank (Cho et al. 2022, arXiv 2209.03139; docs/emvos.md).

Objects given on a later frame become a new group whose global reference is that frame (as the
authors' code). Frames are reflect-padded to a multiple of 16 (the authors' padding).
Of :class:`~evolve.inference.config.InferenceConfig` only ``max_internal_size`` and ``amp`` apply
(EMVOS has no memory to schedule).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from evolve.data.video_reader import resized_size
from evolve.inference.checks import check_step_inputs
from evolve.inference.config import InferenceConfig
from evolve.inference.object_manager import ObjectManager
from evolve.inference.padding import prepare_step_inputs, unpad
from evolve.model.emvos.network import EMVOS, Reference, aggregate_objects, pool_mask
from evolve.utils.errors import InputError


@dataclass
class _Group:
    """Objects given together (one global reference frame)."""

    objects: list[int]  # 0-based object indices
    global_ref: Reference  # fg (1, N_g, L)


class EMVOSInferenceCore:
    """Streaming inference with :class:`~evolve.model.emvos.network.EMVOS`, batch size 1; the
    interface of :class:`~evolve.inference.inference_core.InferenceCore`
    (:class:`~evolve.inference.cores.StreamingCore`).

    Args:
        network: the EMVOS network on ``device`` (eval mode).
        config: :class:`InferenceConfig` (``max_internal_size`` and ``amp`` are used).
        device: where frames are processed.

    Raises:
        InputError: a network on another device.
    """

    def __init__(self, network: EMVOS, config: Optional[InferenceConfig] = None, device: torch.device | str = "cpu") -> None:
        self.network = network
        self.config = (config or InferenceConfig()).validate()
        self.device = torch.device(device)
        param = next(network.parameters())
        if param.device.type != self.device.type or (self.device.index is not None and param.device.index != self.device.index):
            raise InputError(None, f"the network is on {param.device} but the inference device is {self.device}", f"call network.to({str(self.device)!r}) first")
        self.reset()

    def reset(self) -> None:
        """Forget the current video."""
        self.objects = ObjectManager()
        self.groups: list[_Group] = []
        self.local: Optional[Reference] = None  # previous frame: keys (1, Ck, L), fg (1, N, L)
        self.last_prob: Optional[Tensor] = None  # (1+N, H', W') padded internal size
        self.curr_ti = -1
        self._size: Optional[tuple[int, int]] = None

    @property
    def object_ids(self) -> list[int]:
        """Object ids in output-channel order (channel k+1 of ``step``'s output is object_ids[k])."""
        return self.objects.object_ids

    def prob_to_mask(self, prob: Tensor) -> Tensor:
        """(1+N, H, W) probabilities -> (H, W) int64 object-id mask."""
        return self.objects.prob_to_mask(prob)

    @torch.no_grad()
    def step(self, frame: Tensor, voxel_grid: Optional[Tensor] = None, mask: Optional[Tensor] = None,
             objects: Optional[list[int]] = None, end: bool = False) -> Tensor:
        """Process the next frame of the video (arguments and output as
        :meth:`evolve.inference.inference_core.InferenceCore.step`).

        Returns:
            float32 (1+N, H, W) probabilities, background first; (1, H, W) of ones before any
            object exists.
        Raises:
            InputError: wrong shapes/dtypes, a size change within a video, a missing voxel grid,
                or ``objects`` naming ids absent from ``mask``.
        """
        net = self.network
        check_step_inputs(frame, voxel_grid, mask, self._size, net.config.event_bins if net.events else 0)
        self.curr_ti += 1
        height, width = frame.shape[-2:]
        self._size = (height, width)
        dev = self.device
        size = resized_size((height, width), self.config.max_internal_size)
        image, voxel, id_mask, pads = prepare_step_inputs(
            frame, voxel_grid if net.events else None, mask, size, dev, pad="reflect"
        )  # (1, 3, H', W'), (1, B, H', W') | None, (H', W') | None

        given_ids: list[int] = []
        if id_mask is not None:
            present = [int(v) for v in torch.unique(id_mask).tolist() if v != 0]
            given_ids = present if objects is None else [int(o) for o in objects]
            absent = [o for o in given_ids if o not in present]
            if absent:
                raise InputError(None, f"objects {absent} are not in the given mask (ids present: {present})", "list only ids that the mask contains (it may have been downscaled by max_internal_size)")

        amp_dtype = torch.float16 if dev.type == "cuda" else torch.bfloat16
        with torch.amp.autocast(device_type=dev.type, dtype=amp_dtype, enabled=self.config.amp):
            prob = self._step_internal(image, voxel, id_mask, given_ids, end)
        prob = unpad(prob, pads)
        if prob.shape[-2:] != (height, width):
            prob = F.interpolate(prob[None], size=(height, width), mode="bilinear", align_corners=False)[0]
        return prob.float()

    def _step_internal(self, image: Tensor, voxel: Optional[Tensor], id_mask: Optional[Tensor], given_ids: list[int], end: bool) -> Tensor:
        net = self.network
        feats = net.encode_frame(image, voxel)
        num_old = self.objects.num_objects
        covers_all = num_old > 0 and all(o in given_ids for o in self.objects.object_ids)
        hp, wp = image.shape[-2:]
        probs_old: Optional[Tensor] = None  # (N_old, H', W') aggregated object probabilities
        if self.curr_ti > 0 and num_old > 0 and self.local is not None and not covers_all:
            fg = torch.zeros(1, num_old, hp, wp, device=image.device)
            for group in self.groups:
                local = Reference(self.local.norm_key, self.local.key, self.local.fg[:, group.objects])
                logits = net.segment(feats, group.global_ref, local)  # (1, N_g, 2, H', W')
                fg[:, group.objects] = torch.softmax(logits.float(), dim=2)[:, :, 1]
            probs_old = aggregate_objects(fg)[0, 1:]
        elif num_old > 0 and self.last_prob is not None:
            probs_old = self.last_prob[1:]

        if id_mask is not None and given_ids:
            new_ids = self.objects.add(given_ids)
            n = self.objects.num_objects
            probs = torch.zeros(n, hp, wp, device=image.device)
            if probs_old is not None:
                probs[:num_old] = probs_old
            given_pixels = torch.isin(id_mask, torch.tensor(given_ids, device=id_mask.device))
            probs[:, given_pixels] = 0
            for obj in given_ids:
                probs[self.objects.index_of(obj)] = (id_mask == obj).float()
            if new_ids:
                idx = [self.objects.index_of(o) for o in new_ids]
                self.groups.append(_Group(idx, net.reference(feats, probs[idx][None])))
            out = torch.cat([(1 - probs.sum(0, keepdim=True)).clamp(0, 1), probs], dim=0)
        elif probs_old is not None:
            out = torch.cat([(1 - probs_old.sum(0, keepdim=True)).clamp(0, 1), probs_old], dim=0)
        else:
            return torch.ones(1, hp, wp, device=image.device)

        self.last_prob = out
        if not end:
            self.local = Reference(feats.norm_key.flatten(2), feats.key.flatten(2), pool_mask(out[1:][None]).flatten(2))
        return out
