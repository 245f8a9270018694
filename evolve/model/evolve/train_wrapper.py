"""The training unroll of a clip (Cutie's train wrapper as EVOLVE used it; DESIGN 3, cutie.md 3.4).

Encode all T frames at once; write frame 0's ground truth into memory (zero sensory memory,
deep update); for t = 1 .. T-1 read the memory (all earlier memory frames while
t <= num_ref_frames, else frame 0 plus a random subset of num_ref_frames - 1 earlier frames,
drawn per clip), segment, and, except on the last frame, write the *predicted* soft mask back
as memory (deep sensory update with probability ``deep_update_prob``). Object memory always
holds every earlier frame (its summaries are averaged).

AMP: call it inside ``torch.amp.autocast(device_type=..., dtype=...)``; keys, affinity and
readout, the GRU updates, the summaries and the final logits run in float32 islands.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from evolve.model.clip_batch import read_clip_batch
from evolve.model.evolve.network import EVOLVE


class TrainWrapper(nn.Module):
    """Unrolls a training clip through :class:`~evolve.model.evolve.network.EVOLVE`.

    Args:
        network: the EVOLVE network (its parameters are this module's, under ``network.``).
        num_ref_frames: memory frames read per step once there are more (main training 3,
            pre-training 2); frame 0 is always one of them.
        deep_update_prob: probability of the deep sensory update at each memory write after
            frame 0 (0.2); the frame-0 write always deep-updates.

    Random draws (reference subsets, deep updates) use torch's global generator, so seeding torch
    makes a step reproducible.

    Raises:
        ValueError: ``num_ref_frames < 1`` or ``deep_update_prob`` outside [0, 1].
    """

    def __init__(self, network: EVOLVE, num_ref_frames: int = 3, deep_update_prob: float = 0.2) -> None:
        super().__init__()
        if num_ref_frames < 1:
            raise ValueError(f"num_ref_frames must be >= 1, got {num_ref_frames}")
        if not 0.0 <= deep_update_prob <= 1.0:
            raise ValueError(f"deep_update_prob must be in [0, 1], got {deep_update_prob}")
        self.network = network
        self.num_ref_frames = num_ref_frames
        self.deep_update_prob = deep_update_prob

    def _reference_indices(self, t: int, batch: int, device: torch.device) -> Tensor:
        """Memory frames read at step t: (B, R) indices into frames 0 .. t-1."""
        if t <= self.num_ref_frames:
            return torch.arange(t, device=device).expand(batch, t)
        rows = []
        for _ in range(batch):
            rest = torch.randperm(t - 1)[: self.num_ref_frames - 1] + 1  # frames 1 .. t-1
            rows.append(torch.cat([torch.zeros(1, dtype=torch.long), rest.sort().values]))
        return torch.stack(rows).to(device)

    def forward(self, batch: dict[str, Any]) -> dict[str, Any]:
        """Unroll one batch of clips.

        Args:
            batch: the "Training clips" dict of docs/architecture.md:
                ``rgb`` float (B, T, 3, H, W) in [0, 1]; ``voxel`` float (B, T, bins, H, W)
                (needed when events are on); ``first_frame_gt`` float (B, 1, N_max, H, W);
                ``selector`` float (B, N_max); ``cls_gt`` (used by the loss only); ``info``
                (list of dicts with ``num_objects``; without it the counts are read from the
                selector). H, W multiples of 16. Objects are trimmed to the largest count in the batch.
        Returns:
            dict with
            ``logits`` float32 (B, T-1, 1+N, H, W) aggregated logits of frames 1..T-1;
            ``masks`` float32 (B, T-1, N, H, W) object probabilities;
            ``sensory_logits`` float32 (B, T-1, 1+N, H/16, W/16);
            ``q_logits`` list (4 levels) of float32 (B, T-1, 1+N, H/16, W/16);
            ``num_objects`` list[int] real objects per clip; ``selector`` (B, N).
        Raises:
            ValueError: T < 2, a clip without objects, or missing voxel grids.
        """
        net = self.network
        rgb = batch["rgb"]
        clip = read_clip_batch(batch, net.events)
        b, seq_len, num_objects, selector, voxel = clip.batch_size, clip.seq_len, clip.num_objects, clip.selector, clip.voxel
        n = max(num_objects)  # selector: (B, N); voxel: (B, T, C, H, W) | None
        first_gt = batch["first_frame_gt"][:, 0, :n].float()  # (B, N, H, W)

        # deep sensory updates after frame 0: drawn for the whole clip at once, one read of a CPU tensor
        deep_updates = (torch.rand(seq_len) < self.deep_update_prob).tolist()
        frames = net.encode_frame(rgb.flatten(0, 1), None if voxel is None else voxel.flatten(0, 1))
        h, w = frames.key.shape[-2:]

        def frame_at(t: int):
            return frames.at_time(b, seq_len, t)

        # memory tensors, time on dim 2 for keys and dim 3 for values
        keys = frames.key.view(b, seq_len, *frames.key.shape[1:]).transpose(1, 2)  # (B, Ck, T, h, w)
        shrinkages = frames.shrinkage.view(b, seq_len, 1, h, w).transpose(1, 2)  # (B, 1, T, h, w)
        event_keys = event_shrinkages = None
        if net.events:
            assert frames.event_key is not None and frames.event_shrinkage is not None
            event_keys = frames.event_key.view(b, seq_len, *frames.event_key.shape[1:]).transpose(1, 2)
            event_shrinkages = frames.event_shrinkage.view(b, seq_len, 1, h, w).transpose(1, 2)

        sensory = torch.zeros(b, n, net.config.sensory_dim, h, w, device=rgb.device)
        mem = net.encode_mask(rgb[:, 0], frame_at(0), sensory, first_gt, deep_update=True)
        sensory = mem.sensory
        values = [mem.value]  # each (B, N, Cv, h, w)
        summaries = [mem.summary]  # each (B, N, Q, C+1)
        event_summaries = [mem.event_summary]
        masks16 = [mem.mask16]  # each (B, N, h, w): memory masks of equalized_scores
        masks = first_gt

        out_logits, out_masks, out_sensory, out_q = [], [], [], []
        batch_index = torch.arange(b, device=rgb.device)[:, None]
        for t in range(1, seq_len):
            ref = self._reference_indices(t, b, rgb.device)  # (B, R)
            ref_value = torch.stack(values, dim=1)[batch_index, ref]  # (B, R, N, Cv, h, w)
            ref_value = ref_value.permute(0, 2, 3, 1, 4, 5).flatten(3)  # (B, N, Cv, R*h*w)
            ref_key = keys.transpose(1, 2)[batch_index, ref].transpose(1, 2).flatten(2)  # (B, Ck, R*h*w)
            ref_shrinkage = shrinkages.transpose(1, 2)[batch_index, ref].transpose(1, 2).flatten(2)
            ref_event_key = ref_event_shrinkage = None
            if net.events:
                assert event_keys is not None and event_shrinkages is not None
                ref_event_key = event_keys.transpose(1, 2)[batch_index, ref].transpose(1, 2).flatten(2)
                ref_event_shrinkage = event_shrinkages.transpose(1, 2)[batch_index, ref].transpose(1, 2).flatten(2)
            ref_masks = None
            if net.config.equalized_scores:
                ref_masks = torch.stack(masks16, dim=1)[batch_index, ref].permute(0, 2, 1, 3, 4).flatten(2)  # (B, N, R*h*w)
            obj_memory = torch.stack(summaries, dim=2)  # (B, N, t, Q, C+1)
            event_obj_memory = torch.stack(event_summaries, dim=2) if net.events else None  # type: ignore[arg-type]

            frame = frame_at(t)
            readout, aux = net.read_memory(
                frame, ref_key, ref_shrinkage, ref_value, obj_memory, sensory, masks, ref_event_key, ref_event_shrinkage, event_obj_memory,
                mem_masks=ref_masks,
            )
            aux_out = net.compute_aux(frame, aux, selector)
            sensory, logits, prob = net.segment(frame, readout, sensory, selector)
            masks = prob[:, 1:]  # (B, N, H, W)
            if t < seq_len - 1:
                mem = net.encode_mask(rgb[:, t], frame, sensory, masks, deep_update=deep_updates[t])
                sensory = mem.sensory
                values.append(mem.value)
                summaries.append(mem.summary)
                event_summaries.append(mem.event_summary)
                masks16.append(mem.mask16)
            out_logits.append(logits)
            out_masks.append(masks)
            out_sensory.append(aux_out["sensory_logits"])
            out_q.append(aux_out["q_logits"])

        return {
            "logits": torch.stack(out_logits, dim=1),
            "masks": torch.stack(out_masks, dim=1),
            "sensory_logits": torch.stack(out_sensory, dim=1),
            "q_logits": [torch.stack([q[level] for q in out_q], dim=1) for level in range(len(out_q[0]))],
            "num_objects": num_objects,
            "selector": selector,
        }
