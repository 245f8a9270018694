"""Typed configuration of ``evolve-eval-interactive`` (``configs/eval_interactive_config.yaml``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from omegaconf import MISSING

from evolve.apps.eval_config import EvalDatasetConfig
from evolve.eval.interactive.protocol import ProtocolConfig
from evolve.inference.config import InferenceConfig


@dataclass
class EvalInteractiveConfig:
    """Top level of ``configs/eval_interactive_config.yaml``.

    Attributes:
        dataset: key of ``datasets`` (``lle_davis2016``, ``lle_davis``, ``demo``, ``generic`` ...).
        size: working size: frames are processed with this shorter side (-1 = native; None = the
            dataset entry's size); masks are
            scored at the ground truth's size.
        model: the propagation network's config node: EVOLVE (``model=small|base``) or GLTM
            (``model=gltm``, which brings its own A-Net).
        weights: its weights file.
        interaction_model: the interaction network's config node (``arch: interaction``), used
            with EVOLVE propagation.
        interaction_weights: its weights file (required with EVOLVE, refused with GLTM).
        protocol: :class:`~evolve.eval.interactive.protocol.ProtocolConfig`.
        inference: the EVOLVE memory policy.
        save_rounds: write each round's scribbles (DAVIS JSON) and annotated-frame mask.
    """

    exp_id: str = "interactive"
    output_root: str = "output"
    output_dir: Optional[str] = None
    overwrite: bool = False
    dataset: str = "lle_davis2016"
    data_root: str = "data"
    datasets: dict[str, EvalDatasetConfig] = field(default_factory=dict)
    size: Optional[int] = None
    weights: Optional[str] = None
    interaction_weights: Optional[str] = None
    device: str = "auto"
    num_workers: int = 0
    save_rounds: bool = True
    model: Any = MISSING
    interaction_model: Any = MISSING
    protocol: ProtocolConfig = field(default_factory=ProtocolConfig)
    inference: InferenceConfig = field(default_factory=InferenceConfig)
