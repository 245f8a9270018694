"""The DAVIS robot on hand-made masks: no scribble for a perfect prediction, one scribble along a
rectangle's long axis, the longest path of an L, the constructed worst frame, background strokes."""

from __future__ import annotations

import numpy as np
import pytest

from evolve.eval.interactive.robot import RobotConfig, ScribbleRobot, frame_scribbles, open_error_mask, skeleton_paths, worst_frame


def _px(stroke, h, w):
    """(K, 2) float (x, y) pixel coordinates of a stroke."""
    return np.asarray(stroke.points) * np.array([w, h])


def test_perfect_prediction_gives_no_scribble():
    gt = np.zeros((3, 40, 60), np.uint8)
    gt[:, 10:30, 10:50] = 1
    gt[1, 0:5, 0:5] = 2
    frame, strokes = ScribbleRobot().interact(gt.copy(), gt, [1, 2])
    assert strokes == []


def test_rectangular_error_gives_one_scribble_inside_along_its_long_axis():
    h, w = 60, 100
    gt = np.zeros((h, w), np.uint8)
    gt[20:36, 10:90] = 1  # 16 x 80 missed region, long axis horizontal, centre row 27.5
    strokes = frame_scribbles(np.zeros_like(gt), gt, [1])
    assert len(strokes) == 1 and strokes[0].object_id == 1 and strokes[0].positive
    xy = _px(strokes[0], h, w)
    assert (xy[:, 0] >= 10).all() and (xy[:, 0] <= 89).all() and (xy[:, 1] >= 20).all() and (xy[:, 1] <= 35).all()
    span_x, span_y = np.ptp(xy[:, 0]), np.ptp(xy[:, 1])
    assert span_x >= 0.8 * 80 and span_y < 16
    # the middle of the path is the medial axis: the rectangle's centre rows
    middle = xy[(xy[:, 0] > 30) & (xy[:, 0] < 70)]
    assert len(middle) > 30 and np.all(np.abs(middle[:, 1] - 27.5) <= 1.0)


def test_l_shape_gives_the_longest_path_through_both_arms():
    h, w = 100, 100
    gt = np.zeros((h, w), np.uint8)
    gt[10:90, 10:26] = 1  # vertical arm, centre column 17.5
    gt[74:90, 10:90] = 1  # horizontal arm, centre row 81.5
    strokes = frame_scribbles(np.zeros_like(gt), gt, [1])
    assert len(strokes) == 1
    xy = _px(strokes[0], h, w)
    ends = {tuple(xy[0]), tuple(xy[-1])}
    top = min(ends, key=lambda p: p[1])
    right = max(ends, key=lambda p: p[0])
    assert top[1] < 25 and abs(top[0] - 17.5) < 6  # one end at the top of the vertical arm
    assert right[0] > 75 and abs(right[1] - 81.5) < 6  # the other at the end of the horizontal arm
    length = np.sum(np.hypot(*np.diff(xy, axis=0).T))
    assert length > 0.8 * ((81.5 - 17) + (81.5 - 17))  # both arms, not just one


def test_worst_frame_is_the_constructed_one_and_ties_go_to_the_larger_error():
    gt = np.zeros((4, 30, 30), np.uint8)
    gt[:, 5:25, 5:25] = 1
    pred = gt.copy()
    pred[1, 5:10, 5:25] = 0  # 1/4 of the object missed
    pred[2, 5:20, 5:25] = 0  # 3/4 missed: the worst
    pred[3, 5:8, 5:25] = 0
    frame, strokes = ScribbleRobot().interact(pred, gt, [1])
    assert frame == 2 and strokes and all(s.object_id == 1 for s in strokes)
    # an empty prediction scores 0 on every frame with the object; the tie goes to the frame with most object pixels
    gt2 = np.zeros((3, 30, 30), np.uint8)
    gt2[0, 0:5, 0:5] = 1
    gt2[1, 0:20, 0:20] = 1
    gt2[2, 0:10, 0:10] = 1
    assert worst_frame(np.zeros_like(gt2), gt2, [1]) == 1
    assert worst_frame(np.zeros_like(gt2), gt2, [1], metric="J") == 1


def test_false_positive_region_gives_a_background_scribble():
    gt = np.zeros((40, 40), np.uint8)
    gt[5:15, 5:15] = 1
    pred = gt.copy()
    pred[20:35, 10:30] = 1  # predicted object where there is background
    strokes = frame_scribbles(pred, gt, [1])
    assert [s.object_id for s in strokes] == [0]
    xy = _px(strokes[0], 40, 40)
    assert (xy[:, 1] >= 20).all() and (xy[:, 1] <= 34).all()


def test_opening_removes_thin_slivers_and_shrinks_the_radius_when_needed():
    err = np.zeros((50, 50), bool)
    err[10:40, 10:40] = True
    err[5, :] = True  # 1-pixel sliver: removed by the opening (radius min(0.15*sqrt(950)/2, 16) = 2.3)
    opened = open_error_mask(err, RobotConfig())
    assert not opened[5].any() and opened[20:30, 20:30].all()
    thin = np.zeros((50, 50), bool)
    thin[10:13, 5:45] = True  # 3 px wide: radius 0.15*sqrt(120)/2 = 0.82 <= 1 -> used as it is
    assert np.array_equal(open_error_mask(thin, RobotConfig()), thin)


def test_cycles_are_broken_and_small_components_dropped():
    ring = np.zeros((21, 21), bool)
    ring[5, 5:16] = ring[15, 5:16] = ring[5:16, 5] = ring[5:16, 15] = True  # a square loop, 40 pixels
    ring[0, 0] = True  # a 1-pixel component
    paths = skeleton_paths(ring, min_nb_nodes=4)
    assert len(paths) == 1
    assert len(paths[0]) == 40  # the loop cut once: a path through every pixel
    assert len(skeleton_paths(ring, min_nb_nodes=1)) == 2


def test_robot_config_is_checked():
    with pytest.raises(ValueError):
        RobotConfig(kernel_size=1.5)
    with pytest.raises(ValueError):
        RobotConfig(metric="F")
