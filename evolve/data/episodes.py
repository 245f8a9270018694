"""N-way K-shot episodes of few-shot motion VOS (MOVE protocol, Ying et al., ICCV 2025; docs/fewshot.md).

An episode has N motion classes ("ways"), K support clips per way (each ``support_frames``
frames with the mask of the object doing the motion) and one query clip that shows 0..N of the
N motions; the query's target masks are per way (the objects doing that way's motion).

Sampling (:class:`EpisodeSampler`), all of it drawn from one seed:

- **Class splits by fold**: the classes have folds 0..3; ``role="test"`` samples the classes of
  ``fold``, ``role="train"`` those of the three other folds. With ``exclude_held_out`` (default)
  a training episode never uses a video in which a held-out class is performed, so no test
  class reaches training, not even as an unlabelled distractor.
- **Ways**: N distinct classes of the role's pool; with probability ``fine_grained_probability``
  the episode is fine-grained: one base class, then its siblings in the hierarchy, then cousins,
  ... (MOVE's ``sample_fine_grained_episode``).
- **Query**: with probability ``absent_probability`` (default ``1 / (N + 1)``, the share MOVE's
  test episodes have when the query class is drawn from N + 1 classes) a video in which none of
  the N motions is performed (a target-absent episode); otherwise a video performing one of the
  N motions, drawn uniformly; it may perform others of the N too.
- **Support**: per way K videos performing the motion, never the query video when another
  exists; videos where the motion's object is the only moving one are preferred (support-clip
  videos). ``support_frames`` frames spread evenly over the frames on which the object performs
  the motion (to cover the motion), with a seeded phase.
- **Query frames**: ``query_frames`` frames spread evenly over the query's span (the anchor
  motion's frames, or the video), or the whole video when ``query_frames`` is 0. Long videos
  are cut into chunks by :func:`query_chunks`.

Errors (:class:`~evolve.utils.errors.InputError`): more ways than the role's fold has classes
(naming ``ways`` and the fold), a fold the set does not have, a support clip whose masks are all
empty (naming the video's mask folder or file).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from evolve.data.motion import MotionCatalogue, MotionInstance, MotionSource, check_fold
from evolve.utils.errors import InputError
from evolve.utils.seeding import numpy_rng

ROLES = ("train", "test")


@dataclass
class EpisodeConfig:
    """How episodes are drawn and loaded.

    Attributes:
        fold: the held-out fold (0-3): test episodes use its classes, training the other three.
        ways: N (motion classes per episode).
        shots: K (support clips per way).
        support_frames: frames per support clip (MOVE: 5).
        query_frames: frames per query clip (training: 5), 0 = the whole video (test).
        absent_probability: share of target-absent episodes; None = ``1 / (ways + 1)``.
        fine_grained_probability: share of fine-grained episodes (sibling classes).
        height, width: frame size in pixels after resizing; 0 = the native size.
        num_bins: voxel-grid bins B.
        exclude_held_out: training never reads a video in which a held-out class is performed.
        num_episodes: episodes of an evaluation (MOVE: 2500) or of an epoch of training.
    """

    fold: int = 0
    ways: int = 2
    shots: int = 1
    support_frames: int = 5
    query_frames: int = 5
    absent_probability: Optional[float] = None
    fine_grained_probability: float = 0.0
    height: int = 0
    width: int = 0
    num_bins: int = 5
    exclude_held_out: bool = True
    num_episodes: int = 2500

    def validate(self, source: Any = None) -> "EpisodeConfig":
        """Check the values; return ``self``.

        Raises:
            InputError: a value out of range (the message names the key).
        """

        def bad(key: str, value: Any, fix: str) -> None:
            raise InputError(source, f"episode config: {key}={value!r}", fix)

        if self.ways < 1:
            bad("ways", self.ways, "use at least 1 way")
        if self.shots < 1:
            bad("shots", self.shots, "use at least 1 shot")
        if self.support_frames < 2:
            bad("support_frames", self.support_frames, "use at least 2 support frames (motion tokens need frame differences)")
        if self.query_frames != 0 and self.query_frames < 2:
            bad("query_frames", self.query_frames, "use 0 (whole video) or at least 2 frames")
        if self.absent_probability is not None and not 0.0 <= self.absent_probability <= 1.0:
            bad("absent_probability", self.absent_probability, "use a probability in [0, 1] or null")
        if not 0.0 <= self.fine_grained_probability <= 1.0:
            bad("fine_grained_probability", self.fine_grained_probability, "use a probability in [0, 1]")
        if (self.height > 0) != (self.width > 0) or self.height < 0 or self.width < 0:
            bad("height/width", (self.height, self.width), "give both as pixels, or both 0 for the native size")
        if self.num_bins < 1:
            bad("num_bins", self.num_bins, "use the voxel grid's number of bins (5)")
        if self.num_episodes < 1:
            bad("num_episodes", self.num_episodes, "use at least 1 episode")
        return self

    @property
    def size(self) -> Optional[tuple[int, int]]:
        """``(height, width)`` or None for the native size."""
        return (self.height, self.width) if self.height > 0 else None

    @property
    def absent(self) -> float:
        """The share of target-absent episodes in effect."""
        return 1.0 / (self.ways + 1) if self.absent_probability is None else float(self.absent_probability)


@dataclass(frozen=True)
class SupportShot:
    """One support clip: a video, its frames (positions) and the objects doing the way's motion."""

    video: str
    frames: tuple[int, ...]
    object_ids: tuple[int, ...]


@dataclass(frozen=True)
class EpisodeSpec:
    """What an episode consists of (indices only; :func:`load_episode` reads it).

    Attributes:
        ways: the N motion class names.
        support: N tuples of K :class:`SupportShot`.
        query_video: the query video.
        query_frames: its frames (positions).
        absent: drawn as a target-absent episode (no way's motion in the query video).
        fine_grained: the ways were drawn from the hierarchy.
    """

    ways: tuple[str, ...]
    support: tuple[tuple[SupportShot, ...], ...]
    query_video: str
    query_frames: tuple[int, ...]
    absent: bool
    fine_grained: bool


def spread_frames(frames: Sequence[int], count: int, phase: float = 0.0) -> tuple[int, ...]:
    """``count`` of ``frames`` spread evenly over them (covering the motion).

    Position ``i`` takes ``frames[floor((i + phase) * len / count)]``; with fewer frames than
    ``count`` frames repeat (in order).

    Args:
        frames: sorted frame positions (non-empty).
        count: how many to take.
        phase: offset in [0, 1) of a stride (0 = start at the first frame).

    Raises:
        ValueError: empty ``frames``.
    """
    if not frames:
        raise ValueError("no frames to spread")
    n = len(frames)
    step = n / count
    return tuple(frames[min(n - 1, int(math.floor((i + phase) * step)))] for i in range(count))


def query_chunks(num_frames: int, chunk: int, mode: str = "interleaved") -> list[list[int]]:
    """Split frame positions ``0..num_frames-1`` into chunks the network processes one at a time.

    ``interleaved`` (default): stride ``s = max(1, num_frames // chunk)``; chunk ``c`` holds
    ``c, c + s, c + 2s, ...`` (each spans the whole video with the stride of a support clip
    spread over it, so query and support clips show motion at the same speed); ``consecutive``:
    runs of ``chunk`` frames (MOVE's test chunks). A chunk of one frame is joined to the
    previous chunk (frame differences need two frames). Every frame is in exactly one chunk.

    Raises:
        ValueError: ``chunk < 2`` or an unknown mode.
    """
    if chunk < 2:
        raise ValueError(f"chunk must be >= 2, got {chunk}")
    if mode == "consecutive":
        out = [list(range(s, min(s + chunk, num_frames))) for s in range(0, num_frames, chunk)]
    elif mode == "interleaved":
        stride = max(1, num_frames // chunk)
        out = [list(range(c, num_frames, stride)) for c in range(stride)]
        # a stride that does not divide leaves long chunks: cut them to ``chunk`` or more frames
        cut = []
        for frames in out:
            while len(frames) >= 2 * chunk:
                cut.append(frames[:chunk])
                frames = frames[chunk:]
            cut.append(frames)
        out = cut
    else:
        raise ValueError(f"unknown chunk mode {mode!r}; use interleaved or consecutive")
    merged: list[list[int]] = []
    for frames in out:
        if len(frames) < 2 and merged:
            merged[-1] = sorted(merged[-1] + frames)
        elif frames:
            merged.append(frames)
    return merged


class EpisodeSampler:
    """Draws :class:`EpisodeSpec` s from a catalogue (see the module docstring for the rules).

    Args:
        catalogue: the motion set.
        config: the episode settings.
        role: ``train`` (classes of the three folds other than ``config.fold``) or ``test``
            (classes of ``config.fold``).
        videos: restrict to these videos (default: all of the catalogue).

    Raises:
        InputError: an unknown fold; ``ways`` more than the role's classes that have videos;
            no video left for the role.
    """

    def __init__(self, catalogue: MotionCatalogue, config: EpisodeConfig, role: str = "test", videos: Optional[Sequence[str]] = None) -> None:
        if role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}, got {role!r}")
        self.catalogue, self.config, self.role = catalogue, config.validate(), role
        check_fold(catalogue, config.fold)
        held_out = set(catalogue.classes_of_folds([config.fold]))
        other = [f for f in catalogue.folds() if f != config.fold]
        wanted = held_out if role == "test" else set(catalogue.classes_of_folds(other))
        pool = sorted(videos) if videos is not None else sorted(catalogue.videos)
        if role == "train" and config.exclude_held_out:
            pool = [v for v in pool if not (catalogue.videos[v].motions & held_out)]
        if not pool:
            raise InputError(catalogue.class_file, f"no {role} video is left in {catalogue.name} for fold {config.fold}",
                             "generate more videos, or set exclude_held_out=false")
        self.videos = pool
        self.held_out = sorted(held_out)
        self.classes = sorted(c for c in wanted if catalogue.videos_with(c, pool))
        which = f"held-out fold {config.fold}" if role == "test" else f"training folds {other}"
        if config.ways > len(self.classes):
            raise InputError(catalogue.class_file,
                             f"ways={config.ways} but the {which} {'has' if role == 'test' else 'have'} {len(self.classes)} motion classes with {role} videos ({', '.join(self.classes)})",
                             f"use ways <= {len(self.classes)}, another fold, or a set with more classes per fold")
        self._by_class = {c: catalogue.videos_with(c, pool) for c in self.classes}

    # ------------------------------------------------------------------ drawing
    def _ways(self, rng: np.random.Generator) -> tuple[list[str], bool]:
        n = self.config.ways
        if rng.random() < self.config.fine_grained_probability:
            base = self.classes[int(rng.integers(len(self.classes)))]
            chosen = [base]
            for group in self.catalogue.siblings(base, self.classes):
                need = n - len(chosen)
                if need <= 0:
                    break
                picks = rng.permutation(len(group))[:need]
                chosen.extend(group[int(i)] for i in picks)
            return chosen[:n], True
        picks = rng.permutation(len(self.classes))[:n]
        return [self.classes[int(i)] for i in picks], False

    def _instances(self, video: str, motion: str) -> list[MotionInstance]:
        return self.catalogue.instances(video, motion)

    def _support(self, rng: np.random.Generator, motion: str, query_video: str) -> tuple[SupportShot, ...]:
        cfg = self.config
        videos = [v for v in self._by_class[motion] if v != query_video] or list(self._by_class[motion])
        single = [v for v in videos if len(self.catalogue.videos[v].instances) == 1]
        pool = single or videos
        if len(pool) >= cfg.shots:
            chosen = [pool[int(i)] for i in rng.permutation(len(pool))[: cfg.shots]]
        else:  # fewer videos than shots: reuse (MOVE does the same)
            chosen = [pool[int(i)] for i in rng.integers(len(pool), size=cfg.shots)]
        shots = []
        for v in chosen:
            inst = self._instances(v, motion)
            span = sorted({t for i in inst for t in i.frames}) or list(range(self.catalogue.videos[v].num_frames))
            frames = spread_frames(span, cfg.support_frames, float(rng.random()))
            shots.append(SupportShot(video=v, frames=frames, object_ids=tuple(sorted({i.object_id for i in inst}))))
        return tuple(shots)

    def sample(self, *key: Any) -> EpisodeSpec:
        """The episode of ``key`` (e.g. an episode index, or ``(index, seed)`` from the trainer's
        sampler): the same key always gives the same episode."""
        cfg = self.config
        rng = numpy_rng("fewshot-episode", self.role, cfg.fold, *key)
        ways, fine = self._ways(rng)
        absent = rng.random() < cfg.absent
        query_video = None
        span: list[int] = []
        if absent:
            candidates = [v for v in self.videos if not (self.catalogue.videos[v].motions & set(ways))]
            if candidates:
                query_video = candidates[int(rng.integers(len(candidates)))]
                span = list(range(self.catalogue.videos[query_video].num_frames))
        if query_video is None:
            absent = False
            anchor = ways[int(rng.integers(len(ways)))]
            vids = self._by_class[anchor]
            query_video = vids[int(rng.integers(len(vids)))]
            span = sorted({t for i in self._instances(query_video, anchor) for t in i.frames})
            if not span:
                span = list(range(self.catalogue.videos[query_video].num_frames))
            elif cfg.query_frames > 0 and len(span) < cfg.query_frames:
                n = self.catalogue.videos[query_video].num_frames
                lo, hi = span[0], span[-1]
                while hi - lo + 1 < cfg.query_frames and (lo > 0 or hi < n - 1):
                    lo, hi = max(0, lo - 1), min(n - 1, hi + 1)
                span = list(range(lo, hi + 1))
        if cfg.query_frames == 0:
            qframes = tuple(range(self.catalogue.videos[query_video].num_frames))
        else:
            qframes = spread_frames(span, cfg.query_frames, float(rng.random()))
        support = tuple(self._support(rng, w, query_video) for w in ways)
        return EpisodeSpec(ways=tuple(ways), support=support, query_video=query_video, query_frames=qframes,
                           absent=absent, fine_grained=fine)


@dataclass
class Episode:
    """A loaded episode (N ways, K shots, S support frames, T query frames, B bins, H x W pixels).

    Attributes:
        spec: what was loaded.
        support_rgb: float32 (N, K, S, 3, H, W) in [0, 1].
        support_voxel: float32 (N, K, S, B, H, W).
        support_masks: float32 (N, K, S, H, W) in {0, 1}: the object doing the way's motion.
        query_rgb: float32 (T, 3, H, W). query_voxel: float32 (T, B, H, W).
        query_masks: float32 (N, T, H, W) in {0, 1}: per way, the objects doing its motion
            (only on the frames where they do it).
        present: bool (N,): the way's motion is in the query clip (some target pixel).
        motion_labels: int64 (N,) index of each way in ``catalogue.class_names``.
        object_labels: int64 (N, K) index of each shot's object category in
            ``catalogue.object_classes``, -1 when unknown.
        moving_masks: float32 (T, H, W): every moving object of the query (the support-blind
            "moving objects" reference; static distractors excluded).
    """

    spec: EpisodeSpec
    support_rgb: torch.Tensor
    support_voxel: torch.Tensor
    support_masks: torch.Tensor
    query_rgb: torch.Tensor
    query_voxel: torch.Tensor
    query_masks: torch.Tensor
    present: torch.Tensor
    motion_labels: torch.Tensor
    object_labels: torch.Tensor
    moving_masks: torch.Tensor
    info: dict = field(default_factory=dict)

    def as_item(self) -> dict:
        """The episode as a training item (a dict of tensors plus ``info``; stacked by
        :func:`evolve.training.loader.collate_clips`)."""
        return {
            "support_rgb": self.support_rgb, "support_voxel": self.support_voxel, "support_masks": self.support_masks,
            "query_rgb": self.query_rgb, "query_voxel": self.query_voxel, "query_masks": self.query_masks,
            "present": self.present, "motion_labels": self.motion_labels, "object_labels": self.object_labels,
            "moving_masks": self.moving_masks, "info": self.info,
        }


def _way_mask(instances: list[MotionInstance], masks: dict[int, torch.Tensor], frames: Sequence[int]) -> torch.Tensor:
    """OR of the instances' masks, each only on the frames where it performs the motion."""
    ref = next(iter(masks.values()))
    out = torch.zeros_like(ref, dtype=torch.bool)
    for inst in instances:
        valid = torch.tensor([t in set(inst.frames) for t in frames], dtype=torch.bool)
        out |= masks[inst.object_id] & valid[:, None, None]
    return out


def load_episode(source: MotionSource, spec: EpisodeSpec, config: EpisodeConfig) -> Episode:
    """Read an episode's clips (all resized to the config's size, or the query's native size).

    Raises:
        InputError: a support clip whose masks are all empty (naming the video's mask file or
            folder, the motion and the frames); reader errors (missing files).
    """
    cat = source.catalogue
    qvid = cat.videos[spec.query_video]
    moving_ids = sorted({i.object_id for i in qvid.instances})
    query = source.load_clip(spec.query_video, spec.query_frames, moving_ids, config.size, config.num_bins)
    size = tuple(query.rgb.shape[-2:])
    T = len(spec.query_frames)
    query_masks = []
    for w in spec.ways:
        inst = cat.instances(spec.query_video, w)
        query_masks.append(_way_mask(inst, query.masks, spec.query_frames) if inst else torch.zeros(T, *size, dtype=torch.bool))
    moving = torch.zeros(T, *size, dtype=torch.bool)
    for k in moving_ids:
        moving |= query.masks[k]
    s_rgb, s_vox, s_mask, obj_labels = [], [], [], []
    for w, shots in zip(spec.ways, spec.support):
        rgbs, voxs, masks, objs = [], [], [], []
        for shot in shots:
            clip = source.load_clip(shot.video, shot.frames, shot.object_ids, size, config.num_bins)
            inst = cat.instances(shot.video, w)
            m = _way_mask(inst, clip.masks, shot.frames)
            if not bool(m.any()):
                raise InputError(source.mask_location(shot.video),
                                 f"the support clip of motion {w!r} (video {shot.video!r}, frames {list(shot.frames)}, objects {list(shot.object_ids)}) has only empty masks",
                                 "fix the video's masks or its record (visible_area / action frames), or remove the video from the split")
            rgbs.append(clip.rgb)
            voxs.append(clip.voxel)
            masks.append(m)
            oc = inst[0].object_class if inst else None
            objs.append(cat.object_classes.index(oc) if oc in cat.object_classes else -1)
        s_rgb.append(torch.stack(rgbs))
        s_vox.append(torch.stack(voxs))
        s_mask.append(torch.stack(masks))
        obj_labels.append(objs)
    qm = torch.stack(query_masks).float()  # (N, T, H, W)
    names = cat.class_names
    return Episode(
        spec=spec,
        support_rgb=torch.stack(s_rgb), support_voxel=torch.stack(s_vox), support_masks=torch.stack(s_mask).float(),
        query_rgb=query.rgb, query_voxel=query.voxel, query_masks=qm,
        present=qm.flatten(1).any(dim=1),
        motion_labels=torch.tensor([names.index(w) for w in spec.ways], dtype=torch.int64),
        object_labels=torch.tensor(obj_labels, dtype=torch.int64),
        moving_masks=moving.float(),
        info={"ways": list(spec.ways), "query_video": spec.query_video, "query_frames": list(spec.query_frames),
              "support_videos": [[s.video for s in shots] for shots in spec.support], "absent": spec.absent,
              "fine_grained": spec.fine_grained, "frame_names": query.frame_names},
    )


class EpisodeDataset(Dataset):
    """Training episodes as a Dataset keyed ``(index, seed)`` (:mod:`evolve.training.sampling`).

    ``len`` is ``config.num_episodes`` (an epoch); the episode of a key depends only on the key.
    """

    def __init__(self, source: MotionSource, config: EpisodeConfig, role: str = "train") -> None:
        self.source, self.config = source, config
        self.sampler = EpisodeSampler(source.catalogue, config, role)

    def __len__(self) -> int:
        return self.config.num_episodes

    def __getitem__(self, key: tuple[int, int]) -> dict:
        index, seed = key
        return load_episode(self.source, self.sampler.sample(index, seed), self.config).as_item()
