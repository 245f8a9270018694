import numpy as np
import pytest
import torch
from PIL import Image

from evolve.data.image_io import davis_palette, read_frame
from evolve.data.layout import davis
from evolve.data.precompute_voxels import precompute
from evolve.data.video_reader import VOSTestDataset, VideoReader, resized_size
from evolve.utils.errors import InputError
from tests.data.conftest import make_tiny_dataset
from tests.data.test_voxel import _loop_voxel

# Frame counts of the 14 DAVIS 2016 sequences in ../shared/data (DAVIS 2016 480p).
DAVIS2016_FRAMES = {
    "blackswan": 50, "boat": 75, "car-shadow": 40, "dance-jump": 60, "drift-straight": 50, "hockey": 75,
    "horsejump-high": 50, "kite-surf": 50, "motocross-bumps": 60, "motocross-jump": 40, "rollerblade": 35,
    "surf": 55, "swing": 60, "tennis": 70,
}


@pytest.mark.shared_data
def test_reads_every_davis2016_sequence(davis2016):
    lay = davis(davis2016)
    seen = {}
    for split in ("train", "val"):
        for reader in VOSTestDataset(lay, split):
            seen[reader.name] = len(reader)
            assert reader.original_size == (480, 854) and reader.size_out == (480, 854)
            assert len(reader.frame_names) == len(list((lay.image_folder(reader.name)).glob("*.jpg")))
            assert reader.frame_names[0] == "00000" and not reader.has_events
            assert reader.palette == davis_palette()  # grayscale {0,255} masks have no palette
            first, last = reader[0], reader[len(reader) - 1]
            assert first.rgb.shape == (3, 480, 854) and first.rgb.dtype == torch.float32
            assert 0 <= first.rgb.min() and first.rgb.max() <= 1
            assert first.voxel.shape == (5, 480, 854) and torch.count_nonzero(first.voxel) == 0
            assert first.mask.dtype == torch.int64 and first.objects == [1]
            png = np.asarray(Image.open(lay.mask_folder(reader.name) / "00000.png"))
            assert torch.equal(first.mask, torch.from_numpy((png == 255).astype(np.int64)))
            assert last.mask is None and last.objects is None and last.name == reader.frame_names[-1]
    assert seen == DAVIS2016_FRAMES


@pytest.mark.shared_data
def test_davis_loader_with_workers_matches_plain_iteration(davis2016):
    reader = VideoReader(davis(davis2016), "car-shadow", size=120)
    assert reader.size_out == (120, 214)
    plain = [reader[i] for i in (0, 1, len(reader) - 1)]
    got = list(reader.loader(num_workers=2))
    assert [s.index for s in got] == list(range(len(reader))) == [int(n) for n in reader.frame_names]
    for s in plain:
        torch.testing.assert_close(got[s.index].rgb, s.rgb, rtol=0, atol=0)
    assert got[0].rgb.shape == (3, 120, 214) and got[0].mask.shape == (120, 214) and got[0].objects == [1]


@pytest.mark.shared_data
@pytest.mark.parametrize("preset", ["lle_davis", "lle_vos"])
def test_tiny_lle_dataset_from_davis_frames_reads_back(tmp_path, davis2016, preset):
    # Two sequences of three real DAVIS frames (downscaled to 120x214), synthetic events.
    lay0 = davis(davis2016)
    images, masks = {}, {}
    for seq in ("blackswan", "kite-surf"):
        ims, ms = [], []
        for stem in ("00000", "00001", "00002"):
            im = Image.open(lay0.image_folder(seq) / f"{stem}.jpg").resize((214, 120), Image.BILINEAR)
            m = Image.open(lay0.mask_folder(seq) / f"{stem}.png").resize((214, 120), Image.NEAREST)
            ims.append(np.asarray(im))
            ms.append((np.asarray(m) == 255).astype(np.uint8))
        images[seq], masks[seq] = ims, ms
    root = tmp_path / preset
    ds = make_tiny_dataset(root, preset, {"blackswan": 3, "kite-surf": 3}, images=images, masks=masks,
                           splits={"train": ["kite-surf"], "val": ["blackswan", "kite-surf"]})
    test = VOSTestDataset(ds.layout, "val")
    assert test.sequences == ["blackswan", "kite-surf"]
    for reader in test:
        assert reader.has_events and reader.original_size == (120, 214)
        samples = list(reader)
        for k, s in enumerate(samples):
            stem = "00001" if k == 0 else f"{k:05d}"  # frame 0 uses the chunk of frame 1
            c = ds.chunks[reader.name][stem]
            oracle = _loop_voxel(c.x, c.y, c.t, c.p, 120, 214, 5)
            np.testing.assert_allclose(s.voxel.numpy(), oracle, atol=1e-5)
            on_disk = read_frame(reader.files.frame_files[k])
            np.testing.assert_array_equal((s.rgb * 255).round().byte().permute(1, 2, 0).numpy(), on_disk)
        if preset == "lle_vos":  # PNG frames are lossless: exactly the frames we wrote
            np.testing.assert_array_equal(read_frame(reader.files.frame_files[1]), images[reader.name][1])
        assert torch.equal(samples[0].mask, torch.from_numpy(masks[reader.name][0].astype(np.int64)))
        assert samples[0].objects == [1]


def test_size_resizes_frames_bilinear_and_voxels_masks_nearest(tiny_lle_davis):
    reader = VideoReader(tiny_lle_davis.layout, "seq_a", size=20)
    assert reader.original_size == (40, 56) and reader.size_out == (20, 28)
    full = VideoReader(tiny_lle_davis.layout, "seq_a")[1]
    small = reader[1]
    assert small.rgb.shape == (3, 20, 28) and small.voxel.shape == (5, 20, 28)
    # nearest: every value of the small grid is a value of the full grid
    assert set(small.voxel.unique().tolist()) <= set(full.voxel.unique().tolist())
    m0 = reader[0].mask
    assert m0.shape == (20, 28) and set(m0.unique().tolist()) == {0, 1}
    assert resized_size((480, 854), 480) == (480, 854)
    assert resized_size((1080, 1920), 480) == (480, 853)
    assert resized_size((260, 346), 480) == (260, 346)
    assert resized_size((1280, 720), 480) == (853, 480)


def test_voxel_cache_is_used_when_valid_and_ignored_when_not(tiny_lle_vos):
    lay = tiny_lle_vos.layout
    written, skipped = precompute(lay, progress=False)
    assert written == 4 + 5 and skipped == 0
    reader = VideoReader(lay, "seq_a")
    cache = lay.voxel_path("seq_a", "00002")
    marked = np.load(cache)
    marked[0, 0, 0] = 123.0
    np.save(cache, marked)
    assert reader[2].voxel[0, 0, 0].item() == 123.0  # read from the cache
    np.save(cache, np.zeros((5, 3, 3), np.float32))  # wrong shape: rebuilt from the chunk, with a warning
    with pytest.warns(UserWarning, match="invalid voxel cache"):
        v = reader[2].voxel
    c = tiny_lle_vos.chunks["seq_a"]["00002"]
    np.testing.assert_allclose(v.numpy(), _loop_voxel(c.x, c.y, c.t, c.p, 40, 56, 5), atol=1e-5)


def test_use_all_masks_gives_every_annotated_frame(tiny_lle_davis):
    lay = tiny_lle_davis.layout
    (lay.mask_folder("seq_b") / "00002.png").unlink()
    r = VideoReader(lay, "seq_b", use_all_masks=True)
    got = [s.mask is not None for s in r]
    assert got == [True, True, False, True, True]
    assert r[3].objects == [1]
    r0 = VideoReader(lay, "seq_b")
    assert [s.mask is not None for s in r0] == [True, False, False, False, False]


def test_missing_first_mask_and_empty_first_mask(tiny_lle_davis):
    lay = tiny_lle_davis.layout
    from evolve.data.image_io import write_mask

    write_mask(lay.mask_folder("seq_a") / "00000.png", np.zeros((40, 56), np.uint8))
    with pytest.raises(InputError, match="no object") as e:
        VideoReader(lay, "seq_a")[0]
    assert e.value.path == str(lay.mask_folder("seq_a") / "00000.png")
    (lay.mask_folder("seq_a") / "00000.png").unlink()
    with pytest.raises(InputError, match="first frame has no mask"):
        VideoReader(lay, "seq_a")


def test_worker_errors_keep_their_type_and_file(tiny_lle_davis):
    lay = tiny_lle_davis.layout
    bad = lay.event_folder("seq_a") / "00003.npz"
    bad.write_bytes(bad.read_bytes()[:40])
    reader = VideoReader(lay, "seq_a")
    with pytest.raises(InputError) as e:
        list(reader.loader(num_workers=1))
    assert e.value.path == str(bad)


def test_a_voxel_cache_without_raw_events_applies_the_frame_zero_rule(tmp_path):
    # EventVoxel files only, named after the frame that ends each chunk (no 00000.npy), no raw
    # events: frame 0 uses frame 1's grid, as it would use chunk 1 (DESIGN 2.3).
    import shutil

    from evolve.apps.check import main as check_main
    from evolve.data.video_reader import VOSTestDataset
    from evolve.data.voxel import chunk_to_voxel_grid
    from tests.data.conftest import make_tiny_dataset

    ds = make_tiny_dataset(tmp_path, "lle_vos", {"seq_a": 4}, splits={"val": ["seq_a"]})
    lay = ds.layout
    for stem, chunk in ds.chunks["seq_a"].items():
        grid = chunk_to_voxel_grid(chunk, ds.size, 5).numpy()
        path = lay.voxel_path("seq_a", stem)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, grid)
    shutil.rmtree(lay.event_folder("seq_a"))
    assert not lay.voxel_path("seq_a", "00000").exists()
    reader = next(iter(VOSTestDataset(lay, "val")))
    first, second = reader[0].voxel, reader[1].voxel
    torch.testing.assert_close(first, second)  # frame 0 <- frame 1's cached grid
    assert float(second.abs().sum()) > 0
    assert check_main([str(lay.root), "--layout", "lle_vos", "--split", "val", "--no-progress", "--workers", "0"]) == 0
