"""Drawing primitives shared by the procedural video generators (demo and procedural sets).

Objects are drawn as sprites: a canonical ``SPRITE x SPRITE`` shape mask and an RGB pattern,
warped into the frame by one similarity transform per frame (rotation about the sprite
centre, isotropic scale, translation of the centre). A pixel belongs to the top-most object
painted on it, so the id masks are exact by construction.

Used by :mod:`evolve.synthesis.demo` (the demo dataset) and
:mod:`evolve.synthesis.procedural` (the motion / referring sets, docs/procedural.md).
"""

from __future__ import annotations

import colorsys
import math

import numpy as np

SPRITE = 64  # canonical sprite size in pixels
SPRITE_RADIUS = 0.46 * SPRITE  # circumradius of every canonical shape, sprite pixels

# Shapes with a fixed outline (used by the procedural sets; names are the words of the
# referring-expression grammar). "ellipse" and "rectangle" draw a random aspect ratio.
FIXED_SHAPES = ("circle", "square", "triangle", "star", "cross", "hexagon", "diamond", "crescent")
ALL_SHAPES = FIXED_SHAPES + ("ellipse", "rectangle")


def hsv_to_rgb(h: float, s: float, v: float) -> np.ndarray:
    """float32 (3,) RGB in [0, 1] of a hue (wrapped to [0, 1)), saturation and value."""
    return np.asarray(colorsys.hsv_to_rgb(h % 1.0, s, v), np.float32)


def _polygon(pts: list[tuple[float, float]]) -> np.ndarray:
    import cv2

    c = SPRITE / 2.0
    m = np.zeros((SPRITE, SPRITE), np.uint8)
    poly = np.round(np.asarray(pts) + c).astype(np.int32)
    cv2.fillPoly(m, [poly], 1)
    return m


def shape_mask(shape: str, rng: np.random.Generator) -> np.ndarray:
    """uint8 (SPRITE, SPRITE) canonical shape mask (1 inside) centred in the sprite.

    Every shape fits in a circle of radius :data:`SPRITE_RADIUS` about the sprite centre.
    ``ellipse`` and ``rectangle`` draw their aspect ratio from ``rng`` (one draw); the
    :data:`FIXED_SHAPES` draw nothing. ``diamond`` is a rhombus (half-diagonals r and 0.6 r),
    so it never looks like a rotated square.

    Raises:
        ValueError: unknown shape name.
    """
    import cv2

    s = SPRITE
    c = s / 2.0
    r = SPRITE_RADIUS
    if shape not in ALL_SHAPES:
        raise ValueError(f"unknown shape {shape!r}; choose from {ALL_SHAPES}")
    if shape == "ellipse":
        m = np.zeros((s, s), np.uint8)
        cv2.ellipse(m, (int(c), int(c)), (int(r), int(r * rng.uniform(0.55, 0.8))), 0, 0, 360, 1, -1)
        return m
    if shape == "circle":
        m = np.zeros((s, s), np.uint8)
        cv2.circle(m, (int(c), int(c)), int(round(r)), 1, -1)
        return m
    if shape == "crescent":
        m = np.zeros((s, s), np.uint8)
        cv2.circle(m, (int(c), int(c)), int(round(r)), 1, -1)
        cv2.circle(m, (int(round(c + 0.45 * r)), int(c)), int(round(0.8 * r)), 0, -1)
        return m
    if shape == "rectangle":
        a = r * rng.uniform(0.55, 0.75)
        pts = [(-r, -a), (r, -a), (r, a), (-r, a)]
    elif shape == "square":
        a = r / math.sqrt(2.0)
        pts = [(-a, -a), (a, -a), (a, a), (-a, a)]
    elif shape == "diamond":
        pts = [(0.0, -r), (0.6 * r, 0.0), (0.0, r), (-0.6 * r, 0.0)]
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
    return _polygon(pts)


def demo_texture(kind: str, col_a: np.ndarray, col_b: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """float32 (SPRITE, SPRITE, 3) sprite colours in [0, 1] mixing two colours with a pattern
    (the demo dataset's textures: ``stripes``, ``checker``, ``dots``, ``rings``, ``gradient``)."""
    s = SPRITE
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


def textured_background(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """float32 (h, w, 3) muted textured background in [0, 1]: smooth colour blobs, mid-scale
    noise and a faint grating, desaturated so the objects are the colourful things."""
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


def sprite_transform(centre: np.ndarray | tuple[float, float], angle_deg: float, scale: float) -> np.ndarray:
    """float64 (2, 3) affine matrix taking sprite pixels to frame pixels.

    The sprite centre ``(SPRITE/2, SPRITE/2)`` maps to ``centre`` (x, y in frame pixels), the
    sprite is rotated by ``angle_deg`` (OpenCV convention: positive = counter-clockwise on
    screen) and scaled by ``scale`` (frame pixels per sprite pixel).
    """
    import cv2

    rot = cv2.getRotationMatrix2D((SPRITE / 2.0, SPRITE / 2.0), angle_deg, scale)
    rot[:, 2] += np.asarray(centre, np.float64) - SPRITE / 2.0  # sprite centre -> object centre
    return rot


def warp_sprite_mask(mask: np.ndarray, matrix: np.ndarray, h: int, w: int) -> np.ndarray:
    """bool (h, w): the sprite ``mask`` (uint8 (S, S)) warped by ``matrix`` (nearest neighbour)."""
    import cv2

    return cv2.warpAffine(mask, matrix, (w, h), flags=cv2.INTER_NEAREST, borderValue=0).astype(bool)


def paint_sprite(img: np.ndarray, ids: np.ndarray, sprite: np.ndarray, mask: np.ndarray, matrix: np.ndarray, obj_id: int) -> int:
    """Paint one sprite over ``img`` and ``ids`` in place (it becomes the top-most object).

    Args:
        img: float32 (H, W, 3) frame in [0, 1], modified in place.
        ids: uint8 (H, W) id mask, modified in place (the sprite's pixels get ``obj_id``).
        sprite: float32 (S, S, 3) sprite colours (bilinear warp, replicated border).
        mask: uint8 (S, S) sprite shape (nearest-neighbour warp).
        matrix: (2, 3) sprite-to-frame affine (:func:`sprite_transform`).
        obj_id: id written into ``ids``.

    Returns:
        The number of frame pixels the sprite covers (before any later object paints over it).
    """
    import cv2

    h, w = ids.shape
    col = cv2.warpAffine(sprite, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    inside = warp_sprite_mask(mask, matrix, h, w)
    img[inside] = col[inside]
    ids[inside] = obj_id
    return int(inside.sum())
