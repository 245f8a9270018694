"""Procedural motion / referring videos: objects with a motion class, attributes and expressions.

The data behind the few-shot motion (MOVE/DMA) and referring (SgMg) systems without downloads
(DESIGN 9, docs/procedural.md). Every object has an appearance (shape, colour, texture, size)
drawn independently of its motion, which is one of the 24 classes of
:mod:`evolve.synthesis.motions` or ``"static"`` (a distractor). Three groups of videos:

- ``query`` (``--kind motion``): 1-3 moving objects doing different classes of ONE fold
  (so a video never mixes folds and episode samplers cannot leak a test-fold class into
  training), plus 0-2 static distractors;
- ``support`` (``--kind motion``): exactly one moving object of a given class, plus 0-1
  static distractor; ``support_train`` / ``support_val`` clips per class and split;
- ``referring`` (``--kind referring``): 2-3 moving objects of any classes plus 1-2 static
  ones, and objects often share a shape or a colour, so relations and motions are needed.

``--kind both`` makes all three. Every video has exact masks (the top-most object owns a
pixel; static objects lie below moving ones), a textured static background (fixed camera:
events come from the objects and the low-light noise), referring expressions
(:mod:`evolve.synthesis.expressions`) and a JSON record. Layout::

    <root>/DAVIS/JPEGImages/480p/<seq>/00000.jpg      normal light (DAVIS 2017 layout)
    <root>/DAVIS/Annotations/480p/<seq>/00000.png     palette masks, ids 1..N (= record ids)
    <root>/DAVIS/ImageSets/2017/{train,val}.txt
    <root>/DAVIS/Procedural/<seq>.json                the record (written last per video)
    <root>/DAVIS/Procedural/classes.json              classes, vocabularies, config
    <root>/LLE_DAVIS/trainval_480p/...                the LLE-DAVIS conversion (low light + events)
    <root>/LLE_DAVIS/trainval_480p/Procedural/...     copies of the records and classes.json
    <root>/procedural.json                            written last: the dataset is complete

Everything is seeded by ``(seed, sequence name, purpose)``, so one config gives byte-identical
videos, records and conversions.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from evolve.data.image_io import davis_palette, write_frame, write_mask
from evolve.data.procedural import CLASSES_FILE, RECORD_DIR
from evolve.synthesis.appearance import (
    COLOUR_NAMES,
    COLOURS,
    HELD_OUT_PAIRS,
    SHAPES,
    SIZE_RANGES,
    TEXTURES,
    TRAIN_PAIRS,
    is_held_out,
    texture_sprite,
)
from evolve.synthesis.config import SimulatorConfig, SynthesisConfig, config_to_dict
from evolve.synthesis.drawing import (
    SPRITE_RADIUS,
    paint_sprite,
    shape_mask,
    sprite_transform,
    textured_background,
    warp_sprite_mask,
)
from evolve.synthesis.expressions import (
    DIRECTION_AMBIGUITY,
    MOTION_PHRASES,
    MOTION_WORDS,
    RELATION_MARGIN,
    RELATION_SLACK,
    RELATIONS,
    generate_expressions,
)
from evolve.synthesis.generated import built_with, remove_generated, seeded_synthesis
from evolve.synthesis.motions import (
    MOTION_CLASSES,
    MOTION_NAMES,
    MOTION_PARENTS,
    NUM_FOLDS,
    STATIC,
    Trajectory,
    classes_in_fold,
    motion_class,
    motion_fold,
    motion_parent,
    sample_trajectory,
)
from evolve.utils.atomic import atomic_open
from evolve.utils.concurrency import exclusive_lock, torch_threads
from evolve.utils.errors import InputError
from evolve.utils.seeding import numpy_rng

GENERATOR_VERSION = 1
GROUPS = ("query", "support", "referring")
KINDS: dict[str, tuple[str, ...]] = {
    "motion": ("query", "support"),
    "referring": ("referring",),
    "both": ("query", "support", "referring"),
}
MARKER = "procedural.json"
BUILDING = "procedural.building.json"  # the fingerprint of the build in progress


def _default_synthesis() -> SynthesisConfig:
    # A fixed contrast threshold: calibrating a static-camera scene to LLE-DAVIS's 0.8
    # events/pixel would push the threshold into the noise floor.
    return SynthesisConfig(target_density=None, voxels=False, simulator=SimulatorConfig(contrast_threshold=0.2))


@dataclass
class ProceduralConfig:
    """Size and content of a procedural dataset (docs/procedural.md).

    Attributes:
        height, width: frame size in pixels (>= 48 each).
        kind: ``motion`` (query + support videos), ``referring`` or ``both``.
        num_train, num_val: query videos AND referring videos per split (each group).
        support_train, support_val: support clips per motion class and split.
        min_frames, max_frames: frames per video, drawn uniformly per video (>= 5: a support
            clip gives 5 sampled frames).
        query_moving, query_static: (min, max) moving objects (distinct classes of one fold)
            and static distractors of a query video.
        support_static: (min, max) static distractors of a support clip.
        referring_moving, referring_static: the same for referring videos (classes of any fold).
        collision_prob: referring videos: chance that an object copies the shape or the colour
            of an earlier object (so attributes alone do not always tell objects apart).
        heldout_in_val: every val video holds one object with a held-out (colour, shape) pair.
        min_first_visible: every object shows at least this share of itself in frame 0.
        min_mean_visible: every moving object shows at least this share on average.
        max_tries: object placements tried per video before keeping the best one.
        seed: seed of the generator and of the LLE conversion.
        synthesis: the low-light + event conversion settings (same pipeline as real data).
    """

    height: int = 96
    width: int = 96
    kind: str = "both"
    num_train: int = 32
    num_val: int = 12
    support_train: int = 3
    support_val: int = 2
    min_frames: int = 14
    max_frames: int = 18
    query_moving: tuple[int, int] = (1, 3)
    query_static: tuple[int, int] = (0, 2)
    support_static: tuple[int, int] = (0, 1)
    referring_moving: tuple[int, int] = (2, 3)
    referring_static: tuple[int, int] = (1, 2)
    collision_prob: float = 0.5
    heldout_in_val: bool = True
    min_first_visible: float = 0.6
    min_mean_visible: float = 0.6
    max_tries: int = 80
    seed: int = 0
    synthesis: SynthesisConfig = field(default_factory=_default_synthesis)

    def __post_init__(self) -> None:
        def bad(problem: str, fix: str) -> InputError:
            return InputError(None, f"procedural settings: {problem}", fix)

        if self.height < 48 or self.width < 48:
            raise bad(f"frames of {self.width}x{self.height} are too small", "use a size of at least 48 pixels")
        if self.kind not in KINDS:
            raise bad(f"unknown kind {self.kind!r}", f"use one of {', '.join(KINDS)}")
        if min(self.num_train, self.support_train) < 0 or min(self.num_val, self.support_val) < 0:
            raise bad("negative video counts", "give counts >= 0")
        if not 5 <= self.min_frames <= self.max_frames:
            raise bad(f"frames {self.min_frames}..{self.max_frames}", "need 5 <= min_frames <= max_frames")
        per_fold = len(MOTION_CLASSES) // NUM_FOLDS
        for name, (lo, hi), top in (
            ("query_moving", self.query_moving, per_fold),
            ("referring_moving", self.referring_moving, len(MOTION_CLASSES)),
        ):
            if not 1 <= lo <= hi <= top:
                raise bad(f"{name} = ({lo}, {hi})", f"need 1 <= min <= max <= {top} (distinct classes per video)")
        for name, (lo, hi) in (("query_static", self.query_static), ("support_static", self.support_static), ("referring_static", self.referring_static)):
            if not 0 <= lo <= hi <= 4:
                raise bad(f"{name} = ({lo}, {hi})", "need 0 <= min <= max <= 4")
        for name in ("collision_prob", "min_first_visible", "min_mean_visible"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise bad(f"{name} = {getattr(self, name)}", "give a value in [0, 1]")
        if self.max_tries < 1:
            raise bad("max_tries < 1", "try at least one placement")
        per_split = (self.num_train + self.num_val) * sum(g in self.groups for g in ("query", "referring"))
        support = (self.support_train + self.support_val) * len(MOTION_CLASSES) if "support" in self.groups else 0
        if per_split + support == 0:
            raise bad(f"kind {self.kind!r} with these counts makes no video", "raise --num-train (or the support counts)")

    @property
    def groups(self) -> tuple[str, ...]:
        """The video groups this kind makes."""
        return KINDS[self.kind]


@dataclass(frozen=True)
class VideoSpec:
    """What one video holds (before any random appearance or placement).

    Attributes:
        name: sequence name.
        split: ``train`` or ``val``.
        group: ``query``, ``support`` or ``referring``.
        motions: the moving objects' classes (distinct).
        num_static: static distractors.
        fold: the fold of every moving class (query and support videos), else ``None``.
        support_class: the class of a support clip, else ``None``.
    """

    name: str
    split: str
    group: str
    motions: tuple[str, ...]
    num_static: int
    fold: Optional[int] = None
    support_class: Optional[str] = None


def support_spec(name: str, split: str, motion: str, num_static: int = 0) -> VideoSpec:
    """The spec of a support clip: one moving object of class ``motion``.

    Raises:
        InputError: unknown class, ``"static"`` requested, bad split or static count.
    """
    if motion == STATIC:
        raise InputError(None, "a support clip needs a motion class, got 'static'", f"choose one of {', '.join(MOTION_NAMES)}")
    cls = motion_class(motion)
    if split not in ("train", "val"):
        raise InputError(None, f"unknown split {split!r}", "use 'train' or 'val'")
    if not 0 <= num_static <= 4:
        raise InputError(None, f"{num_static} static distractors", "use 0..4")
    return VideoSpec(name, split, "support", (motion,), num_static, cls.fold, motion)


def dataset_specs(cfg: ProceduralConfig) -> list[VideoSpec]:
    """Every video of the dataset, in a fixed order (train then val; query, support, referring).

    Query video ``i`` uses fold ``i % 4`` (balanced folds); its classes, object counts and
    the referring videos' classes are drawn from generators seeded by ``(seed, name)``.
    """
    specs: list[VideoSpec] = []
    counts = {"train": (cfg.num_train, cfg.support_train), "val": (cfg.num_val, cfg.support_val)}
    for split in ("train", "val"):
        n_videos, n_support = counts[split]
        if "query" in cfg.groups:
            for i in range(n_videos):
                name = f"proc-q-{split}-{i:03d}"
                rng = numpy_rng(cfg.seed, "procedural-spec", name)
                fold = i % NUM_FOLDS
                k = int(rng.integers(cfg.query_moving[0], cfg.query_moving[1] + 1))
                motions = tuple(str(m) for m in rng.choice(classes_in_fold(fold), size=k, replace=False))
                n_static = int(rng.integers(cfg.query_static[0], cfg.query_static[1] + 1))
                specs.append(VideoSpec(name, split, "query", motions, n_static, fold))
        if "support" in cfg.groups:
            for cls in MOTION_CLASSES:
                for j in range(n_support):
                    name = f"proc-s-{split}-{cls.name}-{j:02d}"
                    rng = numpy_rng(cfg.seed, "procedural-spec", name)
                    n_static = int(rng.integers(cfg.support_static[0], cfg.support_static[1] + 1))
                    specs.append(support_spec(name, split, cls.name, n_static))
        if "referring" in cfg.groups:
            for i in range(n_videos):
                name = f"proc-r-{split}-{i:03d}"
                rng = numpy_rng(cfg.seed, "procedural-spec", name)
                k = int(rng.integers(cfg.referring_moving[0], cfg.referring_moving[1] + 1))
                motions = tuple(str(m) for m in rng.choice(MOTION_NAMES, size=k, replace=False))
                n_static = int(rng.integers(cfg.referring_static[0], cfg.referring_static[1] + 1))
                specs.append(VideoSpec(name, split, "referring", motions, n_static))
    return specs


# ---------------------------------------------------------------------------- planning
@dataclass
class PlannedObject:
    """One object of a planned video (everything needed to draw it and write its record).

    Attributes:
        id: mask id (1..N).
        shape, colour, texture, size: appearance words; ``size_px`` the circumradius at scale 1.
        motion: class name or ``"static"``.
        layer: paint order (0 = bottom).
        angle0: initial rotation, degrees.
        trajectory: the class trajectory (offsets already shrunk to fit the frame, if needed).
        anchor: (2,) the point the offsets are relative to, pixels.
        sprite: float32 (S, S, 3) colours; mask: uint8 (S, S) shape.
    """

    id: int
    shape: str
    colour: str
    texture: str
    size: str
    size_px: float
    motion: str
    layer: int
    angle0: float
    trajectory: Trajectory
    sprite: np.ndarray
    mask: np.ndarray
    anchor: np.ndarray = field(default_factory=lambda: np.zeros(2))

    def centres(self) -> np.ndarray:
        """float64 (T, 2) centre (x, y) per frame, pixels (the shape's circumcircle centre)."""
        return self.anchor[None, :] + self.trajectory.offsets

    def angles(self) -> np.ndarray:
        """float64 (T,) rotation per frame, degrees (positive = counter-clockwise on screen)."""
        return self.angle0 + self.trajectory.angle

    def matrix(self, t: int) -> np.ndarray:
        """(2, 3) sprite-to-frame affine of frame ``t``."""
        c = self.anchor + self.trajectory.offsets[t]
        return sprite_transform(c, float(self.angle0 + self.trajectory.angle[t]), self.size_px / SPRITE_RADIUS * float(self.trajectory.scale[t]))


@dataclass
class VideoPlan:
    """A planned video: its spec, length, background and objects (in id order)."""

    spec: VideoSpec
    num_frames: int
    background: np.ndarray  # float32 (H, W, 3)
    objects: list[PlannedObject]
    visible_area: np.ndarray  # int64 (N, T) pixels each object owns, in id order
    full_area: np.ndarray  # int64 (N, T) pixels each object covers without occlusion


def _appearances(cfg: ProceduralConfig, spec: VideoSpec, n: int, rng: np.random.Generator) -> list[tuple[str, str, str, str, float]]:
    """(shape, colour, texture, size, size_px) per object, independent of the motions."""
    d = min(cfg.height, cfg.width)
    held = int(rng.integers(n)) if (spec.split == "val" and cfg.heldout_in_val) else -1
    pairs: list[tuple[str, str]] = []
    for i in range(n):
        if i == held:
            colour, shape = HELD_OUT_PAIRS[int(rng.integers(len(HELD_OUT_PAIRS)))]
        elif spec.group == "referring" and i > 0 and rng.uniform() < cfg.collision_prob:
            src = pairs[int(rng.integers(i))]
            if rng.uniform() < 0.5:  # same colour, another allowed shape
                options = [s for s in SHAPES if (src[0], s) in TRAIN_PAIRS]
                colour, shape = src[0], options[int(rng.integers(len(options)))]
            else:  # same shape, another allowed colour
                options = [c for c in COLOUR_NAMES if (c, src[1]) in TRAIN_PAIRS]
                colour, shape = options[int(rng.integers(len(options)))], src[1]
        else:
            colour, shape = TRAIN_PAIRS[int(rng.integers(len(TRAIN_PAIRS)))]
        pairs.append((colour, shape))
    out = []
    for colour, shape in pairs:
        texture = TEXTURES[int(rng.integers(len(TEXTURES)))]
        size = tuple(SIZE_RANGES)[int(rng.integers(len(SIZE_RANGES)))]
        size_px = float(rng.uniform(*SIZE_RANGES[size]) * d)
        out.append((shape, colour, texture, size, size_px))
    return out


def _fit_offsets(traj: Trajectory, radius: float, h: int, w: int) -> tuple[float, float, float, float]:
    """Shrink ``traj.offsets`` in place (isotropically) until an object of ``radius`` can follow
    it inside the frame; return the feasible anchor box (x_lo, x_hi, y_lo, y_hi)."""
    off = traj.offsets
    room = np.array([w - 2.0 * radius, h - 2.0 * radius])
    ext = np.ptp(off, axis=0)
    factor = float(min(1.0, *(room[i] / ext[i] if ext[i] > 1e-9 else 1.0 for i in range(2))))
    if factor < 1.0:
        factor *= 0.98
        traj.offsets = off * factor
        traj.params["path_shrink"] = factor
        off = traj.offsets
    lo = off.min(0)
    hi = off.max(0)
    return radius - lo[0], w - radius - hi[0], radius - lo[1], h - radius - hi[1]


def _areas(objects: list[PlannedObject], order: list[int], t_len: int, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """(visible, full) int64 (N, T) pixel counts for objects painted in ``order`` (indices)."""
    n = len(objects)
    vis = np.zeros((n, t_len), np.int64)
    full = np.zeros((n, t_len), np.int64)
    for t in range(t_len):
        ids = np.zeros((h, w), np.int16)
        for k in order:
            inside = warp_sprite_mask(objects[k].mask, objects[k].matrix(t), h, w)
            full[k, t] = int(inside.sum())
            ids[inside] = k + 1
        counts = np.bincount(ids.ravel(), minlength=n + 1)
        vis[:, t] = counts[1:]
    return vis, full


def plan_video(cfg: ProceduralConfig, spec: VideoSpec) -> VideoPlan:
    """Draw a video's length, background, objects (appearance, trajectory, placement).

    Placement: each object's anchor is uniform over the positions that keep its whole path in
    the frame (a path too long for the frame is shrunk about its centre first; the record's
    trajectory is the shrunk one). Up to ``cfg.max_tries`` placements are drawn; the first
    where every object shows ``min_first_visible`` of itself in frame 0 and every moving
    object ``min_mean_visible`` on average (and never disappears) is kept, else the best.

    Raises:
        InputError: an unknown motion class in ``spec``.
    """
    for m in spec.motions:
        motion_class(m)
    h, w = cfg.height, cfg.width
    d = float(min(h, w))
    rng = numpy_rng(cfg.seed, "procedural", spec.name)
    t_len = int(rng.integers(cfg.min_frames, cfg.max_frames + 1))
    motions = list(spec.motions) + [STATIC] * spec.num_static
    n = len(motions)
    looks = _appearances(cfg, spec, n, rng)
    ids = rng.permutation(n) + 1  # object k gets mask id ids[k]
    statics = [k for k in range(n) if motions[k] == STATIC]
    movers = [k for k in range(n) if motions[k] != STATIC]
    order = [int(k) for k in rng.permutation(statics)] + [int(k) for k in rng.permutation(movers)]
    objects = []
    for k in range(n):
        shape, colour, texture, size, size_px = looks[k]
        sprite = texture_sprite(texture, colour, rng)
        mask = shape_mask(shape, rng)
        traj = sample_trajectory(motions[k], t_len, d, rng)
        objects.append(
            PlannedObject(int(ids[k]), shape, colour, texture, size, size_px, motions[k], order.index(k),
                          float(rng.uniform(0, 360)), traj, sprite, mask)
        )
    boxes = [_fit_offsets(o.trajectory, o.size_px * float(o.trajectory.scale.max()) + 1.0, h, w) for o in objects]
    place = numpy_rng(cfg.seed, "procedural", spec.name, "placement")
    best = None
    for _ in range(cfg.max_tries):
        for o, (x0, x1, y0, y1) in zip(objects, boxes):
            o.anchor = np.array([place.uniform(x0, max(x0, x1)), place.uniform(y0, max(y0, y1))])
        vis, full = _areas(objects, order, t_len, h, w)
        ratio = vis / np.maximum(full, 1)
        first = float(ratio[:, 0].min())
        mean = float(ratio[movers].mean(1).min()) if movers else 1.0
        low = float(ratio[movers].min()) if movers else 1.0
        score = min(first / max(cfg.min_first_visible, 1e-9), mean / max(cfg.min_mean_visible, 1e-9), 1.0) + (low > 0)
        if best is None or score > best[0]:
            best = (score, [o.anchor.copy() for o in objects], vis, full)
        if first >= cfg.min_first_visible and mean >= cfg.min_mean_visible and low > 0:
            break
    _, anchors, vis, full = best
    for o, a in zip(objects, anchors):
        o.anchor = a
    bg = textured_background(h, w, numpy_rng(cfg.seed, "procedural", spec.name, "background"))
    by_id = np.argsort(ids)  # object indices in id order
    return VideoPlan(spec, t_len, bg, [objects[k] for k in by_id], vis[by_id], full[by_id])


def render_plan(plan: VideoPlan) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Draw a planned video.

    Returns:
        ``(frames, masks)``: T uint8 (H, W, 3) RGB frames and T uint8 (H, W) id masks
        (0 background, object ids as in the plan; the top-most object owns a pixel).
    """
    h, w = plan.background.shape[:2]
    painting = sorted(plan.objects, key=lambda o: o.layer)
    frames, masks = [], []
    for t in range(plan.num_frames):
        img = plan.background.copy()
        ids = np.zeros((h, w), np.uint8)
        for o in painting:
            paint_sprite(img, ids, o.sprite, o.mask, o.matrix(t), o.id)
        frames.append(np.clip(img * 255.0 + 0.5, 0, 255).astype(np.uint8))
        masks.append(ids)
    return frames, masks


def plan_record(cfg: ProceduralConfig, plan: VideoPlan) -> dict:
    """The JSON record of a planned video (docs/procedural.md "Record"), expressions included.

    Geometry is stored at full float precision, so the record alone redraws the masks exactly
    (shape, ``size_px``, ``centre``, ``angle``, ``scale``, ``layer``)."""
    spec = plan.spec
    objects = []
    for k, o in enumerate(plan.objects):
        objects.append(
            {
                "id": o.id,
                "shape": o.shape,
                "colour": o.colour,
                "texture": o.texture,
                "size": o.size,
                "size_px": float(o.size_px),
                "motion": o.motion,
                "motion_parent": motion_parent(o.motion),
                "fold": motion_fold(o.motion),
                "moving": o.motion != STATIC,
                "centre": [[float(x), float(y)] for x, y in o.centres()],
                "scale": [float(s) for s in o.trajectory.scale],
                "visible_area": [int(a) for a in plan.visible_area[k]],
                # added fields
                "angle": [float(a) for a in o.angles()],
                "full_area": [int(a) for a in plan.full_area[k]],
                "layer": o.layer,
                "held_out": is_held_out(o.colour, o.shape),
                "trajectory_params": {key: (round(v, 4) if isinstance(v, float) else v) for key, v in o.trajectory.params.items()},
            }
        )
    rng = numpy_rng(cfg.seed, "procedural", spec.name, "expressions")
    return {
        "sequence": spec.name,
        "height": cfg.height,
        "width": cfg.width,
        "num_frames": plan.num_frames,
        "frame_names": [f"{t:05d}" for t in range(plan.num_frames)],
        "objects": objects,
        "expressions": generate_expressions(objects, cfg.height, cfg.width, rng),
        # added fields
        "split": spec.split,
        "group": spec.group,
        "fold": spec.fold,
        "support_class": spec.support_class,
        "generator_version": GENERATOR_VERSION,
    }


def render_video(cfg: ProceduralConfig, spec: VideoSpec) -> tuple[list[np.ndarray], list[np.ndarray], dict]:
    """Plan, draw and describe one video: ``(frames, masks, record)`` (see :func:`render_plan`)."""
    plan = plan_video(cfg, spec)
    frames, masks = render_plan(plan)
    return frames, masks, plan_record(cfg, plan)


# ---------------------------------------------------------------------------- writing
def classes_document(cfg: ProceduralConfig, specs: list[VideoSpec]) -> dict:
    """The dataset-level ``classes.json``: classes, hierarchy, folds, vocabularies, grammar, config."""
    d = min(cfg.height, cfg.width)
    return {
        "generator_version": GENERATOR_VERSION,
        "motion_classes": [
            {"name": c.name, "parent": c.parent, "fold": c.fold, "phrase": c.phrase, "description": c.description} for c in MOTION_CLASSES
        ],
        "parents": list(MOTION_PARENTS),
        "folds": {str(f): classes_in_fold(f) for f in range(NUM_FOLDS)},
        "static": STATIC,
        "shapes": list(SHAPES),
        "colours": {k: list(v) for k, v in COLOURS.items()},
        "textures": list(TEXTURES),
        "sizes": {k: {"fraction_of_min_side": list(v), "radius_px": [round(v[0] * d, 2), round(v[1] * d, 2)]} for k, v in SIZE_RANGES.items()},
        "held_out_pairs": [list(p) for p in HELD_OUT_PAIRS],
        "grammar": {
            "relations": list(RELATIONS),
            "relation_margin": RELATION_MARGIN,
            "relation_slack": RELATION_SLACK,
            "direction_ambiguity": DIRECTION_AMBIGUITY,
            "motion_words": {k: list(v) for k, v in MOTION_WORDS.items()},
            "motion_phrases": MOTION_PHRASES,
        },
        "config": config_to_dict(cfg),
        "splits": {s: [v.name for v in specs if v.split == s] for s in ("train", "val")},
        "groups": {g: [v.name for v in specs if v.group == g] for g in GROUPS},
    }


def _write_json(path: Path, obj: dict) -> None:
    text = json.dumps(obj, indent=1, sort_keys=True) + "\n"
    if path.is_file() and path.read_text() == text:
        return
    with atomic_open(path, "w") as fh:
        fh.write(text)


def write_procedural_source(root: str | os.PathLike, cfg: ProceduralConfig, log: Callable[[str], None] | None = None) -> list[VideoSpec]:
    """Render every video into DAVIS 2017 format under ``root`` (records in ``root/Procedural``).

    A video whose record already exists is kept (the record is written after its frames and
    masks), so an interrupted run resumes. Returns the specs of all videos.
    """
    root = Path(root)
    palette = davis_palette()
    specs = dataset_specs(cfg)
    made = 0
    for spec in specs:
        rec_path = root / RECORD_DIR / f"{spec.name}.json"
        if rec_path.is_file():
            continue
        frames, masks, record = render_video(cfg, spec)
        for t, (f, m) in enumerate(zip(frames, masks)):
            write_frame(root / "JPEGImages" / "480p" / spec.name / f"{t:05d}.jpg", f, quality=95)
            write_mask(root / "Annotations" / "480p" / spec.name / f"{t:05d}.png", m, palette)
        _write_json(rec_path, record)
        made += 1
    if log:
        log(f"procedural: {made} video(s) rendered, {len(specs) - made} kept")
    for split in ("train", "val"):
        with atomic_open(root / "ImageSets" / "2017" / f"{split}.txt", "w") as fh:
            fh.write("".join(f"{s.name}\n" for s in specs if s.split == split))
    _write_json(root / RECORD_DIR / CLASSES_FILE, classes_document(cfg, specs))
    return specs


def procedural_fingerprint(cfg: ProceduralConfig) -> str:
    """SHA-256 of the config and the generator version."""
    blob = json.dumps({"version": GENERATOR_VERSION, "config": config_to_dict(cfg)}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def ensure_procedural_dataset(
    root: str | os.PathLike,
    config: ProceduralConfig | None = None,
    device: str = "cpu",
    progress: bool = False,
    log: Callable[[str], None] | None = None,
) -> Path:
    """Make sure the procedural dataset exists under ``root``; return its LLE-DAVIS root.

    Idempotent and safe from several processes at once (an exclusive file lock;
    ``<root>/procedural.json``, written last, marks a complete dataset); an interrupted run
    resumes (rendered videos and converted sequences are kept). A dataset built with another
    config (complete, or interrupted: ``procedural.building.json`` holds the fingerprint of the
    build in progress) is removed and rebuilt. Torch runs with one intra-op thread meanwhile.

    Args:
        root: folder for the dataset (created if needed).
        config: settings (default :class:`ProceduralConfig`).
        device: where the event simulator runs.
        progress: show tqdm bars.
        log: one-line message callback (``None`` = silent).

    Returns:
        ``<root>/LLE_DAVIS`` (holding ``trainval_480p``, with ``Procedural/<seq>.json`` records).

    Raises:
        InputError: ``root`` exists and is not a folder.
    """
    from evolve.synthesis.convert import LLE_SUBDIR, convert_dataset

    cfg = config or ProceduralConfig()
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise InputError(root, "procedural root exists and is not a folder", "pass a folder path for the procedural dataset")
    lle_root = root / "LLE_DAVIS"
    marker = root / MARKER
    fp = procedural_fingerprint(cfg)
    with exclusive_lock(root / ".procedural.lock"), torch_threads(1):
        if built_with(marker, fp):
            return lle_root
        if marker.is_file():
            remove_generated(root)
            marker.unlink()
        building = root / BUILDING
        if building.is_file() and not built_with(building, fp):  # an interrupted build with other settings: start again
            remove_generated(root)
        with atomic_open(building, "w") as fh:
            json.dump({"fingerprint": fp}, fh)
        if log:
            log(f"procedural dataset ({cfg.kind}): generating under {root}")
        specs = write_procedural_source(root / "DAVIS", cfg, log)
        convert_dataset(root / "DAVIS", lle_root, seeded_synthesis(cfg.synthesis, cfg.seed), device=device, progress=progress, log=log)
        src, dst = root / "DAVIS" / RECORD_DIR, lle_root / LLE_SUBDIR / RECORD_DIR
        for fname in [f"{s.name}.json" for s in specs] + [CLASSES_FILE]:
            _write_json(dst / fname, json.loads((src / fname).read_text()))
        with atomic_open(marker, "w") as fh:
            json.dump({"fingerprint": fp, "config": config_to_dict(cfg), "generator_version": GENERATOR_VERSION}, fh, indent=2, sort_keys=True)
        building.unlink()
    return lle_root


