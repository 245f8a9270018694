"""The common description of a motion-labelled video set, fed by every few-shot reader.

Few-shot motion VOS (MOVE, Ying et al., ICCV 2025; docs/fewshot.md) needs, per video, which
object performs which motion on which frames, and per motion class its place in the class
hierarchy and its fold. Two readers build a :class:`MotionCatalogue` and load clips through the
:class:`MotionSource` interface:

- :mod:`evolve.data.procedural_motion` (the procedural motion set in LLE-DAVIS layout, with
  low-light frames and events);
- :mod:`evolve.data.move` (MOVE's released layout: frames, per-video annotation JSON with RLE
  masks, the ``default`` and ``challenging`` group files).

The episode sampler (:mod:`evolve.data.episodes`) sees only these types.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import torch

from evolve.utils.errors import InputError


@dataclass(frozen=True)
class MotionClass:
    """One motion category.

    Attributes:
        name: the class name (``"translate_left"``; MOVE: ``"sports-basketball-dunk"``).
        path: the hierarchy from the root to the class itself, e.g. ``("translation",
            "translate_left")`` or ``("sports", "basketball", "dunk")``; siblings share
            ``path[:-1]`` (fine-grained episodes pick them, MOVE ``sample_fine_grained_episode``).
        fold: the class fold 0..3 (train on three, test on one), or None (never sampled).
    """

    name: str
    path: tuple[str, ...]
    fold: Optional[int]


@dataclass(frozen=True)
class MotionInstance:
    """One object performing one motion in one video.

    Attributes:
        video: video name.
        object_id: the object's id in the video's masks (procedural: mask id; MOVE: object
            index + 1).
        motion: motion class name.
        frames: frame positions (0-based, sorted) on which the object performs the motion and
            is annotated; outside them its mask does not count for this motion (MOVE's
            ``start_frame``/``end_frame`` rule).
        object_class: appearance category (procedural: shape; MOVE: object category), or None.
    """

    video: str
    object_id: int
    motion: str
    frames: tuple[int, ...]
    object_class: Optional[str] = None


@dataclass
class MotionVideo:
    """One video of a motion set.

    Attributes:
        name: video name.
        num_frames: number of frames.
        instances: the motion instances (one per moving object and motion).
        record: the file that describes the video (named in errors).
        split: the split the video belongs to (``train``/``val``), or None.
    """

    name: str
    num_frames: int
    instances: list[MotionInstance]
    record: Optional[Path] = None
    split: Optional[str] = None

    @property
    def motions(self) -> set[str]:
        """Motion classes performed in the video."""
        return {i.motion for i in self.instances}


@dataclass
class MotionCatalogue:
    """Every video and motion class of a motion set (what episodes are sampled from).

    Attributes:
        name: a label for messages (``"procedural motion set at <root>"``).
        classes: class name -> :class:`MotionClass`.
        videos: video name -> :class:`MotionVideo`.
        object_classes: sorted appearance categories (indices for the auxiliary object loss).
        class_file: the file the classes and folds came from (named in errors).
    """

    name: str
    classes: dict[str, MotionClass]
    videos: dict[str, MotionVideo]
    object_classes: list[str] = field(default_factory=list)
    class_file: Optional[Path] = None

    @property
    def class_names(self) -> list[str]:
        """Sorted motion class names (their positions are the auxiliary motion-loss labels)."""
        return sorted(self.classes)

    def classes_of_folds(self, folds: Sequence[int]) -> list[str]:
        """Sorted names of the classes whose fold is in ``folds``."""
        wanted = set(int(f) for f in folds)
        return sorted(n for n, c in self.classes.items() if c.fold is not None and c.fold in wanted)

    def folds(self) -> list[int]:
        """The folds present, sorted."""
        return sorted({c.fold for c in self.classes.values() if c.fold is not None})

    def videos_with(self, motion: str, videos: Optional[Sequence[str]] = None) -> list[str]:
        """Sorted names of the videos (of ``videos``, default all) with an instance of ``motion``."""
        pool = self.videos if videos is None else {v: self.videos[v] for v in videos}
        return sorted(v for v, entry in pool.items() if motion in entry.motions)

    def instances(self, video: str, motion: str) -> list[MotionInstance]:
        """The instances of ``motion`` in ``video`` (empty when it has none)."""
        return [i for i in self.videos[video].instances if i.motion == motion]

    def siblings(self, motion: str, candidates: Sequence[str]) -> list[list[str]]:
        """``candidates`` other than ``motion`` grouped by closeness in the hierarchy.

        Returns:
            A list of groups, closest first: group ``d`` holds the candidates whose path shares
            exactly ``len(path) - 1 - d`` leading parts with ``motion``'s (siblings first, then
            cousins, ...). Each group is sorted.
        """
        base = self.classes[motion].path
        groups: dict[int, list[str]] = {}
        for name in candidates:
            if name == motion:
                continue
            other = self.classes[name].path
            common = 0
            for a, b in zip(base[:-1], other[:-1]):
                if a != b:
                    break
                common += 1
            groups.setdefault(len(base) - 1 - common, []).append(name)
        return [sorted(groups[d]) for d in sorted(groups)]


@dataclass
class ClipData:
    """Frames, voxel grids and object masks of some frames of one video.

    Attributes:
        rgb: float32 (T, 3, H, W) in [0, 1] (the low-light frames where the set has them).
        voxel: float32 (T, B, H, W) voxel grids of the events ending at each frame (zeros for a
            set without events).
        masks: object id -> bool (T, H, W) mask of that object on each frame.
        frame_names: the frames' names (stems).
    """

    rgb: torch.Tensor
    voxel: torch.Tensor
    masks: dict[int, torch.Tensor]
    frame_names: list[str]


class MotionSource(abc.ABC):
    """A reader of a motion set: its catalogue and its clips.

    Attributes:
        catalogue: the :class:`MotionCatalogue`.
        has_events: whether the set has events (else voxel grids are zeros).
    """

    catalogue: MotionCatalogue
    has_events: bool = False

    @abc.abstractmethod
    def load_clip(self, video: str, frames: Sequence[int], object_ids: Sequence[int], size: Optional[tuple[int, int]],
                  num_bins: int) -> ClipData:
        """Load some frames of a video.

        Args:
            video: video name.
            frames: frame positions (0-based) in the order wanted (repeats allowed).
            object_ids: objects whose masks to give.
            size: ``(H, W)`` in pixels to resize to (frames bilinear, masks nearest, voxel grids
                area-averaged), or None for the native size.
            num_bins: B of the voxel grids.

        Raises:
            InputError: a missing or unreadable frame, mask or event file (the message names it).
        """

    def mask_location(self, video: str) -> Path | None:
        """The file or folder holding the masks of ``video`` (named in errors)."""
        return None


def check_fold(catalogue: MotionCatalogue, fold: int, setting: str = "fold") -> None:
    """Refuse a fold the catalogue does not have.

    Raises:
        InputError: naming the setting and the folds present.
    """
    folds = catalogue.folds()
    if fold not in folds:
        raise InputError(catalogue.class_file, f"{setting}={fold} but the motion classes have folds {folds}",
                         f"set {setting} to one of {folds}")


def resize_clip(rgb: torch.Tensor, voxel: torch.Tensor, masks: dict[int, torch.Tensor],
                size: Optional[tuple[int, int]]) -> tuple[torch.Tensor, torch.Tensor, dict[int, torch.Tensor]]:
    """Resize a clip to ``size`` = (H, W) pixels (None or equal: unchanged).

    Frames: bilinear with antialiasing, clamped to [0, 1]. Voxel grids: ``area`` interpolation
    when shrinking (every event still contributes, averaged over the pixels merged), bilinear
    when growing. Masks: nearest.

    Args:
        rgb: float32 (T, 3, H0, W0). voxel: float32 (T, B, H0, W0). masks: id -> bool (T, H0, W0).

    Returns:
        The three, resized.
    """
    if size is None or tuple(rgb.shape[-2:]) == tuple(size):
        return rgb, voxel, masks
    import torch.nn.functional as F

    h, w = int(size[0]), int(size[1])
    rgb = F.interpolate(rgb, size=(h, w), mode="bilinear", align_corners=False, antialias=True).clamp_(0, 1)
    shrink = h <= voxel.shape[-2] and w <= voxel.shape[-1]
    voxel = F.interpolate(voxel, size=(h, w), mode="area") if shrink else F.interpolate(voxel, size=(h, w), mode="bilinear", align_corners=False)
    out = {k: F.interpolate(m[:, None].float(), size=(h, w), mode="nearest")[:, 0] > 0.5 for k, m in masks.items()}
    return rgb.contiguous(), voxel.contiguous(), out
