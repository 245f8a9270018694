"""Per-frame J and F on hand-made masks with analytic answers."""

import numpy as np
import pytest

from evolve.eval.metrics import (
    boundary_f_measure,
    boundary_map,
    boundary_tolerance,
    disk_footprint,
    frame_scores,
    region_similarity,
)
from tests.eval.oracle import filter_boundary, jf, loop_boundary


def square(shape, top, left, size_y, size_x=None):
    m = np.zeros(shape, bool)
    m[top : top + size_y, left : left + (size_x or size_y)] = True
    return m


def test_tolerance_is_8px_at_480p_and_scales_with_the_diagonal():
    assert boundary_tolerance(480, 854) == 8  # ceil(0.008 * 979.6) = ceil(7.84)
    assert boundary_tolerance(100, 100) == 2  # ceil(1.13)
    assert boundary_tolerance(10, 10) == 1  # ceil(0.11)
    assert boundary_tolerance(480, 854, bound_th=3) == 3  # >= 1 means pixels
    with pytest.raises(ValueError):
        boundary_tolerance(480, 854, bound_th=2.5)


@pytest.mark.parametrize("radius, count", [(0, 1), (1, 5), (2, 13), (3, 29), (5, 81), (8, 197)])
def test_disk_is_the_lattice_points_within_the_radius(radius, count):
    d = disk_footprint(radius)
    assert d.dtype == np.uint8 and d.shape == (2 * radius + 1, 2 * radius + 1)
    assert int(d.sum()) == count  # Gauss circle counts N(r)
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            assert d[dy + radius, dx + radius] == (dy * dy + dx * dx <= radius * radius)


def test_boundary_of_a_square_is_the_outline_shifted_half_a_pixel_up_left():
    m = square((20, 20), 5, 6, 4)  # rows 5..8, cols 6..9
    b = boundary_map(m)
    outline = np.zeros_like(m)
    outline[4:9, 5:10] = True  # the (s+1)x(s+1) box rows 4..8, cols 5..9 ...
    outline[5:8, 6:9] = False  # ... minus its interior
    assert b.sum() == 4 * 4 and np.array_equal(b, outline)


def test_boundary_ignores_the_bottom_and_right_image_edges():
    assert not boundary_map(np.ones((6, 7), bool)).any()  # full-image mask: empty boundary
    m = square((6, 7), 3, 4, 3)  # touches the bottom-right corner
    expected = np.zeros_like(m)
    expected[2, 3:7] = True  # row above (incl. the corner pixel up-left)
    expected[3:6, 3] = True  # column left of the square
    assert np.array_equal(boundary_map(m), expected)


def test_boundary_matches_the_per_pixel_rule_on_random_masks(rng):
    for _ in range(100):
        m = rng.random((int(rng.integers(1, 12)), int(rng.integers(1, 12)))) < 0.5
        ref = loop_boundary(m)
        assert np.array_equal(boundary_map(m), ref)
        assert np.array_equal(filter_boundary(m), ref)  # the oracle used on real data


def test_two_squares_with_known_overlap():
    g = square((100, 100), 40, 40, 10)
    p = square((100, 100), 45, 40, 10)  # 5 rows lower: overlap 5x10 = 50, union 150
    assert region_similarity(g, p) == pytest.approx(1 / 3, abs=1e-15)
    p2 = square((100, 100), 40, 45, 10, 20)  # 10x20 starting 5 cols right: overlap 50, union 250
    assert region_similarity(g, p2) == pytest.approx(50 / 250, abs=1e-15)


def test_shifted_square_boundary_matching_counted_by_hand():
    # 100x100 -> tolerance r = 2 px. A 10x10 square has a 40-pixel boundary: the outline of
    # the 11x11 box starting one pixel up-left. Shift the prediction 3 px right:
    #  top and bottom rows (11 px each): 8 overlap the GT row, 2 more are within 1 and 2 px of
    #    the GT corner, the last is 3 px away -> 10 matched each;
    #  left column (9 px, 3 px from the GT left column): the 2 nearest the top and the 2
    #    nearest the bottom are within 2 px of a GT row pixel -> 4 matched;
    #  right column (9 px, 3 px beyond the GT right column): 0 matched.
    # Precision = 24/40 = 0.6; by mirror symmetry recall = 0.6; F = 0.6. J = 70/130.
    g = square((100, 100), 40, 40, 10)
    p = square((100, 100), 40, 43, 10)
    assert region_similarity(g, p) == pytest.approx(7 / 13, abs=1e-15)
    assert boundary_f_measure(g, p) == pytest.approx(0.6, abs=1e-15)
    # with an explicit 3 px tolerance every pixel is within reach -> F = 1
    assert boundary_f_measure(g, p, bound_th=3) == 1.0


def test_asymmetric_precision_and_recall():
    # GT 10x10 square; prediction = GT plus a far-away 4x4 square (16 more boundary pixels,
    # none matched): precision = 40/56, recall = 1 -> F = 2P/(P+1) = 80/96.
    g = square((100, 100), 10, 10, 10)
    p = g | square((100, 100), 70, 70, 4)
    assert boundary_f_measure(g, p) == pytest.approx(2 * (40 / 56) / (40 / 56 + 1), abs=1e-15)
    assert boundary_f_measure(p, g) == pytest.approx(2 * (40 / 56) / (40 / 56 + 1), abs=1e-15)
    assert region_similarity(g, p) == pytest.approx(100 / 116, abs=1e-15)


def test_empty_masks():
    empty = np.zeros((30, 40), bool)
    sq = square((30, 40), 5, 5, 6)
    assert region_similarity(empty, empty) == 1.0 and boundary_f_measure(empty, empty) == 1.0
    # prediction empty: P = 1, R = 0 -> F = 0; GT empty: P = 0, R = 1 -> F = 0
    assert region_similarity(sq, empty) == 0.0 and boundary_f_measure(sq, empty) == 0.0
    assert region_similarity(empty, sq) == 0.0 and boundary_f_measure(empty, sq) == 0.0
    # a full-image mask has an empty boundary: full vs full -> F = 1; full vs square -> F = 0
    full = np.ones((30, 40), bool)
    assert boundary_f_measure(full, full) == 1.0 and region_similarity(full, full) == 1.0
    assert boundary_f_measure(full, sq) == 0.0


def test_frame_scores_per_object_and_random_masks_match_the_oracle(rng):
    gt = np.zeros((60, 80), np.uint8)
    gt[5:25, 5:30] = 1
    gt[30:55, 40:75] = 2
    pred = np.zeros_like(gt)
    pred[8:25, 5:33] = 1
    pred[30:50, 45:80] = 3  # id 3 is not scored as object 2
    j, f = frame_scores(gt, pred, (1, 2, 3), boundary_tolerance(60, 80))
    for k in (1, 2, 3):
        assert (j[k - 1], f[k - 1]) == pytest.approx(jf(gt == k, pred == k), abs=1e-12)
    assert j[1] == 0.0 and f[1] == 0.0  # object 2 missed entirely
    for _ in range(30):
        h, w = int(rng.integers(5, 50)), int(rng.integers(5, 50))
        g = ndimage_blobs(rng, h, w)
        p = ndimage_blobs(rng, h, w)
        assert (region_similarity(g, p), boundary_f_measure(g, p)) == pytest.approx(jf(g, p, loop_boundary), abs=1e-12)


def ndimage_blobs(rng, h, w):
    from scipy import ndimage

    return ndimage.gaussian_filter(rng.random((h, w)), 2) > 0.5


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError):
        region_similarity(np.zeros((3, 4)), np.zeros((4, 3)))
