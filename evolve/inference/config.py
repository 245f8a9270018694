"""Inference settings (DESIGN 5; Cutie's eval_config values as EVOLVE used them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from omegaconf import OmegaConf

from evolve.utils.errors import InputError


@dataclass
class LongTermConfig:
    """XMem-style long-term memory (used only with ``use_long_term``).

    When a bucket's non-permanent working memory reaches ``max_mem_frames - 1`` frames, all but
    the newest ``min_mem_frames - 1`` are consolidated into at most ``num_prototypes``
    prototype tokens; before they are added, a store that has reached
    ``max_num_tokens - num_prototypes`` tokens is cut back to
    ``max_num_tokens - num_prototypes - buffer_tokens`` (lowest usage first), as Cutie does.
    """

    max_mem_frames: int = 10
    min_mem_frames: int = 5
    num_prototypes: int = 128
    max_num_tokens: int = 10000
    buffer_tokens: int = 2000


@dataclass
class InferenceConfig:
    """Streaming inference settings (DESIGN 5).

    Attributes:
        mem_every: a frame becomes a memory frame every ``mem_every`` frames (and whenever a
            mask is given).
        max_mem_frames: working-memory frames per object bucket *including* its permanent first
            frame (Cutie: the permanent frame is kept outside the FIFO, which holds
            ``max_mem_frames - 1``). Used when ``use_long_term`` is off.
        top_k: top-k softmax in the memory readout; None or <= 0 = full softmax.
        stagger_updates: decoder sensory updates per ``mem_every`` window, evenly spaced.
        use_long_term: XMem-style long-term memory (``long_term``).
        amp: run under autocast (float16 on CUDA, bfloat16 on CPU).
        max_internal_size: if > 0, frames whose shorter side is larger are downscaled so the
            shorter side is this many pixels (outputs are upscaled back); -1 = native size.
        readout: ``gather`` = the top-k readout gathers the k values of each query pixel
            (:func:`evolve.model.memory_ops.topk_readout`); ``dense`` = a dense affinity matrix
            and a dense product (the same numbers; kept for comparison and benchmarks).
    """

    mem_every: int = 5
    max_mem_frames: int = 5
    top_k: Optional[int] = 30
    stagger_updates: int = 5
    use_long_term: bool = False
    long_term: LongTermConfig = field(default_factory=LongTermConfig)
    amp: bool = False
    max_internal_size: int = -1
    readout: str = "gather"

    def validate(self) -> "InferenceConfig":
        """Raises InputError for values the memory manager cannot run with; returns self."""

        def bad(problem: str, fix: str) -> None:
            raise InputError(None, f"inference config: {problem}", fix)

        if self.mem_every < 1:
            bad(f"mem_every is {self.mem_every}", "use mem_every >= 1 (5)")
        if self.max_mem_frames < 1:
            bad(f"max_mem_frames is {self.max_mem_frames}", "use max_mem_frames >= 1 (5)")
        if self.stagger_updates < 1:
            bad(f"stagger_updates is {self.stagger_updates}", "use stagger_updates >= 1 (5)")
        if self.readout not in ("gather", "dense"):
            bad(f"readout is {self.readout!r}", "use readout=gather or readout=dense")
        lt = self.long_term
        if self.use_long_term:
            if not 2 <= lt.min_mem_frames < lt.max_mem_frames:
                bad(f"long_term min/max_mem_frames {lt.min_mem_frames}/{lt.max_mem_frames}", "use 2 <= min_mem_frames < max_mem_frames (5, 10)")
            if lt.num_prototypes < 1 or lt.max_num_tokens <= lt.num_prototypes + lt.buffer_tokens or lt.buffer_tokens < 0:
                bad("long_term token limits are inconsistent", "use num_prototypes >= 1 and max_num_tokens > num_prototypes + buffer_tokens >= num_prototypes")
        return self


def inference_config_from_dict(cfg: Any) -> InferenceConfig:
    """Turn a ``DictConfig`` / dict (e.g. keys of a Hydra eval config) into a validated
    :class:`InferenceConfig`; unknown keys are an error.

    Raises:
        InputError: unknown keys, wrong types or invalid values.
    """
    if isinstance(cfg, InferenceConfig):
        return cfg.validate()
    try:
        obj = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(InferenceConfig), cfg))
    except Exception as exc:
        raise InputError(None, f"inference config does not match InferenceConfig ({exc})", "fix the key or value named above") from exc
    assert isinstance(obj, InferenceConfig)
    return obj.validate()
