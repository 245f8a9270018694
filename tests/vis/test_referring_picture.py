"""The referring picture: one row per expression, the sentence then each frame with its mask."""

from __future__ import annotations

import numpy as np
import pytest

from evolve.vis.overlay import palette_colours
from evolve.vis.referring import referring_grid


def test_grid_layout_gain_scale_and_mask_colour():
    frames = [np.full((4, 6, 3), 20, np.uint8), np.full((4, 6, 3), 40, np.uint8)]
    m = np.zeros((4, 6), bool)
    m[1:3, 2:4] = True
    pic = referring_grid(frames, [("the red square", [m, m]), ("the star", [~m, m])], gain=2.0, text_width=50, gap=3, scale=2)
    assert pic.shape == (2 * 8 + 3, 50 + 2 * (12 + 3), 3)
    first = pic[0:8, 53:65]  # row 0, frame 0, upscaled x2
    assert tuple(first[0, 0]) == (40, 40, 40)  # background brightened x2, untouched by the mask
    colour = palette_colours()[1].astype(np.float32)
    inside = first[3, 5]  # inside the (upscaled) mask, away from the outline
    assert np.allclose(inside, 0.5 * 40 + 0.5 * colour, atol=1)
    assert (pic[8:11] == 255).all()  # the gap between rows
    with pytest.raises(ValueError, match="1 masks for 2 frames"):
        referring_grid(frames, [("x", [m])])
