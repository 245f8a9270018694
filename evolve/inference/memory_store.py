"""Pixel memory for streaming inference: image- and event-keyed tokens sharing values (DESIGN 5).

Tokens are kept per *bucket*: the objects that were given together (one mask) share a bucket,
because an object that appears on frame t has no values for earlier frames (Cutie's key-value
store does the same). A bucket holds:

- permanent frames (the frame the bucket was created on; never evicted, never consolidated);
- working frames (FIFO, at most ``max_mem_frames - permanent`` frames without long-term memory);
- optional long-term tokens (XMem-style prototypes, :meth:`MemoryBucket.consolidate`).

Every token has an image key, shrinkage and selection, an event key, shrinkage and selection
(events on), one value per object of the bucket (the EDFT-deformed mask value), optionally the
objects' stride-16 mask at the token (``equalized_scores``), and usage statistics (accumulated
affinity and the number of reads it has lived through). Reads normalise the affinity as
``model.affinity_norm`` says (:func:`~evolve.model.memory_ops.readout_weights`).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Optional

import torch
from torch import Tensor

from evolve.model.memory_ops import (
    anisotropic_l2_similarity,
    equalized_scores,
    normalized_topk_readout,
    readout,
    readout_weights,
    softmax_affinity,
)


@dataclass
class TokenSet:
    """A set of L memory tokens of one bucket (batch size 1, so no batch axis).

    Attributes:
        key, selection: (Ck, L) float32; shrinkage: (1, L) float32.
        value: (N_b, Cv, L) float32 (N_b objects of the bucket).
        event_key, event_selection: (Ck, L); event_shrinkage: (1, L); None without events.
        usage: (L,) accumulated affinity; life: (L,) reads survived (float32).
        mask: (N_b, L) float32 object probabilities at the tokens (``equalized_scores``), or None.
    """

    key: Tensor
    shrinkage: Tensor
    selection: Tensor
    value: Tensor
    usage: Tensor
    life: Tensor
    event_key: Optional[Tensor] = None
    event_shrinkage: Optional[Tensor] = None
    event_selection: Optional[Tensor] = None
    mask: Optional[Tensor] = None

    @property
    def size(self) -> int:
        """Number of tokens L."""
        return self.key.shape[-1]

    @staticmethod
    def cat(sets: list["TokenSet"]) -> "TokenSet":
        """Concatenate token sets along L (in order)."""
        out = {}
        for f in fields(TokenSet):
            parts = [getattr(s, f.name) for s in sets]
            out[f.name] = None if parts[0] is None else torch.cat(parts, dim=-1)
        return TokenSet(**out)

    def select(self, index: Tensor) -> "TokenSet":
        """Tokens at ``index`` (1-D long tensor)."""
        return replace(self, **{f.name: (None if getattr(self, f.name) is None else getattr(self, f.name)[..., index]) for f in fields(self)})

    def usage_score(self) -> Tensor:
        """Mean affinity per read, (L,) (XMem's usage; tokens never read score 0)."""
        return self.usage / self.life.clamp(min=1)


@dataclass
class BucketReadout:
    """What :meth:`MemoryBucket.read_all` returns (float32; M = query pixels).

    Attributes:
        image: (N_b, Cv, M) image-keyed readout; event: (N_b, Cv, M) or None without events.
        image_scores, event_scores: (N_b, 2, M) equalized (background, foreground) scores, or None.
    """

    image: Tensor
    event: Optional[Tensor] = None
    image_scores: Optional[Tensor] = None
    event_scores: Optional[Tensor] = None


class MemoryBucket:
    """Pixel memory of one group of objects (see the module docstring).

    Args:
        objects: 0-based object indices covered by this bucket.
    """

    def __init__(self, objects: list[int]) -> None:
        self.objects = list(objects)
        self.permanent: list[TokenSet] = []
        self.working: list[TokenSet] = []
        self.long_term: Optional[TokenSet] = None
        self._concatenated: Optional[TokenSet] = None  # all tokens in read order, rebuilt after a memory write

    @property
    def num_frames(self) -> int:
        """Permanent + working frames (long-term prototypes are not frames)."""
        return len(self.permanent) + len(self.working)

    @property
    def num_long_term_tokens(self) -> int:
        """Tokens in the long-term store (0 without one)."""
        return 0 if self.long_term is None else self.long_term.size

    def add_frame(self, tokens: TokenSet, permanent: bool) -> None:
        """Append one memory frame's tokens to the permanent or the working frames."""
        (self.permanent if permanent else self.working).append(tokens)
        self._concatenated = None

    def trim_fifo(self, max_mem_frames: int) -> None:
        """Drop the oldest working frames until ``num_frames <= max_mem_frames`` (permanent frames stay)."""
        while self.working and self.num_frames > max_mem_frames:
            self.working.pop(0)
            self._concatenated = None

    def tokens(self) -> TokenSet:
        """Every token in read order (long-term, permanent, working), concatenated once per memory
        write and reused by every read until the next write (its usage fields are not used)."""
        if self._concatenated is None:
            self._concatenated = TokenSet.cat(self._pieces())
        return self._concatenated

    def _pieces(self) -> list[TokenSet]:
        return ([self.long_term] if self.long_term is not None else []) + self.permanent + self.working

    def read_all(
        self,
        query_key: Tensor,
        query_selection: Tensor,
        event_query_key: Optional[Tensor],
        event_query_selection: Optional[Tensor],
        top_k: Optional[int],
        count_usage: bool,
        gather: bool = True,
        affinity_norm: str = "memory_softmax",
        bijective_k: int = 4,
        scores: bool = False,
    ) -> "BucketReadout":
        """Image-keyed and event-keyed readouts of this bucket's values and, with ``scores``, the
        equalized fg/bg scores of its objects (float32).

        Args:
            query_key, query_selection: (Ck, M) current frame (M = h*w pixels).
            event_query_key, event_query_selection: (Ck, M) or None.
            top_k: per-query top-k over the memory (None = full affinity).
            count_usage: add the weight mass per token to ``usage`` and 1 to ``life``.
            gather: with ``top_k``, read the k values per query by a weighted gather
                (:func:`~evolve.model.memory_ops.normalized_topk_readout`); False = the dense
                weights and a dense product (same numbers, far more work).
            affinity_norm, bijective_k: ``model.affinity_norm`` / ``model.bijective_k``.
            scores: also compute :func:`~evolve.model.memory_ops.equalized_scores` from the
                tokens' masks (every token must carry ``mask``).
        Returns:
            :class:`BucketReadout`.
        Raises:
            ValueError: ``scores`` asked but the tokens carry no mask.
        """
        pieces = self._pieces()
        tokens = self.tokens()
        n_b, cv = tokens.value.shape[:2]
        values = tokens.value.flatten(0, 1)[None]  # (1, N_b*Cv, L)
        if scores and tokens.mask is None:
            raise ValueError("equalized scores need the memory masks: write memory with masks (TokenSet.mask)")

        def read_one(sim: Tensor) -> tuple[Tensor, Tensor]:  # (1, L, M) -> readout (N_b, Cv, M), usage (L,)
            if top_k is not None and gather:
                out, mass = normalized_topk_readout(sim, values, top_k, affinity_norm, bijective_k)
                return out[0].view(n_b, cv, -1), mass[0]
            affinity = readout_weights(sim, affinity_norm, top_k, bijective_k)  # (1, L, M)
            return readout(affinity, values)[0].view(n_b, cv, -1), affinity[0].sum(dim=1)

        sim = anisotropic_l2_similarity(tokens.key[None], tokens.shrinkage[None], query_key[None], query_selection[None])
        image_out, usage = read_one(sim)
        image_scores = equalized_scores(sim, tokens.mask[None])[0] if scores else None  # type: ignore[index]
        event_out = event_scores = None
        if event_query_key is not None:
            assert tokens.event_key is not None and event_query_selection is not None
            esim = anisotropic_l2_similarity(tokens.event_key[None], tokens.event_shrinkage[None], event_query_key[None], event_query_selection[None])
            event_out, event_usage = read_one(esim)
            usage = usage + event_usage
            event_scores = equalized_scores(esim, tokens.mask[None])[0] if scores else None  # type: ignore[index]
        if count_usage:
            start = 0
            for piece in pieces:
                end = start + piece.size
                piece.usage += usage[start:end]
                piece.life += 1
                start = end
        return BucketReadout(image_out, event_out, image_scores, event_scores)

    def consolidate(self, max_mem_frames: int, min_mem_frames: int, num_prototypes: int, max_num_tokens: int, buffer_tokens: int) -> bool:
        """XMem-style consolidation of old working frames into long-term prototypes.

        Runs when the working (non-permanent) frames reach ``max_mem_frames - 1``: the oldest
        ones, all but the newest ``min_mem_frames - 1``, become candidates. The
        ``num_prototypes`` candidates with the highest usage score become prototypes; their
        keys, selections and event keys are kept, and their values and shrinkages are
        *potentiated* (XMem, Cheng & Schwing 2022, Sec. 3.3): a full-softmax readout over the
        candidates with the prototype keys as queries (image affinity for values and shrinkage,
        event affinity for the event shrinkage). Before the prototypes are added (Cutie's order),
        a long-term store that has reached ``max_num_tokens - num_prototypes`` tokens is cut
        down to its ``max_num_tokens - num_prototypes - buffer_tokens`` highest-usage tokens, so
        after adding it holds at most ``max_num_tokens``.

        Returns:
            True if a consolidation happened.
        """
        if len(self.working) < max_mem_frames - 1:
            return False
        self._concatenated = None
        keep = min_mem_frames - 1
        candidates = TokenSet.cat(self.working[: len(self.working) - keep])
        self.working = self.working[len(self.working) - keep :]
        k = min(num_prototypes, candidates.size)
        idx = torch.topk(candidates.usage_score(), k=k).indices
        proto = candidates.select(idx)
        sim = anisotropic_l2_similarity(candidates.key[None], candidates.shrinkage[None], proto.key[None], proto.selection[None])
        aff = softmax_affinity(sim)  # (1, Lc, k)
        n_b, cv = candidates.value.shape[:2]
        proto.value = readout(aff, candidates.value.flatten(0, 1)[None])[0].view(n_b, cv, k)
        proto.shrinkage = readout(aff, candidates.shrinkage[None])[0]
        if candidates.mask is not None:
            proto.mask = readout(aff, candidates.mask[None])[0]  # potentiated like the values
        if candidates.event_key is not None:
            esim = anisotropic_l2_similarity(candidates.event_key[None], candidates.event_shrinkage[None], proto.event_key[None], proto.event_selection[None])
            proto.event_shrinkage = readout(softmax_affinity(esim), candidates.event_shrinkage[None])[0]
        if self.long_term is not None and self.long_term.size >= max_num_tokens - num_prototypes:
            target = max(0, max_num_tokens - num_prototypes - buffer_tokens)
            keep_idx = torch.topk(self.long_term.usage_score(), k=target).indices.sort().values
            self.long_term = self.long_term.select(keep_idx)
        self.long_term = proto if self.long_term is None else TokenSet.cat([self.long_term, proto])
        return True
