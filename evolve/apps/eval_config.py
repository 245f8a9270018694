"""Typed configuration of ``evolve-eval`` / ``evolve/eval_vos.py`` (``configs/eval_config.yaml``), DESIGN 5."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from omegaconf import MISSING

from evolve.inference.config import InferenceConfig


@dataclass
class EvalDatasetConfig:
    """One evaluation set.

    Attributes:
        layout: ``lle_vos | lle_davis | davis | generic``.
        root: dataset root.
        split: split name or list file; None = every sequence.
        size: resize the shorter side to this many pixels when larger (-1 = native; LLE-DAVIS 480).
        use_all_masks: take every annotated frame's mask as input (objects appearing later,
            YouTube-VOS style) instead of the first frame's only.
        long_term: override ``inference.use_long_term`` for this set (None = keep).
        image_dir, mask_dir, event_dir, voxel_dir: folders for the ``generic`` layout.
    """

    layout: str = "lle_davis"
    root: Optional[str] = None
    split: Optional[str] = "val"
    size: int = -1
    use_all_masks: bool = False
    long_term: Optional[bool] = None
    image_dir: Optional[str] = None
    mask_dir: Optional[str] = None
    event_dir: Optional[str] = None
    voxel_dir: Optional[str] = None


@dataclass
class EvalConfig:
    """Top level of ``configs/eval_config.yaml``.

    Attributes:
        dataset: key of ``datasets`` to run, spelled like the training ``data=`` names
            (``lle_vos``, ``lle_davis``, ``lle_davis2016``, ``demo``, ``generic``, ...).
        model: the network's config node (``model=small|base``), checked by :mod:`evolve.model.registry`.
        weights: network weights file (required).
        output_dir: where predictions go; default ``<output_root>/<exp_id>/<dataset>``.
        overwrite: allow writing into an output_dir that already holds predictions.
        evaluate: compute J&F afterwards when every frame has a ground-truth mask.
        save_overlays / save_mp4 / save_event_pictures: pictures in ``<output_dir>-vis/``.
        copy_baseline: also score the copy-first-mask baseline on the same sequences
            (predictions in ``<output_dir>-copy_first_mask/``) and print it beside the model.
    """

    exp_id: str = "eval"
    output_root: str = "output"
    output_dir: Optional[str] = None
    dataset: str = "lle_davis"
    data_root: str = "data"
    datasets: dict[str, EvalDatasetConfig] = field(default_factory=dict)
    weights: Optional[str] = None
    device: str = "auto"
    num_workers: int = 2
    overwrite: bool = False
    evaluate: bool = True
    eval_workers: int = 2
    save_overlays: bool = False
    save_mp4: bool = False
    save_event_pictures: bool = False
    copy_baseline: bool = False
    model: Any = MISSING
    inference: InferenceConfig = field(default_factory=InferenceConfig)
