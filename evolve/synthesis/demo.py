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

import contextlib
import hashlib
import json
import math
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Tuple

import numpy as np

from evolve.data.image_io import davis_palette, write_frame, write_mask
from evolve.synthesis.config import SynthesisConfig, config_to_dict
from evolve.utils.seeding import numpy_rng
from evolve.utils.atomic import atomic_open
from evolve.utils.errors import InputError

SHAPES = ("ellipse", "rectangle", "triangle", "star", "cross", "hexagon")
TEXTURES = ("stripes", "checker", "dots", "rings", "gradient")
_SPRITE = 64  # canonical sprite size in pixels


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
def _hsv_to_rgb(h: float, s: float, v: float) -> np.ndarray:
    import colorsys

    return np.asarray(colorsys.hsv_to_rgb(h % 1.0, s, v), np.float32)


def _shape_mask(shape: str, rng: np.random.Generator) -> np.ndarray:
    """uint8 (S, S) canonical shape mask (1 inside) centred in the sprite."""
    import cv2

    s = _SPRITE
    c = s / 2.0
    r = s * 0.46
    m = np.zeros((s, s), np.uint8)
    if shape == "ellipse":
        cv2.ellipse(m, (int(c), int(c)), (int(r), int(r * rng.uniform(0.55, 0.8))), 0, 0, 360, 1, -1)
        return m
    if shape == "rectangle":
        a = r * rng.uniform(0.55, 0.75)
        pts = [(-r, -a), (r, -a), (r, a), (-r, a)]
    elif shape == "triangle":
        pts = [(r * math.cos(t), r * math.sin(t)) for t in np.deg2rad([-90, 30, 150])]
    elif shape == "star":
        pts = [((r if k % 2 == 0 else 0.45 * r) * math.cos(t), (r if k % 2 == 0 else 0.45 * r) * math.sin(t))
               for k, t in enumerate(np.deg2rad(np.arange(10) * 36 - 90))]
    elif shape == "cross":
        a = r * 0.38
        pts = [(-a, -r), (a, -r), (a, -a), (r, -a), (r, a), (a, a), (a, r), (-a, r), (-a, a), (-r, a), (-r, -a), (-a, -a)]
    else:  # hexagon
        pts = [(r * math.cos(t), r * math.sin(t)) for t in np.deg2rad(np.arange(6) * 60)]
    poly = np.round(np.asarray(pts) + c).astype(np.int32)
    cv2.fillPoly(m, [poly], 1)
    return m


def _texture(kind: str, col_a: np.ndarray, col_b: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """float32 (S, S, 3) sprite colours in [0, 1] mixing two colours with a pattern."""
    s = _SPRITE
    yy, xx = np.mgrid[0:s, 0:s].astype(np.float32) - s / 2.0
    if kind == "stripes":
        ang = rng.uniform(0, math.pi)
        period = rng.uniform(7, 12)
        w = 0.5 + 0.5 * np.sin(2 * math.pi * (xx * math.cos(ang) + yy * math.sin(ang)) / period)
    elif kind == "checker":
        cell = int(rng.integers(7, 11))
        w = (((xx // cell) + (yy // cell)) % 2).astype(np.float32)
    elif kind == "dots":
        cell = rng.uniform(9, 13)
        w = (((xx % cell) - cell / 2) ** 2 + ((yy % cell) - cell / 2) ** 2 < (cell * 0.3) ** 2).astype(np.float32)
    elif kind == "rings":
        period = rng.uniform(7, 11)
        w = 0.5 + 0.5 * np.cos(2 * math.pi * np.sqrt(xx**2 + yy**2) / period)
    else:  # gradient
        ang = rng.uniform(0, 2 * math.pi)
        w = np.clip(0.5 + (xx * math.cos(ang) + yy * math.sin(ang)) / s, 0, 1)
    return (col_a * (1 - w[..., None]) + col_b * w[..., None]).astype(np.float32)


def _background(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """float32 (h, w, 3) muted textured background in [0, 1]."""
    import cv2

    low = rng.uniform(0.25, 0.75, size=(6, 6, 3)).astype(np.float32)
    base = cv2.resize(low, (w, h), interpolation=cv2.INTER_CUBIC)
    mid = cv2.resize(rng.uniform(-1, 1, size=(h // 6, w // 6, 1)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    ang = rng.uniform(0, math.pi)
    grating = np.sin(2 * math.pi * (xx * math.cos(ang) + yy * math.sin(ang)) / rng.uniform(14, 24))
    img = base + 0.10 * mid[..., None] + 0.06 * grating[..., None]
    gray = img.mean(-1, keepdims=True)
    img = gray + 0.45 * (img - gray)  # desaturate: objects are the colourful things
    return np.clip(img, 0.05, 0.95).astype(np.float32)


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
            rot = cv2.getRotationMatrix2D((_SPRITE / 2.0, _SPRITE / 2.0), o.angle0 + o.spin * t, scale)
            rot[:, 2] += centre - _SPRITE / 2.0  # sprite centre -> object centre
            col = cv2.warpAffine(o.sprite, rot, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            inside = cv2.warpAffine(o.mask, rot, (w, h), flags=cv2.INTER_NEAREST, borderValue=0).astype(bool)
            img[inside] = col[inside]
            ids[inside] = k + 1
            areas[k] = int(inside.sum())
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


@contextlib.contextmanager
def _torch_threads(n: int) -> Iterator[None]:
    """Temporarily run torch with ``n`` intra-op threads (restored afterwards)."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive advisory lock on ``path`` (fcntl; a no-op where fcntl is missing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    with open(path, "a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


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
        if marker.is_file():
            try:
                if json.loads(marker.read_text()).get("fingerprint") == fp:
                    return lle_root
            except (json.JSONDecodeError, OSError):
                pass
            # Built by us with other settings: rebuild our two folders.
            for sub in ("DAVIS", "LLE_DAVIS"):
                if (root / sub).is_dir():
                    shutil.rmtree(root / sub)
            marker.unlink()
        if log:
            log(f"demo dataset: generating under {root}")
        write_demo_source(root / "DAVIS", cfg)
        synth = cfg.synthesis
        if synth.seed != cfg.seed:
            synth = SynthesisConfig(**{**synth.__dict__, "seed": cfg.seed})
        convert_dataset(root / "DAVIS", lle_root, synth, device=device, progress=progress, log=log)
        with atomic_open(marker, "w") as fh:
            json.dump({"fingerprint": fp, "config": config_to_dict(cfg)}, fh, indent=2, sort_keys=True)
    return lle_root
