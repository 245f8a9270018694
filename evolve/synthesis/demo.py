"""The embedded demo dataset: procedural multi-object videos with exact masks.

Each video shows 2-3 textured objects (distinct shapes, textures and colours) that travel
across the frame (at least ``travel_fraction`` of the width), grow or shrink, rotate and
occlude each other (the first two cross paths) over a textured background that pans. Masks
are exact: a pixel's id is the top-most object painted there. The videos are written in
DAVIS 2017 format and then converted by the same pipeline as real data
(:func:`evolve.synthesis.convert.convert_dataset`) into LLE-DAVIS format::

    <root>/DAVIS/JPEGImages/480p/<seq>/00000.jpg     normal light (DAVIS 2017 layout)
    <root>/DAVIS/Annotations/480p/<seq>/00000.png    palette masks, ids 1..N
    <root>/DAVIS/ImageSets/2017/{train,val}.txt
    <root>/LLE_DAVIS/trainval_480p/...               the LLE-DAVIS conversion
    <root>/demo.json                                 written last: the dataset is complete

Everything is seeded, so the same config gives byte-identical masks and frames.
Copying the first-frame mask to every frame scores poorly on it (docs/synthesis.md), while
appearance makes the objects easy to tell apart, so a model can learn it in minutes.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Tuple

import numpy as np

from evolve.data.image_io import davis_palette, write_frame, write_mask
from evolve.synthesis.config import SynthesisConfig, config_to_dict
from evolve.synthesis.drawing import (
    SPRITE,
    demo_texture,
    hsv_to_rgb,
    paint_sprite,
    shape_mask,
    sprite_transform,
    textured_background,
)
from evolve.synthesis.generated import built_with, remove_generated, seeded_synthesis
from evolve.utils.atomic import atomic_open
from evolve.utils.concurrency import exclusive_lock, torch_threads
from evolve.utils.errors import InputError
from evolve.utils.seeding import numpy_rng

SHAPES = ("ellipse", "rectangle", "triangle", "star", "cross", "hexagon")
TEXTURES = ("stripes", "checker", "dots", "rings", "gradient")
_SPRITE = SPRITE  # canonical sprite size in pixels


@dataclass
class DemoConfig:
    """Size and motion of the demo dataset.

    Attributes:
        height, width: frame size in pixels.
        num_train, num_val: number of sequences per split.
        min_frames, max_frames: frames per sequence, drawn uniformly per sequence.
        min_objects, max_objects: objects per sequence.
        object_size: base object radius as a fraction of ``min(height, width)``.
        scale_change: (min, max) ratio between the end and start scale (or its inverse).
        travel_fraction: minimum distance an object's centre travels, as a fraction of the width.
        background_speed: (min, max) background pan in pixels per frame.
        seed: seed of the generator (and of the LLE conversion).
        synthesis: the conversion settings (same pipeline as real data).
    """

    height: int = 128
    width: int = 128
    num_train: int = 12
    num_val: int = 4
    min_frames: int = 16
    max_frames: int = 24
    min_objects: int = 2
    max_objects: int = 3
    object_size: float = 0.16
    scale_change: Tuple[float, float] = (1.4, 1.9)
    travel_fraction: float = 0.5
    background_speed: Tuple[float, float] = (0.5, 2.0)
    seed: int = 0
    synthesis: SynthesisConfig = field(default_factory=lambda: SynthesisConfig(target_density=0.8, voxels=False))

    def __post_init__(self) -> None:
        if self.height < 32 or self.width < 32:
            raise ValueError("demo frames must be at least 32x32")
        if self.num_train < 1 or self.num_val < 0:
            raise ValueError("need num_train >= 1 and num_val >= 0")
        if not 3 <= self.min_frames <= self.max_frames:
            raise ValueError("need 3 <= min_frames <= max_frames")
        if not 1 <= self.min_objects <= self.max_objects <= min(len(SHAPES), len(TEXTURES)):
            raise ValueError(f"need 1 <= min_objects <= max_objects <= {min(len(SHAPES), len(TEXTURES))}")
        if not 0 <= self.travel_fraction <= 0.7:
            raise ValueError("travel_fraction must be in [0, 0.7] (objects must stay in the frame)")

    def sequence_names(self) -> dict[str, list[str]]:
        """``{"train": [...], "val": [...]}`` sequence names."""
        return {
            "train": [f"demo-train-{i:02d}" for i in range(self.num_train)],
            "val": [f"demo-val-{i:02d}" for i in range(self.num_val)],
        }


# ---------------------------------------------------------------------------- drawing
# The primitives live in evolve.synthesis.drawing (shared with the procedural sets); these
# names keep the demo's draws (and so its videos) exactly as before.
_hsv_to_rgb = hsv_to_rgb
_shape_mask = shape_mask
_texture = demo_texture
_background = textured_background


@dataclass
class _Object:
    sprite: np.ndarray  # float32 (S, S, 3)
    mask: np.ndarray  # uint8 (S, S)
    start: np.ndarray  # (2,) centre x, y at frame 0
    end: np.ndarray  # (2,) centre x, y at the last frame
    wobble: float  # perpendicular sway amplitude in pixels
    scale0: float  # pixels per sprite pixel at frame 0
    scale1: float
    angle0: float  # degrees
    spin: float  # degrees per frame


def _plan_objects(cfg: DemoConfig, rng: np.random.Generator, n: int) -> list[_Object]:
    h, w = cfg.height, cfg.width
    shapes = rng.choice(SHAPES, size=n, replace=False)
    textures = rng.choice(TEXTURES, size=n, replace=False)
    hue0 = rng.uniform()
    objs = []
    radius = cfg.object_size * min(h, w)
    margin = np.array([0.18 * w, 0.18 * h])
    lo, hi = margin, np.array([w, h]) - margin
    need = cfg.travel_fraction * w
    for i in range(n):
        hue = hue0 + i / n + rng.uniform(-0.05, 0.05)
        col_a = _hsv_to_rgb(hue, rng.uniform(0.75, 1.0), rng.uniform(0.8, 1.0))
        col_b = _hsv_to_rgb(hue + rng.uniform(-0.08, 0.08), rng.uniform(0.6, 1.0), rng.uniform(0.25, 0.45))
        if i == 1:
            # Cross the first object's path (in the other direction): an occlusion mid-clip.
            start = objs[0].end + rng.normal(0, 0.05 * w, 2)
            end = objs[0].start + rng.normal(0, 0.05 * w, 2)
            start, end = np.clip(start, lo, hi), np.clip(end, lo, hi)
        else:
            for _ in range(1000):
                start, end = rng.uniform(lo, hi), rng.uniform(lo, hi)
                if np.linalg.norm(end - start) >= need:
                    break
        if np.linalg.norm(end - start) < need:  # push apart along their direction
            d = end - start
            d = d / (np.linalg.norm(d) + 1e-9)
            mid = (start + end) / 2
            start, end = np.clip(mid - d * need / 2, lo, hi), np.clip(mid + d * need / 2, lo, hi)
        ratio = rng.uniform(*cfg.scale_change)
        s0 = radius * rng.uniform(0.8, 1.1) / (_SPRITE * 0.46)
        s1 = s0 * ratio
        if rng.uniform() < 0.5:
            s0, s1 = s1, s0
        objs.append(
            _Object(
                sprite=_texture(str(textures[i]), col_a, col_b, rng),
                mask=_shape_mask(str(shapes[i]), rng),
                start=start.astype(np.float64),
                end=end.astype(np.float64),
                wobble=float(rng.uniform(-0.06, 0.06) * w),
                scale0=float(s0),
                scale1=float(s1),
                angle0=float(rng.uniform(0, 360)),
                spin=float(rng.uniform(-4, 4)),
            )
        )
    return objs


def render_sequence(cfg: DemoConfig, name: str) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Render one demo video.

    Args:
        cfg: demo settings.
        name: sequence name (seeds the video together with ``cfg.seed``).

    Returns:
        ``(frames, masks)``: T uint8 (H, W, 3) RGB frames and T uint8 (H, W) id masks
        (0 background, 1..N objects, N = 2 or 3 by default).
    """
    import cv2

    rng = numpy_rng(cfg.seed, "demo", name)
    h, w = cfg.height, cfg.width
    t_len = int(rng.integers(cfg.min_frames, cfg.max_frames + 1))
    n_obj = int(rng.integers(cfg.min_objects, cfg.max_objects + 1))
    pad = int(math.ceil(cfg.background_speed[1] * t_len)) + 2
    bg = _background(h + 2 * pad, w + 2 * pad, rng)
    speed = rng.uniform(*cfg.background_speed)
    ang = rng.uniform(0, 2 * math.pi)
    pan = speed * np.array([math.cos(ang), math.sin(ang)])

    def draw(objs: list[_Object], order: np.ndarray, t: int) -> tuple[np.ndarray, np.ndarray, list[int]]:
        u = t / (t_len - 1)
        # Background: a sub-pixel crop that pans over the larger canvas.
        off = pad + pan * (t - (t_len - 1) / 2)
        m_bg = np.float32([[1, 0, off[0]], [0, 1, off[1]]])
        img = cv2.warpAffine(bg, m_bg, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REFLECT)
        ids = np.zeros((h, w), np.uint8)
        areas = [0] * len(objs)
        for k in order:
            o = objs[k]
            d = o.end - o.start
            perp = np.array([-d[1], d[0]]) / (np.linalg.norm(d) + 1e-9)
            centre = o.start + u * d + perp * o.wobble * math.sin(math.pi * u)
            scale = o.scale0 * (o.scale1 / o.scale0) ** u
            rot = sprite_transform(centre, o.angle0 + o.spin * t, scale)
            areas[k] = paint_sprite(img, ids, o.sprite, o.mask, rot, k + 1)
        return np.clip(img * 255.0 + 0.5, 0, 255).astype(np.uint8), ids, areas

    # Re-plan until every object shows at least 60% of itself in the first frame.
    for _ in range(50):
        objs = _plan_objects(cfg, rng, n_obj)
        order = rng.permutation(n_obj)  # painting order: later ones are in front
        _, ids0, areas0 = draw(objs, order, 0)
        if all((ids0 == k + 1).sum() >= 0.6 * max(a, 1) and a > 0 for k, a in enumerate(areas0)):
            break
    frames, masks = [], []
    for t in range(t_len):
        img, ids, _ = draw(objs, order, t)
        frames.append(img)
        masks.append(ids)
    return frames, masks


# ---------------------------------------------------------------------------- writing
def demo_fingerprint(cfg: DemoConfig) -> str:
    """SHA-256 of the demo config (sizes, seed, synthesis settings)."""
    return hashlib.sha256(json.dumps(config_to_dict(cfg), sort_keys=True).encode()).hexdigest()


def write_demo_source(root: str | os.PathLike, cfg: DemoConfig) -> Path:
    """Render every demo video into DAVIS 2017 format under ``root`` and return ``root``.

    A sequence whose folders already hold the expected frame and mask files is kept as is.
    """
    root = Path(root)
    palette = davis_palette()
    names = cfg.sequence_names()
    for name in names["train"] + names["val"]:
        img_dir = root / "JPEGImages" / "480p" / name
        ann_dir = root / "Annotations" / "480p" / name
        marker = root / "ImageSets" / "demo_done" / f"{name}.txt"
        if marker.is_file():
            continue
        frames, masks = render_sequence(cfg, name)
        for t, (f, m) in enumerate(zip(frames, masks)):
            write_frame(img_dir / f"{t:05d}.jpg", f, quality=95)
            write_mask(ann_dir / f"{t:05d}.png", m, palette)
        with atomic_open(marker, "w") as fh:
            fh.write(f"{len(frames)}\n")
    for split, lst in names.items():
        with atomic_open(root / "ImageSets" / "2017" / f"{split}.txt", "w") as fh:
            fh.write("".join(f"{n}\n" for n in lst))
    return root


# Shared with the procedural sets (evolve.utils.concurrency).
_torch_threads = torch_threads
_locked = exclusive_lock


def ensure_demo_dataset(
    root: str | os.PathLike,
    config: DemoConfig | None = None,
    device: str = "cpu",
    progress: bool = False,
    log: Callable[[str], None] | None = None,
) -> Path:
    """Make sure the demo dataset exists under ``root``; return its LLE-DAVIS root.

    Idempotent and safe to call from several processes at once (e.g. every DDP rank): an
    exclusive file lock serialises them, ``<root>/demo.json`` (written last) marks a complete
    dataset, and an interrupted run resumes (sequences already rendered or converted are
    kept). If ``demo.json`` records a different config, the demo folders are rebuilt.
    Torch runs with one intra-op thread while generating (the frames are small and extra
    threads only add synchronisation); the previous setting is restored.

    Args:
        root: folder for the demo data (created if needed).
        config: demo settings (default :class:`DemoConfig`).
        device: where the event simulator runs.
        progress: show tqdm bars.
        log: one-line message callback (``None`` = silent).

    Returns:
        ``<root>/LLE_DAVIS`` (the folder holding ``trainval_480p``).

    Raises:
        InputError: ``root`` exists and is not a folder.
    """
    from evolve.synthesis.convert import convert_dataset

    cfg = config or DemoConfig()
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise InputError(root, "demo root exists and is not a folder", "pass a folder path for the demo dataset")
    lle_root = root / "LLE_DAVIS"
    marker = root / "demo.json"
    fp = demo_fingerprint(cfg)
    with _locked(root / ".demo.lock"), _torch_threads(1):
        if built_with(marker, fp):
            return lle_root
        if marker.is_file():  # built by us with other settings: rebuild our two folders
            remove_generated(root)
            marker.unlink()
        if log:
            log(f"demo dataset: generating under {root}")
        write_demo_source(root / "DAVIS", cfg)
        convert_dataset(root / "DAVIS", lle_root, seeded_synthesis(cfg.synthesis, cfg.seed), device=device, progress=progress, log=log)
        with atomic_open(marker, "w") as fh:
            json.dump({"fingerprint": fp, "config": config_to_dict(cfg)}, fh, indent=2, sort_keys=True)
    return lle_root
