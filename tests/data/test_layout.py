from pathlib import Path

import numpy as np
import pytest

from evolve.data.layout import (
    davis,
    detect_layout,
    generic,
    index_sequence,
    list_frames,
    list_sequences,
    lle_davis,
    lle_vos,
)
from evolve.data.splits import natural_key, read_split_file
from evolve.utils.errors import InputError
from tests.data.conftest import make_tiny_dataset, random_chunk, write_chunk


def test_preset_folders_match_the_documented_layouts(tmp_path):
    v = lle_vos(tmp_path)
    assert v.image_folder("00001") == tmp_path / "Lowlight_Images/00001"
    assert v.event_folder("00001") == tmp_path / "Lowlight_event/00001"
    assert v.voxel_path("00001", "00003") == tmp_path / "EventVoxel/00001/00003.npy"
    assert v.split_path("val_indoor") == tmp_path / "val_indoor.txt"
    d = lle_davis(tmp_path)
    assert d.mask_folder("bear") == tmp_path / "trainval_480p/Annotations/bear"
    assert d.split_path("val") == tmp_path / "trainval_480p/ImageSets/2017/val.txt"
    assert d.normal_image_dir == "trainval_480p/JPEGImages"
    p = davis(tmp_path)
    assert p.image_folder("bear") == tmp_path / "JPEGImages/480p/bear" and not p.has_events
    assert p.voxel_folder("bear") is None and p.event_folder("bear") is None
    g = generic(tmp_path, "imgs", "anns", split_file="lists/mine.txt")
    assert g.default_split == "mine" and g.split_path("mine") == tmp_path / "lists/mine.txt" and not g.has_events


def test_natural_sort_and_split_file_forms(tmp_path):
    assert sorted(["10", "2", "1"], key=natural_key) == ["1", "2", "10"]
    f = tmp_path / "s.txt"
    f.write_text("/JPEGImages/480p/bear/00000.jpg /Annotations/480p/bear/00000.png\n"
                 "/JPEGImages/480p/bear/00001.jpg /Annotations/480p/bear/00001.png\n\n# comment\ncows\n")
    assert read_split_file(f) == ["bear", "cows"]


def test_pairs_chunks_by_name_and_first_frame_uses_second_chunk(tmp_path):
    ds = make_tiny_dataset(tmp_path, "lle_davis", {"s": 4})
    files = index_sequence(ds.layout, "s")
    ev = ds.layout.event_folder("s")
    assert files.frames == ("00000", "00001", "00002", "00003")
    assert [p.name for p in files.chunk_files] == ["00001.npz", "00001.npz", "00002.npz", "00003.npz"]
    assert files.chunk_for_reversed(0) == ev / "00001.npz"
    assert files.chunk_for_reversed(2) == ev / "00003.npz"
    assert files.chunk_for_reversed(3) == ev / "00003.npz"  # last frame: its own chunk, reversed
    assert files.has_events and set(files.mask_files) == set(files.frames)


def test_pairing_is_by_name_not_sorted_position(tmp_path, rng):
    # Frames 00000, 00002, 00004 (every other frame kept): chunks are named 00002, 00004.
    ds = make_tiny_dataset(tmp_path, "lle_davis", {"s": 1})
    lay = ds.layout
    from evolve.data.image_io import write_frame, write_mask

    for stem in ("00002", "00004"):
        write_frame(lay.image_folder("s") / f"{stem}.jpg", np.zeros((40, 56, 3), np.uint8))
        write_mask(lay.mask_folder("s") / f"{stem}.png", np.zeros((40, 56), np.uint8))
        write_chunk(lay.event_folder("s") / f"{stem}.npz", random_chunk(rng, 10, (40, 56), 0))
    files = index_sequence(lay, "s")
    assert [p.stem for p in files.chunk_files] == ["00002", "00002", "00004"]


def test_missing_chunk_names_the_file(tmp_path):
    ds = make_tiny_dataset(tmp_path, "lle_davis", {"s": 4})
    (ds.layout.event_folder("s") / "00002.npz").unlink()
    with pytest.raises(InputError) as e:
        index_sequence(ds.layout, "s")
    assert e.value.path == str(ds.layout.event_folder("s") / "00002.npz")
    assert "missing event chunk" in e.value.problem


def test_extra_chunk_names_the_file(tmp_path, rng):
    ds = make_tiny_dataset(tmp_path, "lle_vos", {"s": 3})
    extra = ds.layout.event_folder("s") / "00007.npy"
    write_chunk(extra, random_chunk(rng, 5, (40, 56), 0))
    with pytest.raises(InputError) as e:
        index_sequence(ds.layout, "s")
    assert e.value.path == str(extra) and "no frame" in e.value.problem


def test_zero_padding_mismatch_gets_a_hint(tmp_path, rng):
    ds = make_tiny_dataset(tmp_path, "lle_davis", {"s": 2})
    ev = ds.layout.event_folder("s")
    (ev / "00001.npz").rename(ev / "1.npz")
    with pytest.raises(InputError, match="zero padding"):
        index_sequence(ds.layout, "s")


def test_first_frame_own_chunk_is_used_when_present(tmp_path, rng):
    ds = make_tiny_dataset(tmp_path, "lle_davis", {"s": 3})
    write_chunk(ds.layout.event_folder("s") / "00000.npz", random_chunk(rng, 5, (40, 56), 0))
    assert index_sequence(ds.layout, "s").chunk_files[0].name == "00000.npz"


def test_layout_with_events_but_no_event_folder_is_an_error(tmp_path):
    ds = make_tiny_dataset(tmp_path, "lle_davis", {"s": 3})
    import shutil

    shutil.rmtree(ds.layout.event_folder("s"))
    with pytest.raises(InputError, match="event folder") as e:
        index_sequence(ds.layout, "s")
    assert e.value.path == str(ds.layout.event_folder("s"))


def test_frames_only_layout_has_no_events(tmp_path):
    ds = make_tiny_dataset(tmp_path, "lle_davis", {"s": 3})
    lay = generic(ds.layout.root, "trainval_480p/Lowlight_Images", "trainval_480p/Annotations")
    files = index_sequence(lay, "s")
    assert not files.has_events and files.chunk_files == (None, None, None)


def test_splits_and_sequences(tmp_path):
    ds = make_tiny_dataset(tmp_path, "lle_vos", {"00001": 2, "00009": 2, "00015": 2},
                           splits={"train": ["00015", "00001"], "val": ["00009", "00042"]})
    assert list_sequences(ds.layout, "train") == ["00015", "00001"]
    assert list_sequences(ds.layout) == ["00001", "00009", "00015"]
    with pytest.raises(InputError, match="00042") as e:
        list_sequences(ds.layout, "val")
    assert e.value.path == str(tmp_path / "val.txt")
    with pytest.raises(InputError, match="unknown split"):
        list_sequences(ds.layout, "test")
    with pytest.raises(InputError, match="split file does not exist"):
        list_sequences(ds.layout, "val_indoor")
    assert list_frames(ds.layout, "00009") == ["00000", "00001"]


def test_detect_layout(tmp_path):
    a = make_tiny_dataset(tmp_path / "A", "lle_vos", {"s": 2})
    b = make_tiny_dataset(tmp_path / "B", "lle_davis", {"s": 2})
    assert detect_layout(a.layout.root).name == "lle_vos"
    assert detect_layout(b.layout.root).name == "lle_davis"
    assert detect_layout(b.layout.root / "trainval_480p").root == b.layout.root
    with pytest.raises(InputError, match="cannot tell"):
        detect_layout(tmp_path)


@pytest.mark.shared_data
def test_davis_preset_on_real_davis2016(davis2016):
    lay = davis(davis2016)
    assert detect_layout(davis2016).name == "davis"
    train, val = list_sequences(lay, "train"), list_sequences(lay, "val")
    assert len(train) == 8 and len(val) == 6 and not set(train) & set(val)
    assert "blackswan" in val and "boat" in train
    files = index_sequence(lay, "blackswan")
    assert len(files) == len(list((Path(davis2016) / "JPEGImages/480p/blackswan").glob("*.jpg")))
    assert not files.has_events


def test_make_layout_by_name(tmp_path):
    from evolve.data.layout import make_layout

    assert make_layout("lle_vos", tmp_path) == lle_vos(tmp_path)
    assert make_layout("davis", tmp_path, resolution="Full-Resolution").image_dir == "JPEGImages/Full-Resolution"
    g = make_layout("generic", tmp_path, image_dir="a", mask_dir="b", event_dir="c")
    assert g.has_events and g.event_folder("s") == tmp_path / "c/s"
    with pytest.raises(InputError, match="unknown dataset layout"):
        make_layout("ytvos", tmp_path)
    with pytest.raises(InputError, match="bad options"):
        make_layout("lle_vos", tmp_path, image_dir="x")


def test_lookup_by_stem(tmp_path):
    ds = make_tiny_dataset(tmp_path, "lle_davis", {"s": 3})
    files = index_sequence(ds.layout, "s")
    ev = ds.layout.event_folder("s")
    assert files.chunk_of("00000") == ev / "00001.npz" and files.chunk_of("00002") == ev / "00002.npz"
    assert files.mask_of("00001") == ds.layout.mask_folder("s") / "00001.png"
    assert files.voxel_of("00002") == ds.layout.voxel_path("s", "00002")
    assert files.frame_of("00001").name == "00001.jpg"
    with pytest.raises(KeyError):
        files.chunk_of("00009")
