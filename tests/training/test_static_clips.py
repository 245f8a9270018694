"""Pre-training clips from static images: darkened, moving, with simulated events."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from evolve.data.image_io import read_frame, write_frame, write_mask
from evolve.synthesis.static_clips import StaticClipConfig, StaticClipDataset, find_image_mask_pairs
from evolve.utils.errors import InputError


@pytest.fixture
def static_root(tmp_path):
    """Two images with a textured square object each, FSS-style (x.jpg + x.png side by side)."""
    rng = np.random.default_rng(0)
    for i, (top, left) in enumerate([(20, 30), (40, 10)]):
        rgb = (rng.random((96, 112, 3)) * 120).astype(np.uint8)
        rgb[top:top + 30, left:left + 30] = (rng.random((30, 30, 3)) * 100 + 150).astype(np.uint8)
        ids = np.zeros((96, 112), np.uint8)
        ids[top:top + 30, left:left + 30] = 1
        write_frame(tmp_path / "cls" / f"{i}.jpg", rgb)
        write_mask(tmp_path / "cls" / f"{i}.png", ids)
    return tmp_path


def test_pairs_in_both_layouts(static_root, tmp_path):
    pairs = find_image_mask_pairs(static_root)
    assert [p[0].name for p in pairs] == ["0.jpg", "1.jpg"] and all(m.suffix == ".png" for _, m in pairs)
    # separate image / mask folders with sequence sub-folders, filtered by sequence
    for seq in ("a", "b"):
        write_frame(tmp_path / "split" / "img" / seq / "00000.jpg", np.zeros((8, 8, 3), np.uint8))
        write_mask(tmp_path / "split" / "ann" / seq / "00000.png", np.ones((8, 8), np.uint8))
    only_b = find_image_mask_pairs(tmp_path / "split" / "img", tmp_path / "split" / "ann", folders=["b"])
    assert [p[0].parent.name for p in only_b] == ["b"]
    with pytest.raises(InputError, match="no image with a mask"):
        find_image_mask_pairs(tmp_path / "split" / "ann" / "a")


def test_clip_is_dark_moving_with_events_and_reproducible(static_root):
    cfg = StaticClipConfig(seq_length=3, crop_size=64)
    ds = StaticClipDataset(find_image_mask_pairs(static_root), cfg)
    item = ds[(0, 42)]
    assert item["rgb"].shape == (3, 3, 64, 64) and item["rgb"].dtype == torch.float32
    assert item["voxel"].shape == (3, 5, 64, 64)
    assert item["cls_gt"].shape == (3, 1, 64, 64) and set(item["cls_gt"].unique().tolist()) <= {0, 1}
    assert item["first_frame_gt"].shape == (1, 1, 64, 64) and item["first_frame_gt"].sum() > 0
    assert torch.equal(item["first_frame_gt"][0, 0], (item["cls_gt"][0, 0] == 1).float())
    assert item["selector"].tolist() == [1.0]
    src = read_frame(static_root / "cls" / "0.jpg").mean() / 255.0
    assert item["rgb"].mean() < 0.8 * src  # darkened: beta * (alpha * I) ** gamma with gamma >= 1.5
    assert torch.count_nonzero(item["voxel"][1]) > 0  # the motion made events
    assert torch.equal(item["voxel"][0], item["voxel"][1])  # frame 0 uses the chunk of frame 1
    assert not torch.equal(item["cls_gt"][0], item["cls_gt"][2])  # the object moved
    again = ds[(0, 42)]
    for k in ("rgb", "voxel", "cls_gt"):
        assert torch.equal(item[k], again[k])
    assert not torch.equal(ds[(0, 43)]["rgb"], item["rgb"])


def test_normal_light_without_events_option(static_root):
    cfg = StaticClipConfig(seq_length=2, crop_size=48, lowlight=None, simulator=None)
    item = StaticClipDataset(find_image_mask_pairs(static_root), cfg)[(1, 7)]
    assert torch.count_nonzero(item["voxel"]) == 0
    assert item["rgb"].mean() > 0.2
