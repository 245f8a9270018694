"""Appearance vocabulary of the procedural sets: shapes, colours, textures, sizes, held-out pairs.

Appearance is drawn independently of the motion class (docs/procedural.md), so only the
motion identifies the class. The names here are the words of the referring-expression
grammar (:mod:`evolve.synthesis.expressions`).
"""

from __future__ import annotations

import math

import numpy as np

from evolve.synthesis.drawing import FIXED_SHAPES, SPRITE, SPRITE_RADIUS

SHAPES: tuple[str, ...] = FIXED_SHAPES  # circle square triangle star cross hexagon diamond crescent

# Named colours, sRGB in [0, 1]. Textures mix the colour with a darker shade of it.
COLOURS: dict[str, tuple[float, float, float]] = {
    "red": (0.92, 0.12, 0.10),
    "green": (0.10, 0.72, 0.20),
    "blue": (0.12, 0.32, 0.95),
    "yellow": (0.96, 0.88, 0.10),
    "purple": (0.60, 0.18, 0.84),
    "orange": (1.00, 0.55, 0.05),
    "white": (0.96, 0.96, 0.96),
}
COLOUR_NAMES: tuple[str, ...] = tuple(COLOURS)

# Every texture changes under rotation (no rotation-symmetric pattern), so a spin is visible
# whatever the shape.
TEXTURES: tuple[str, ...] = ("striped", "checkered", "dotted", "two-tone")

# Size categories: the object's circumradius at scale 1 as a fraction of D = min(H, W).
# The gaps between the ranges keep the categories apart.
SIZE_RANGES: dict[str, tuple[float, float]] = {
    "small": (0.065, 0.08),
    "medium": (0.10, 0.12),
    "large": (0.14, 0.165),
}
SIZE_NAMES: tuple[str, ...] = tuple(SIZE_RANGES)

# (colour, shape) pairs never drawn in train videos; every val video holds one object with
# one of them (its expressions are marked held_out). One per colour, each a different shape.
HELD_OUT_PAIRS: tuple[tuple[str, str], ...] = (
    ("red", "star"),
    ("green", "circle"),
    ("blue", "triangle"),
    ("yellow", "hexagon"),
    ("purple", "square"),
    ("orange", "cross"),
    ("white", "diamond"),
)
TRAIN_PAIRS: tuple[tuple[str, str], ...] = tuple(
    (c, s) for c in COLOUR_NAMES for s in SHAPES if (c, s) not in HELD_OUT_PAIRS
)


def is_held_out(colour: str, shape: str) -> bool:
    """True when ``(colour, shape)`` is one of :data:`HELD_OUT_PAIRS`."""
    return (colour, shape) in HELD_OUT_PAIRS


def texture_sprite(kind: str, colour: str, rng: np.random.Generator) -> np.ndarray:
    """float32 (SPRITE, SPRITE, 3) sprite colours in [0, 1]: ``colour`` and a dark shade of it.

    Patterns are coarse (about three periods across the object) so they survive the
    down-scaling to small objects: ``striped`` (random orientation), ``checkered`` (random
    offset), ``dotted`` (dark dots on a lattice with random offset), ``two-tone`` (two halves
    split by a line through the centre at a random angle). Draws: brightness (1), then the
    pattern's (1-2).

    Raises:
        ValueError: unknown texture or colour.
    """
    if kind not in TEXTURES:
        raise ValueError(f"unknown texture {kind!r}; choose from {TEXTURES}")
    if colour not in COLOURS:
        raise ValueError(f"unknown colour {colour!r}; choose from {COLOUR_NAMES}")
    base = np.asarray(COLOURS[colour], np.float32) * np.float32(rng.uniform(0.9, 1.0))
    dark = base * np.float32(0.42)
    s = SPRITE
    yy, xx = np.mgrid[0:s, 0:s].astype(np.float32) - s / 2.0
    period = 2.0 * SPRITE_RADIUS / 3.0  # three periods across the object
    if kind == "striped":
        ang = rng.uniform(0, math.pi)
        w = np.clip(0.5 + 1.5 * np.sin(2 * math.pi * (xx * math.cos(ang) + yy * math.sin(ang)) / period), 0, 1)
    elif kind == "checkered":
        ox, oy = rng.uniform(0, period, size=2)
        w = (((np.floor((xx + ox) / period) + np.floor((yy + oy) / period)) % 2) > 0).astype(np.float32)
    elif kind == "dotted":
        ox, oy = rng.uniform(0, period, size=2)
        fx = (xx + ox) % period - period / 2
        fy = (yy + oy) % period - period / 2
        w = (fx**2 + fy**2 < (0.3 * period) ** 2).astype(np.float32)
    else:  # two-tone
        ang = rng.uniform(0, 2 * math.pi)
        w = np.clip(0.5 + (xx * math.cos(ang) + yy * math.sin(ang)) / 1.5, 0, 1)
    return (base * (1 - w[..., None]) + dark * w[..., None]).astype(np.float32)
