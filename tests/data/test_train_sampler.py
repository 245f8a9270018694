import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from evolve.data.augment import AugmentConfig, ColorJitterConfig
from evolve.data.image_io import write_frame, write_mask
from evolve.data.layout import davis, generic, lle_davis
from evolve.data.train_sampler import ClipSamplerConfig, TrainDatasetSpec, VOSClipDataset, grow_clip
from evolve.utils.errors import InputError
from tests.data.conftest import make_tiny_dataset
from tests.data.test_voxel import _loop_voxel


def _multi_object_dataset(root, n_frames=6, size=(48, 64), empty_first=0):
    """Four coloured squares (ids 1..4) per frame; the first ``empty_first`` masks are empty."""
    lay = generic(root, "images", "masks")
    h, w = size
    for i in range(n_frames):
        rgb = np.zeros((h, w, 3), np.uint8)
        ids = np.zeros((h, w), np.uint8)
        if i >= empty_first:
            for k, (top, left) in enumerate([(4, 4), (4, 36), (26, 4), (26, 36)], start=1):
                rgb[top : top + 16, left + i : left + i + 16] = (60 * k, 255 - 50 * k, 40)
                ids[top : top + 16, left + i : left + i + 16] = k
        write_frame(lay.image_folder("four") / f"{i:05d}.png", rgb)
        write_mask(lay.mask_folder("four") / f"{i:05d}.png", ids)
    return lay


def _identity_geometry(crop):
    """No warp: full-image crop of a square frame at its own size, no flip, no rotation."""
    return AugmentConfig(crop_size=crop, crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), affine_degrees=0.0,
                         affine_shear=0.0, hflip_probability=0.0)


def test_item_shapes_dtypes_and_object_reindexing(tmp_path):
    lay = _multi_object_dataset(tmp_path)
    cfg = ClipSamplerConfig(seq_length=4, num_objects=3, augment=AugmentConfig(crop_size=32))
    ds = VOSClipDataset([TrainDatasetSpec(lay, None, max_skip=2, multiplier=3)], cfg)
    assert len(ds) == 6 * 3
    for idx in (0, 7, 17):
        it = ds[idx]
        assert it["rgb"].shape == (4, 3, 32, 32) and it["rgb"].dtype == torch.float32
        assert 0 <= it["rgb"].min() and it["rgb"].max() <= 1
        assert it["voxel"].shape == (4, 5, 32, 32) and it["voxel"].dtype == torch.float32
        assert torch.count_nonzero(it["voxel"]) == 0  # frames-only layout
        assert it["cls_gt"].shape == (4, 1, 32, 32) and it["cls_gt"].dtype == torch.int64
        assert it["first_frame_gt"].shape == (1, 3, 32, 32) and it["first_frame_gt"].dtype == torch.float32
        assert it["selector"].shape == (3,) and it["selector"].dtype == torch.float32
        k = it["info"]["num_objects"]
        assert 1 <= k <= 3 and it["selector"].tolist() == [1.0] * k + [0.0] * (3 - k)
        assert set(it["cls_gt"].unique().tolist()) <= set(range(k + 1))
        for j in range(3):
            torch.testing.assert_close(it["first_frame_gt"][0, j], (it["cls_gt"][0, 0] == j + 1).float())
            assert (it["first_frame_gt"][0, j].sum() > 0) == (j < k)  # every chosen object is in frame 0
        assert it["info"]["name"] == "four" and len(it["info"]["frames"]) == 4


def test_first_frame_always_has_an_object(tmp_path):
    # Frames 0-3 have empty masks; clips seeded there must be re-drawn. The crop keeps only ~
    # 36 % of the frame at worst, so the crop retry is exercised too.
    lay = _multi_object_dataset(tmp_path, n_frames=8, empty_first=4)
    cfg = ClipSamplerConfig(seq_length=3, num_objects=2, reverse_probability=0.5, augment=AugmentConfig(crop_size=24))
    ds = VOSClipDataset([TrainDatasetSpec(lay, None, max_skip=1)], cfg)
    for idx in range(len(ds)):
        it = ds[idx]
        first = it["info"]["frames"][0]
        assert int(first) >= 4
        assert it["first_frame_gt"][0, 0].sum() > 0 and it["info"]["num_objects"] >= 1


def test_grow_clip_respects_max_skip():
    rng = np.random.default_rng(0)
    gaps = set()
    for trial in range(300):
        n, skip, length = int(rng.integers(8, 40)), int(rng.integers(1, 5)), 8
        seed = int(rng.integers(n))
        clip = grow_clip(seed, n, length, skip, rng)
        assert len(clip) == len(set(clip)) == length and seed in clip and clip == sorted(clip)
        assert 0 <= clip[0] and clip[-1] < n
        d = np.diff(clip)
        assert d.max() <= skip
        gaps |= set(d.tolist())
    assert gaps == {1, 2, 3, 4}  # all allowed gaps occur
    with pytest.raises(ValueError):
        grow_clip(0, 5, 8, 1, rng)


def test_items_respect_max_skip(tmp_path):
    ds0 = make_tiny_dataset(tmp_path / "L", "lle_davis", {"long": 20}, size=(24, 24))
    cfg = ClipSamplerConfig(seq_length=5, reverse_probability=0.5, augment=AugmentConfig(crop_size=16))
    ds = VOSClipDataset([TrainDatasetSpec(ds0.layout, "train", max_skip=2)], cfg)
    for idx in range(0, len(ds), 3):
        frames = [int(f) for f in ds[idx]["info"]["frames"]]
        assert np.abs(np.diff(sorted(frames))).max() <= 2 and len(set(frames)) == 5


def test_geometric_augmentation_is_shared_by_frame_mask_and_voxel(tmp_path):
    # Frame, mask and cached voxel grid mark the same square; after augmentation they must coincide.
    # "move": the square moves (forward clips: each frame's voxel grid is its own interval's);
    # "still": a static square (reversed clips take the voxel grid of the next frame's interval).
    lay = lle_davis(tmp_path)
    h, w = 60, 80
    for seq, speed in (("move", 1), ("still", 0)):
        for i in range(4):
            rgb = np.zeros((h, w, 3), np.uint8)
            ids = np.zeros((h, w), np.uint8)
            vox = np.zeros((5, h, w), np.float32)
            sl = (slice(15 + speed * i, 40 + speed * i), slice(20 + 2 * speed * i, 50 + 2 * speed * i))
            rgb[sl] = 255
            ids[sl] = 1
            vox[(slice(None),) + sl] = np.arange(1, 6, dtype=np.float32)[:, None, None]  # bin b holds b + 1
            write_frame(lay.image_folder(seq) / f"{i:05d}.png", rgb)
            write_mask(lay.mask_folder(seq) / f"{i:05d}.png", ids)
            lay.voxel_path(seq, f"{i:05d}").parent.mkdir(parents=True, exist_ok=True)
            np.save(lay.voxel_path(seq, f"{i:05d}"), vox)
    (tmp_path / "trainval_480p/ImageSets/2017").mkdir(parents=True)
    (tmp_path / "trainval_480p/ImageSets/2017/train.txt").write_text("move\n")
    (tmp_path / "trainval_480p/ImageSets/2017/val.txt").write_text("still\n")
    for rev, split in ((0.0, "train"), (1.0, "val")):
        cfg = ClipSamplerConfig(seq_length=4, reverse_probability=rev, augment=AugmentConfig(crop_size=48))
        ds = VOSClipDataset([TrainDatasetSpec(lay, split, max_skip=1)], cfg)
        for idx in range(4):
            it = ds[idx]
            m = it["cls_gt"][:, 0] == 1  # (T, S, S)
            assert m[0].any()
            for b in range(5):
                assert torch.equal(it["voxel"][:, b] != 0, m)  # nearest, same parameters: identical support
            values = set(it["voxel"].unique().tolist())
            expected = {float(b) for b in range(1, 6)} if rev == 0 else {-float(b) for b in range(1, 6)}
            assert values == expected | {0.0}  # nearest: no interpolated values; reversed: negated
            if rev == 1.0:  # reversed bins: bin 0 holds -(value of the last bin)
                assert set(it["voxel"][:, 0][m].tolist()) == {-5.0}
            bright = it["rgb"].mean(1) > 0.5  # (T, S, S), bilinear: edges may differ by a pixel
            iou = (bright & m).sum() / (bright | m).sum()
            assert iou > 0.85, iou


def test_colour_jitter_touches_frames_only(tmp_path):
    ds0 = make_tiny_dataset(tmp_path / "L", "lle_davis", {"s": 6}, size=(32, 32))
    strong = AugmentConfig(crop_size=24, sequence_jitter=ColorJitterConfig(0.8, 0.8, 0.8, 0.3),
                           frame_jitter=ColorJitterConfig(0.8, 0.8, 0.8, 0.3), grayscale_probability=0.0)
    none = AugmentConfig(crop_size=24, sequence_jitter=ColorJitterConfig(0, 0, 0, 0),
                         frame_jitter=ColorJitterConfig(0, 0, 0, 0), grayscale_probability=0.0)
    a = VOSClipDataset([TrainDatasetSpec(ds0.layout, "train", 1)], ClipSamplerConfig(seq_length=4, augment=strong))[3]
    b = VOSClipDataset([TrainDatasetSpec(ds0.layout, "train", 1)], ClipSamplerConfig(seq_length=4, augment=none))[3]
    assert a["info"] == b["info"]
    assert torch.count_nonzero(a["voxel"]) > 0
    assert torch.equal(a["voxel"], b["voxel"]) and torch.equal(a["cls_gt"], b["cls_gt"])
    assert (a["rgb"] - b["rgb"]).abs().max() > 0.05


@pytest.mark.parametrize("reverse", [False, True])
def test_voxel_grids_follow_the_frames_forward_and_reversed(tmp_path, reverse):
    ds0 = make_tiny_dataset(tmp_path / "L", "lle_davis", {"s": 6}, size=(32, 32))
    cfg = ClipSamplerConfig(seq_length=3, reverse_probability=1.0 if reverse else 0.0, augment=_identity_geometry(32))
    ds = VOSClipDataset([TrainDatasetSpec(ds0.layout, "train", max_skip=2)], cfg)
    for idx in range(len(ds)):
        it = ds[idx]
        frames = [int(f) for f in it["info"]["frames"]]
        assert frames == sorted(frames, reverse=reverse)
        for k, f in enumerate(frames):
            if reverse:
                # reverse playback: the chunk ending at frame f+1 played backwards (t -> -t, p -> -p);
                # the last frame of the sequence uses its own chunk
                c = ds0.chunks["s"][f"{min(f + 1, 5):05d}"]
                oracle = _loop_voxel(c.x[::-1], c.y[::-1], -c.t[::-1], -c.p[::-1], 32, 32, 5)
            else:
                c = ds0.chunks["s"][f"{max(f, 1):05d}"]  # frame 0 uses the chunk of frame 1
                oracle = _loop_voxel(c.x, c.y, c.t, c.p, 32, 32, 5)
            np.testing.assert_allclose(it["voxel"][k].numpy(), oracle, atol=1e-5)


def test_deterministic_for_a_seed_and_independent_of_workers(tmp_path):
    ds0 = make_tiny_dataset(tmp_path / "L", "lle_davis", {"a": 6, "b": 7}, size=(32, 40))
    cfg = ClipSamplerConfig(seq_length=4, augment=AugmentConfig(crop_size=24), seed=123)
    spec = [TrainDatasetSpec(ds0.layout, "train", max_skip=2, multiplier=2)]
    ds = VOSClipDataset(spec, cfg)
    state = torch.get_rng_state()
    first = [ds[i] for i in range(4)]
    assert torch.equal(torch.get_rng_state(), state)  # the caller's global RNG is untouched
    again = VOSClipDataset(spec, cfg)
    for x, y in zip(first, [again[i] for i in range(4)]):
        for key in ("rgb", "voxel", "cls_gt", "first_frame_gt", "selector"):
            assert torch.equal(x[key], y[key])
        assert x["info"] == y["info"]
    batches = list(DataLoader(again, batch_size=2, num_workers=2, shuffle=False))
    assert torch.equal(batches[0]["rgb"][1], first[1]["rgb"]) and torch.equal(batches[1]["voxel"][0], first[2]["voxel"])
    other = VOSClipDataset(spec, ClipSamplerConfig(seq_length=4, augment=AugmentConfig(crop_size=24), seed=124))
    assert not torch.equal(other[0]["rgb"], first[0]["rgb"])
    again.set_epoch(1)
    assert not torch.equal(again[0]["rgb"], first[0]["rgb"])


def test_explicit_item_seed_fixes_the_clip(tmp_path):
    ds0 = make_tiny_dataset(tmp_path / "L", "lle_davis", {"a": 6, "b": 7}, size=(32, 40))
    spec = [TrainDatasetSpec(ds0.layout, "train", max_skip=2)]
    ds = VOSClipDataset(spec, ClipSamplerConfig(seq_length=4, augment=AugmentConfig(crop_size=24), seed=1))
    a = ds[(3, 777)]
    ds.set_epoch(5)  # an explicit seed ignores the epoch and the config seed
    b = VOSClipDataset(spec, ClipSamplerConfig(seq_length=4, augment=AugmentConfig(crop_size=24), seed=2))[(3, 777)]
    assert torch.equal(a["rgb"], ds[(3, 777)]["rgb"]) and torch.equal(a["rgb"], b["rgb"])
    assert torch.equal(a["voxel"], b["voxel"]) and a["info"] == b["info"]
    assert not torch.equal(a["rgb"], ds[(3, 778)]["rgb"])


@pytest.mark.shared_data
def test_several_datasets_and_frames_only(tmp_path, davis2016):
    ev = make_tiny_dataset(tmp_path / "L", "lle_davis", {"s": 5}, size=(40, 40))
    cfg = ClipSamplerConfig(seq_length=4, augment=AugmentConfig(crop_size=32))
    ds = VOSClipDataset([TrainDatasetSpec(ev.layout, "train", max_skip=2, multiplier=2),
                         TrainDatasetSpec(davis(davis2016), "val", max_skip=1)], cfg)
    assert len(ds) == 2 * 5 + 50 + 40 + 50 + 50 + 50 + 40  # val frames of DAVIS 2016
    it = ds[len(ds) - 1]  # motocross-jump, frames only
    assert it["info"]["name"] == "motocross-jump" and torch.count_nonzero(it["voxel"]) == 0
    assert it["cls_gt"].shape == (4, 1, 32, 32) and it["first_frame_gt"].sum() > 0
    assert torch.count_nonzero(ds[0]["voxel"]) > 0


def test_sequences_shorter_than_the_clip_are_skipped(tmp_path):
    ds0 = make_tiny_dataset(tmp_path / "L", "lle_davis", {"short": 3, "ok": 5}, size=(24, 24))
    ds = VOSClipDataset([TrainDatasetSpec(ds0.layout, "train", 1)], ClipSamplerConfig(seq_length=4, augment=AugmentConfig(crop_size=16)))
    assert len(ds) == 5 and [s.name for s in ds.sequences[0]] == ["ok"]
    with pytest.raises(InputError, match="at least 8 frames"):
        VOSClipDataset([TrainDatasetSpec(ds0.layout, "train", 1)], ClipSamplerConfig(seq_length=8))


def test_config_rejects_bad_values_and_works_as_a_structured_config():
    from omegaconf import OmegaConf

    with pytest.raises(ValueError, match="reverse_probability"):
        ClipSamplerConfig(reverse_probability=1.5)
    with pytest.raises(ValueError):
        ClipSamplerConfig(seq_length=0)
    cfg = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(ClipSamplerConfig), {"augment": {"crop_size": 96}}))
    assert isinstance(cfg, ClipSamplerConfig) and cfg.augment.crop_size == 96 and cfg.seq_length == 8
