"""Bad input: each problem is an InputError naming the file, and nothing is (half-)written."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from evolve.data.augment import AugmentConfig
from evolve.data.events import EventChunk, load_event_chunk, save_event_chunk
from evolve.data.image_io import write_mask
from evolve.data.precompute_voxels import precompute
from evolve.data.video_reader import VOSTestDataset
from evolve.data.train_sampler import ClipSamplerConfig, TrainDatasetSpec, VOSClipDataset
from evolve.utils.errors import InputError
from tests.data.conftest import make_tiny_dataset, random_chunk


def _truncated_npz(ds):
    p = ds.layout.event_folder("seq_a") / "00002.npz"
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])
    return p, "truncated or corrupt"


def _corrupt_npz(ds):
    p = ds.layout.event_folder("seq_a") / "00002.npz"
    b = bytearray(p.read_bytes())
    for i in range(200, 400):
        b[i] ^= 0xFF
    p.write_bytes(bytes(b))
    return p, "truncated or corrupt"


def _unsorted(ds):
    p = ds.layout.event_folder("seq_a") / "00002.npz"
    c = load_event_chunk(p)
    save_event_chunk(p, EventChunk(c.x, c.y, c.t[::-1].copy(), c.p))
    return p, "timestamps decrease"


def _out_of_range(ds):
    p = ds.layout.event_folder("seq_a") / "00003.npz"
    c = load_event_chunk(p)
    x = c.x.copy()
    x[5] = 56  # the frame is 56 wide: x must be < 56
    save_event_chunk(p, EventChunk(x, c.y, c.t, c.p))
    return p, "outside the 56x40 frame"


def _missing_chunk(ds):
    p = ds.layout.event_folder("seq_a") / "00003.npz"
    p.unlink()
    return p, "missing event chunk"


def _extra_chunk(ds):
    p = ds.layout.event_folder("seq_a") / "00011.npz"
    save_event_chunk(p, random_chunk(np.random.default_rng(3), 10, (40, 56), 0))
    return p, "no frame of the same name"


def _rgb_mask(ds):
    p = ds.layout.mask_folder("seq_a") / "00000.png"
    rgb = np.zeros((40, 56, 3), np.uint8)
    rgb[5:15, 5:15] = (128, 0, 0)
    Image.fromarray(rgb, "RGB").save(p)
    return p, "colours are not object ids"


def _wrong_size_mask(ds):
    p = ds.layout.mask_folder("seq_a") / "00000.png"
    m = np.zeros((20, 28), np.uint8)
    m[2:8, 2:8] = 1
    write_mask(p, m)
    return p, "mask is 28x20 but the frame is 56x40"


EVENT_CASES = [_truncated_npz, _corrupt_npz, _unsorted, _out_of_range, _missing_chunk, _extra_chunk]
MASK_CASES = [_rgb_mask, _wrong_size_mask]


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file()}


def _read_all(layout):
    for reader in VOSTestDataset(layout, "train"):
        for _ in reader:
            pass


@pytest.mark.parametrize("damage", EVENT_CASES + MASK_CASES, ids=lambda f: f.__name__.strip("_"))
def test_reader_names_the_file_and_writes_nothing(tmp_path, damage):
    ds = make_tiny_dataset(tmp_path / "LLE_DAVIS", "lle_davis")
    path, message = damage(ds)
    before = _snapshot(tmp_path)
    with pytest.raises(InputError, match=message) as e:
        _read_all(ds.layout)
    assert e.value.path == str(path)
    assert str(path) in str(e.value) and "Fix:" in str(e.value)
    assert _snapshot(tmp_path) == before


@pytest.mark.parametrize("damage", EVENT_CASES, ids=lambda f: f.__name__.strip("_"))
def test_precompute_stops_at_the_bad_chunk_without_partial_files(tmp_path, damage):
    ds = make_tiny_dataset(tmp_path / "LLE_DAVIS", "lle_davis")
    path, message = damage(ds)
    with pytest.raises(InputError, match=message) as e:
        precompute(ds.layout, progress=False)
    assert e.value.path == str(path)
    vox = ds.layout.root / ds.layout.voxel_dir
    written = [str(p.relative_to(vox)) for p in vox.rglob("*") if p.is_file()] if vox.exists() else []
    assert not [n for n in written if ".tmp-" in n]
    assert f"seq_a/{path.stem}.npy" not in written
    assert all(n.endswith(".npy") for n in written)


@pytest.mark.parametrize("damage", EVENT_CASES + MASK_CASES, ids=lambda f: f.__name__.strip("_"))
def test_training_sampler_names_the_file(tmp_path, damage):
    ds = make_tiny_dataset(tmp_path / "LLE_DAVIS", "lle_davis", {"seq_a": 4})
    path, message = damage(ds)
    cfg = ClipSamplerConfig(seq_length=4, reverse_probability=0.0, augment=AugmentConfig(crop_size=32))
    with pytest.raises(InputError, match=message) as e:
        clips = VOSClipDataset([TrainDatasetSpec(ds.layout, "train", max_skip=1)], cfg)
        clips[0]
    assert e.value.path == str(path)
