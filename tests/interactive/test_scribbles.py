"""Scribble and click prompts: validation, Bresenham rasterisation, GLTM's dilation/blur and negative-map rule."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from evolve.data.scribbles import Click, FrameInteraction, Stroke, interaction_maps, rasterize, soften, validate_strokes
from evolve.utils.errors import InputError


def test_pixels_are_the_exact_inverse_of_from_pixels():
    xy = np.array([[0, 0], [10, 3], [19, 9]])  # (column, row) in a 10 x 20 image
    s = Stroke.from_pixels(xy, 10, 20, 1)
    assert s.points[1] == (0.5, 0.3)
    assert s.pixels(10, 20).tolist() == [[0, 0], [3, 10], [9, 19]]  # (row, column)


def test_bresenham_line_pixels_by_hand():
    # (row 0, col 0) -> (row 1, col 3): row = col / 3 rounded: 0, 0.33, 0.67, 1 -> 0, 0, 1, 1;
    # then on to (row 4, col 3): straight down.
    s = Stroke.from_pixels(np.array([[0, 0], [3, 1], [3, 4]]), 5, 5, 1)
    lines = rasterize([s], 5, 5)
    expected = np.zeros((5, 5), bool)
    for r, c in [(0, 0), (0, 1), (1, 2), (1, 3), (2, 3), (3, 3), (4, 3)]:
        expected[r, c] = True
    assert np.array_equal(lines, expected)


def test_a_click_is_one_pixel_before_softening():
    lines = rasterize([Click(0.5, 0.25, 2).as_stroke()], 8, 8)
    assert lines.sum() == 1 and lines[2, 4]


def test_soften_is_a_5x5_ellipse_dilation_then_a_5x5_gaussian():
    lines = np.zeros((15, 15), bool)
    lines[7, 7] = True
    out = soften(lines)
    ellipse = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5)).astype(np.float32)
    dilated = np.zeros((15, 15), np.float32)
    dilated[5:10, 5:10] = ellipse
    assert np.allclose(out, cv2.GaussianBlur(dilated, (5, 5), sigmaX=6.0))
    assert out.max() <= 1.0 and out[7, 7] == out.max() and out[0, 0] == 0.0


def test_positive_and_negative_maps_follow_gltm():
    h, w = 20, 20
    s1 = Stroke.from_pixels(np.array([[2, 10], [17, 10]]), h, w, 1)  # object 1, row 10
    s0 = Stroke.from_pixels(np.array([[10, 2], [10, 17]]), h, w, 0)  # background, column 10
    # Round 1 (no previous mask): no negative map at all.
    pos, neg = interaction_maps([s1, s0], 1, h, w, None)
    assert pos[10, 5] > 0.5 and neg.max() == 0.0
    # Later round: the negative map of object 1 survives only where the previous mask is object 1.
    prev = np.zeros((h, w), int)
    prev[:10] = 1  # top half was object 1
    pos, neg = interaction_maps([s1, s0], 1, h, w, prev)
    assert neg[5, 10] > 0.5 and neg[15, 10] == 0.0
    # For object 2 the object-1 stroke is negative too (GLTM: other objects' strokes), limited the same way.
    prev2 = np.full((h, w), 2)
    _, neg2 = interaction_maps([s1], 2, h, w, prev2)
    assert neg2[10, 5] > 0.5
    # A negative stroke of object 1 goes only into object 1's negative map.
    n1 = Stroke(s1.points, 1, positive=False)
    pos, neg = interaction_maps([n1], 1, h, w, np.ones((h, w), int))
    assert pos.max() == 0.0 and neg[10, 5] > 0.5
    assert interaction_maps([n1], 2, h, w, np.full((h, w), 2))[1].max() == 0.0


@pytest.mark.parametrize(
    "strokes, frame, match",
    [
        ([Stroke(((0.5, 1.2),), 1)], 0, "outside the frame"),
        ([Stroke(((float("nan"), 0.2),), 1)], 0, "outside the frame"),
        ([Stroke(((0.1, 0.2),), 7)], 0, "unknown object 7"),
        ([Stroke((), 1)], 0, "no points"),
        ([Stroke(((0.1, 0.2),), 1)], 5, "frame index 5 is outside"),
        ([Stroke(((0.1, 0.2),), 1)], -1, "frame index -1 is outside"),
        ([Stroke(((0.1, 0.2),), 0, positive=False)], 0, "negative background"),
    ],
)
def test_bad_strokes_are_clear_errors(strokes, frame, match):
    with pytest.raises(InputError, match=match):
        validate_strokes(strokes, frame, num_frames=5, object_ids=[1, 2])


def test_valid_strokes_pass_and_frame_interaction_lists_objects():
    strokes = [Stroke(((0.0, 0.0), (1.0, 1.0)), 2), Stroke(((0.3, 0.3),), 0), Click(0.2, 0.2, 1).as_stroke()]
    validate_strokes(strokes, 4, num_frames=5, object_ids=[1, 2])
    assert FrameInteraction(4, strokes).object_ids == [1, 2]
