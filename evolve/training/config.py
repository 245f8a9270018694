"""Typed training configuration (OmegaConf structured configs behind Hydra).

The YAML in ``configs/`` fills these dataclasses; because they are structured, a mistyped key
(``main_training.learing_rate=...``) fails at start-up with Hydra's error naming the key.
Keys and meanings follow Cutie/EVOLVE (DESIGN 4, reference/cutie.md 3.1).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from omegaconf import MISSING


@dataclass
class DatasetConfig:
    """One training dataset.

    Attributes:
        name: a label for logs.
        layout: ``lle_vos | lle_davis | davis | generic`` (videos) or ``static`` (image + mask
            folders for pre-training, turned into synthetic clips).
        root: dataset root folder (relative paths are relative to the launch directory).
        split: split name (``train``) or a split-list file; None = every sequence.
        frame_interval: frame spacing of the source in "DAVIS frames" (Cutie: DAVIS 1,
            YouTube-VOS 5; EVOLVE: LLE-VOS 3, LLE-DAVIS 2); the usable max skip is
            ``max_skip // frame_interval`` (at least 1).
        multiplier: how many times each sequence appears per epoch.
        image_dir, mask_dir, event_dir, voxel_dir: folders for the ``generic`` and ``static`` layouts.
    """

    name: str = MISSING
    layout: str = "lle_davis"
    root: str = MISSING
    split: Optional[str] = "train"
    frame_interval: int = 1
    multiplier: int = 1
    image_dir: Optional[str] = None
    mask_dir: Optional[str] = None
    event_dir: Optional[str] = None
    voxel_dir: Optional[str] = None


@dataclass
class DataStageConfig:
    """The datasets of one stage and the schedule that goes with them (Cutie's data groups)."""

    datasets: list[DatasetConfig] = field(default_factory=list)
    num_iterations: int = 125_000
    lr_schedule_steps: list[int] = field(default_factory=lambda: [100_000, 115_000])


@dataclass
class ValDataConfig:
    """A validation set evaluated with J&F at the end of training (optional)."""

    layout: str = "lle_davis"
    root: Optional[str] = None
    split: Optional[str] = "val"
    size: int = -1


@dataclass
class DataConfig:
    """A ``data=`` choice: what main training and pre-training read.

    ``base`` / ``with-mose`` / ``mega`` keep Cutie's names: for events they mean the
    corresponding video sets converted to LLE form with ``evolve-synthesize``.
    """

    name: str = MISSING
    pre_training: DataStageConfig = field(default_factory=DataStageConfig)
    main_training: DataStageConfig = field(default_factory=DataStageConfig)
    val: ValDataConfig = field(default_factory=ValDataConfig)
    demo_root: Optional[str] = None  # create the embedded demo dataset here first (``<demo_root>/LLE_DAVIS``) if absent


@dataclass
class StageConfig:
    """One training stage (``pre_training`` or ``main_training``), DESIGN 4.

    ``batch_size`` is global and divided by the number of processes. ``num_objects == 1``
    makes a single-object network (4-channel mask encoder), as Cutie's pre-training.
    """

    enabled: bool = True
    num_iterations: int = 125_000
    batch_size: int = 8
    learning_rate: float = 1e-4
    lr_schedule: str = "step"
    lr_schedule_steps: list[int] = field(default_factory=lambda: [100_000, 115_000])
    lr_schedule_gamma: float = 0.1
    weight_decay: float = 1e-3
    embed_weight_decay: float = 0.0
    backbone_lr_ratio: float = 0.1
    clip_grad_norm: float = 2.0
    amp: bool = True
    amp_dtype: str = "float16"
    seq_length: int = 8
    num_ref_frames: int = 3
    num_objects: int = 3
    crop_size: int = 480
    max_skip: int = 5
    reverse_prob: float = 0.0
    deep_update_prob: float = 0.2
    train_num_points: int = 12544
    oversample_ratio: float = 3.0
    importance_sample_ratio: float = 0.75
    aux_weight: float = 0.01


@dataclass
class TrainConfig:
    """Top level of ``configs/train_config.yaml``.

    Attributes:
        exp_id: run name; outputs go to ``<output_root>/<exp_id>/``; re-running an exp_id resumes it.
        task: the kind of training (:mod:`evolve.training.task`; ``semi_supervised``).
        model: the network's config node, validated by :mod:`evolve.model.registry` against the
            typed config of its ``arch`` (``model=small|base`` are EVOLVE).
        extend: continue a finished stage of this exp_id up to a larger ``num_iterations``
            (without it, a rerun with more iterations is refused with an explanation).
        eval_after_training: after the last stage, evaluate the final weights on ``data.val``
            with the task's protocol and write the results to ``<output>/val/``.
        data_root: folder the data configs' dataset roots are relative to (``${data_root}/LLE_DAVIS``).
        weights: network weights for the first enabled stage (single->multi-object surgery applied).
        checkpoint: full training state to resume the first enabled stage from.
        device: ``auto | cpu | cuda``.
        deterministic: deterministic algorithms and data order (for bit-exact resume tests).
        num_workers: DataLoader workers per process.
    """

    exp_id: str = "default"
    task: str = "semi_supervised"
    output_root: str = "output"
    data_root: str = "data"
    weights: Optional[str] = None
    checkpoint: Optional[str] = None
    device: str = "auto"
    seed: int = 14159265
    deterministic: bool = False
    cudnn_benchmark: bool = True
    num_workers: int = 4
    log_text_interval: int = 100
    log_image_interval: int = 1500
    save_weights_interval: int = 10_000
    save_checkpoint_interval: int = 1_000
    eval_after_training: bool = False
    extend: bool = False
    model: Any = MISSING
    data: DataConfig = MISSING
    pre_training: StageConfig = field(default_factory=StageConfig)
    main_training: StageConfig = field(default_factory=StageConfig)
