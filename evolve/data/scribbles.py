"""Interaction prompts for interactive VOS: scribbles (polylines) and clicks, per object, per frame.

A :class:`Stroke` is a polyline in *normalised* image coordinates, ``(x, y)`` with ``x = column
/ width`` and ``y = row / height`` (the DAVIS interactive convention, so a stroke drawn at one
resolution applies at any other). It belongs to one object id (0 = background). A stroke is
*positive* for its object and *negative* for every other object (GLTM/ATNet: the scribbles of
the other objects, background included, make an object's negative map); a stroke with
``positive=False`` is a negative stroke for its own object only ("not object k here"), which
the DAVIS format cannot express (see :mod:`evolve.data.scribble_json`). A click is a
one-point stroke (:class:`Click`).

Rasterisation follows GLTM (Heo et al., ECCV 2020; ATNet's ``scribble_to_image``): each
polyline is drawn with Bresenham lines between consecutive points, dilated with a 5x5
elliptical structuring element ("5 px dilation") and blurred with a 5x5 Gaussian (sigma 6),
giving float maps in [0, 1]. The negative map of object k is kept only where the previous
round's mask is object k, and set to 0 where the previous mask is not object k (a negative
stroke can only remove what was there; in round 1, with no previous mask, the negative map is
all 0 as in GLTM). Docs: docs/interactive.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable, Optional, Sequence

import cv2
import numpy as np

from evolve.utils.errors import InputError

#: GLTM's scribble post-processing: structuring-element size, blur kernel size and sigma (pixels).
DILATION = 5
BLUR = 5
BLUR_SIGMA = 6.0


@dataclass(frozen=True)
class Stroke:
    """One scribble: a polyline for one object.

    Attributes:
        points: ``((x, y), ...)`` normalised coordinates in [0, 1] (x = column / width, y = row /
            height); one point is a click.
        object_id: the object the stroke marks (0 = background).
        positive: True = "this is object_id" (negative for every other object); False = "this is
            not object_id" (negative for object_id only; object_id must be >= 1).
        start_time, end_time: when it was drawn (DAVIS scribble files: milliseconds), or None.
    """

    points: tuple[tuple[float, float], ...]
    object_id: int
    positive: bool = True
    start_time: Optional[float] = None
    end_time: Optional[float] = None

    @staticmethod
    def from_pixels(xy: np.ndarray, height: int, width: int, object_id: int, positive: bool = True) -> "Stroke":
        """A stroke from pixel coordinates ``xy`` (K, 2) = (column, row) of a (height, width) image."""
        xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        pts = tuple((float(x / width), float(y / height)) for x, y in xy)
        return Stroke(pts, int(object_id), positive)

    def pixels(self, height: int, width: int) -> np.ndarray:
        """(K, 2) int64 (row, column) of the points in a (height, width) image: ``round(x * width)``,
        ``round(y * height)`` clipped to the image (the exact inverse of :meth:`from_pixels`)."""
        p = np.asarray(self.points, dtype=np.float64).reshape(-1, 2)
        cols = np.clip(np.rint(p[:, 0] * width), 0, width - 1).astype(np.int64)
        rows = np.clip(np.rint(p[:, 1] * height), 0, height - 1).astype(np.int64)
        return np.stack([rows, cols], axis=1)

    def marks_positive(self, object_id: int) -> bool:
        """Whether this stroke goes into ``object_id``'s positive map."""
        return self.positive and self.object_id == object_id

    def marks_negative(self, object_id: int) -> bool:
        """Whether this stroke goes into ``object_id``'s negative map (GLTM: other objects' strokes)."""
        return (self.positive and self.object_id != object_id) or (not self.positive and self.object_id == object_id)


@dataclass(frozen=True)
class Click:
    """A click at normalised ``(x, y)`` for ``object_id`` (a one-point :class:`Stroke`)."""

    x: float
    y: float
    object_id: int
    positive: bool = True

    def as_stroke(self) -> Stroke:
        """The one-point stroke of this click."""
        return Stroke(((float(self.x), float(self.y)),), int(self.object_id), self.positive)


@dataclass
class FrameInteraction:
    """The strokes given on one frame in one interaction round.

    Attributes:
        frame: 0-based frame index.
        strokes: the strokes (clicks as one-point strokes).
    """

    frame: int
    strokes: list[Stroke] = field(default_factory=list)

    @property
    def object_ids(self) -> list[int]:
        """Sorted ids of the objects (>= 1) that have a stroke (positive or negative)."""
        return sorted({s.object_id for s in self.strokes if s.object_id > 0})


def as_strokes(items: Iterable[Stroke | Click]) -> list[Stroke]:
    """Strokes and clicks -> strokes (clicks become one-point strokes)."""
    return [i.as_stroke() if isinstance(i, Click) else i for i in items]


def validate_strokes(
    strokes: Sequence[Stroke], frame: int, num_frames: int, object_ids: Iterable[int], source: object = None
) -> None:
    """Check strokes before they reach a network.

    Args:
        strokes: the strokes of one frame.
        frame: their frame index.
        num_frames: frames in the video.
        object_ids: the known objects (>= 1); 0 (background) is always allowed for positive strokes.
        source: file or setting named in the error (None = the interaction).

    Raises:
        InputError: an out-of-range frame index, an empty stroke (no points), a point outside
            the frame (not finite, or outside [0, 1]), an unknown object id, or a negative
            background stroke.
    """
    if not 0 <= int(frame) < int(num_frames):
        raise InputError(source, f"frame index {frame} is outside the video (0..{num_frames - 1})", f"give a frame index in 0..{num_frames - 1}")
    known = {int(o) for o in object_ids}
    for k, s in enumerate(strokes):
        if len(s.points) == 0:
            raise InputError(source, f"stroke {k} on frame {frame} has no points", "drop empty strokes, or give at least one point")
        for x, y in s.points:
            if not (math.isfinite(x) and math.isfinite(y) and 0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
                raise InputError(source, f"stroke {k} on frame {frame} has point ({x}, {y}) outside the frame",
                                 "give normalised coordinates x = column / width, y = row / height in [0, 1]")
        if s.object_id != 0 and s.object_id not in known:
            raise InputError(source, f"stroke {k} on frame {frame} is for unknown object {s.object_id} (known: {sorted(known)})",
                             "add the object first, or use the id of a known object (0 = background)")
        if s.object_id == 0 and not s.positive:
            raise InputError(source, f"stroke {k} on frame {frame} is a negative background stroke",
                             "mark background with a positive stroke of object 0, or a negative stroke of one object")


def draw_polyline(points_rc: np.ndarray, height: int, width: int, out: Optional[np.ndarray] = None) -> np.ndarray:
    """Bresenham lines between consecutive (row, column) points (one point = one pixel).

    Args:
        points_rc: (K, 2) int (row, column), inside the image.
        out: bool (height, width) to draw into (a new one when None).
    Returns:
        bool (height, width) with the line pixels set.
    """
    from skimage.draw import line

    canvas = np.zeros((height, width), dtype=bool) if out is None else out
    pts = np.asarray(points_rc, dtype=np.int64).reshape(-1, 2)
    if len(pts) == 1:
        canvas[pts[0, 0], pts[0, 1]] = True
    for (r0, c0), (r1, c1) in zip(pts[:-1], pts[1:]):
        rr, cc = line(int(r0), int(c0), int(r1), int(c1))
        canvas[rr, cc] = True
    return canvas


def rasterize(strokes: Sequence[Stroke], height: int, width: int) -> np.ndarray:
    """The 1-pixel drawing of ``strokes`` (Bresenham) as bool (height, width)."""
    canvas = np.zeros((height, width), dtype=bool)
    for s in strokes:
        draw_polyline(s.pixels(height, width), height, width, canvas)
    return canvas


def soften(lines: np.ndarray, dilation: int = DILATION, blur: int = BLUR, sigma: float = BLUR_SIGMA) -> np.ndarray:
    """GLTM's post-processing of a line drawing: elliptical dilation of size ``dilation`` then a
    ``blur`` x ``blur`` Gaussian blur with ``sigma`` (0 disables either step).

    Args:
        lines: bool or {0, 1} (H, W).
    Returns:
        float32 (H, W) in [0, 1].
    """
    img = np.asarray(lines).astype(np.float32)
    if not img.any():
        return img
    if dilation > 1:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (dilation, dilation))
        img = cv2.dilate(img, kernel)
    if blur > 1:
        img = cv2.GaussianBlur(img, (blur, blur), sigmaX=sigma)
    return np.clip(img, 0.0, 1.0).astype(np.float32)


def interaction_maps(
    strokes: Sequence[Stroke],
    object_id: int,
    height: int,
    width: int,
    prev_mask: Optional[np.ndarray] = None,
    dilation: int = DILATION,
    blur: int = BLUR,
    sigma: float = BLUR_SIGMA,
) -> tuple[np.ndarray, np.ndarray]:
    """Positive and negative scribble maps of one object (GLTM's A-Net inputs).

    Args:
        strokes: the strokes of the frame (every object's).
        object_id: the object (>= 1) the maps are for.
        height, width: map size in pixels.
        prev_mask: int (height, width) object ids of the previous round on this frame, or None
            (round 1: no previous mask).
        dilation, blur, sigma: :func:`soften` parameters (GLTM: 5, 5, 6.0).
    Returns:
        ``(positive, negative)``: float32 (height, width) in [0, 1]. The negative map is 0
        wherever ``prev_mask != object_id`` (all 0 without a previous mask).
    Raises:
        ValueError: ``prev_mask`` of another size.
    """
    pos = rasterize([s for s in strokes if s.marks_positive(object_id)], height, width)
    neg = rasterize([s for s in strokes if s.marks_negative(object_id)], height, width)
    pos_map = soften(pos, dilation, blur, sigma)
    neg_map = soften(neg, dilation, blur, sigma)
    if prev_mask is None:
        neg_map[:] = 0.0
    else:
        prev = np.asarray(prev_mask)
        if prev.shape != (height, width):
            raise ValueError(f"prev_mask is {prev.shape}, maps are {(height, width)}")
        neg_map[prev != object_id] = 0.0
    return pos_map, neg_map
