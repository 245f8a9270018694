"""prepare_step_inputs and the working size: the resize-and-pad shared by the streaming cores."""

from __future__ import annotations

import pytest
import torch

from evolve.data.video_reader import resized_size
from evolve.inference.padding import prepare_step_inputs


def test_the_working_size_keeps_the_aspect_and_only_shrinks():
    assert resized_size((480, 854), 240) == (240, 427)  # 854 * 0.5 = 427
    assert resized_size((100, 60), 240) == (100, 60)  # already smaller
    assert resized_size((480, 854), -1) == (480, 854)  # off


def test_zero_and_reflect_pads_and_nearest_resize_of_ids_and_events():
    frame = torch.rand(3, 20, 30)
    voxel = torch.zeros(5, 20, 30)
    voxel[2, 4:8, 6:12] = 3.0  # an integer-valued patch: nearest resizing keeps its values
    mask = torch.zeros(20, 30, dtype=torch.uint8)
    mask[10:20, 0:10] = 2
    image, vox, ids, pads = prepare_step_inputs(frame, voxel, mask, (10, 15), torch.device("cpu"))
    # 10x15 -> 16x16: 6 rows (3 top, 3 bottom) and 1 column (0 left, 1 right)
    assert pads == (0, 1, 3, 3) and image.shape == (1, 3, 16, 16) and vox.shape == (1, 5, 16, 16)
    assert ids.dtype == torch.int64 and ids.shape == (16, 16)
    assert set(ids.unique().tolist()) == {0, 2} and set(vox.unique().tolist()) == {0.0, 3.0}
    assert int((ids[3:13, 0:15] == 2).sum()) == 5 * 5  # rows 10-19 -> 5-9, cols 0-9 -> 0-4
    assert float(image[0, :, :3].abs().sum()) == 0.0  # zero padding
    image_r, _, ids_r, pads_r = prepare_step_inputs(frame, voxel, mask, (10, 15), torch.device("cpu"), pad="reflect")
    assert pads_r == pads
    torch.testing.assert_close(image_r[0, :, 2], image_r[0, :, 4])  # reflected about row 3
    assert int((ids_r == 2).sum()) > int((ids == 2).sum())  # the mask reflects into the bottom pad
    none = prepare_step_inputs(frame, None, None, (20, 30), torch.device("cpu"))
    assert none[1] is None and none[2] is None and none[0].shape == (1, 3, 32, 32)
    with pytest.raises(ValueError, match="zeros' or 'reflect"):
        prepare_step_inputs(frame, None, None, (20, 30), torch.device("cpu"), pad="edge")
