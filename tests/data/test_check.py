import pytest
import numpy as np
from PIL import Image

from evolve.apps.check import main
from evolve.data.check import check_dataset
from evolve.data.events import EventChunk, load_event_chunk, save_event_chunk
from evolve.data.image_io import write_mask
from evolve.data.precompute_voxels import precompute
from tests.data.conftest import make_tiny_dataset


def test_clean_dataset_passes_with_a_summary(tmp_path, capsys):
    ds = make_tiny_dataset(tmp_path / "LLE_DAVIS", "lle_davis")
    rep = check_dataset(ds.layout)
    assert rep.problems == []
    n_events = sum(len(c) for seq in ds.chunks.values() for c in seq.values())
    assert (rep.sequences, rep.frames, rep.masks, rep.events, rep.objects) == (2, 9, 9, n_events, 2)
    assert main([str(ds.layout.root), "--no-progress", "--workers", "0"]) == 0
    out = capsys.readouterr().out
    assert f"events:    {n_events:,}" in out and "problems:  0" in out


def test_reports_every_problem_not_just_the_first(tmp_path, capsys):
    ds = make_tiny_dataset(tmp_path / "LLE_VOS", "lle_vos", {"00001": 5, "00002": 4, "00003": 3},
                           splits={"train": ["00001", "00002", "00099"], "val": ["00003"]})
    lay = ds.layout
    ev1, ev2 = lay.event_folder("00001"), lay.event_folder("00002")
    expected = []  # (file, words in the problem)

    def chunk_npy(path, x, y, t, p):
        np.save(path, np.stack([x, y, t, p], axis=1).astype(np.float64))

    c = ds.chunks["00001"]["00001"]
    x = c.x.copy(); x[3] = 56  # outside the 56-wide frame
    t = c.t.astype(np.float64).copy(); t[[10, 11]] = t[[11, 10]] + np.array([0.0, 5.0])  # decrease
    t[20] = np.nan
    chunk_npy(ev1 / "00001.npy", x, c.y, t, (c.p > 0).astype(np.int64))
    expected += [(ev1 / "00001.npy", "outside the 56x40 frame"), (ev1 / "00001.npy", "timestamps decrease"),
                 (ev1 / "00001.npy", "NaN")]
    c = ds.chunks["00001"]["00002"]
    chunk_npy(ev1 / "00002.npy", c.x, c.y, c.t - 2_000_000, (c.p > 0).astype(np.int64))
    expected.append((ev1 / "00002.npy", "negative timestamps"))
    (ev1 / "00003.npy").unlink()
    expected.append((ev1 / "00003.npy", "missing event chunk"))
    np.save(ev1 / "00009.npy", np.zeros((4, 4)))
    expected.append((ev1 / "00009.npy", "no frame"))
    (ev2 / "00002.npy").write_bytes(b"\x93NUMPY garbage")
    expected.append((ev2 / "00002.npy", "cannot read event file"))
    # masks and frames
    m1 = lay.mask_folder("00001")
    Image.fromarray(np.zeros((40, 56, 3), np.uint8), "RGB").save(m1 / "00002.png")
    expected.append((m1 / "00002.png", "colours are not object ids"))
    write_mask(m1 / "00003.png", np.ones((20, 28), np.uint8))
    expected.append((m1 / "00003.png", "mask is 28x20 but its frame is 56x40"))
    (m1 / "00004.png").unlink()
    expected.append((m1 / "00004.png", "missing mask"))
    write_mask(m1 / "00017.png", np.ones((40, 56), np.uint8))
    expected.append((m1 / "00017.png", "mask with no frame"))
    write_mask(lay.mask_folder("00002") / "00000.png", np.zeros((40, 56), np.uint8))
    expected.append((lay.mask_folder("00002") / "00000.png", "first-frame mask has no object"))
    f3 = lay.image_folder("00003") / "00001.png"
    f3.write_bytes(f3.read_bytes()[: f3.stat().st_size // 2])
    expected.append((f3, "cannot decode image"))
    expected.append((tmp_path / "LLE_VOS/train.txt", "'00099'"))
    for name in ("val_indoor", "val_outdoor"):  # split files of the preset that were never written
        expected.append((tmp_path / f"LLE_VOS/{name}.txt", "does not exist"))
    # voxel cache: one valid sequence, then a wrong shape and a file with no frame
    precompute(lay, split="val", progress=False)  # 00003 has good chunks
    vx = lay.voxel_folder("00003")
    np.save(vx / "00002.npy", np.zeros((5, 40, 55), np.float32))
    expected.append((vx / "00002.npy", "expected float32 (5, 40, 56)"))
    np.save(vx / "00005.npy", np.zeros((5, 40, 56), np.float32))
    expected.append((vx / "00005.npy", "voxel grid file with no frame"))
    (vx / "00000.npy").unlink()  # a partial cache is fine while the raw events are there

    rep = check_dataset(lay, workers=0)
    found = [(p.path, p.problem) for p in rep.problems]
    for path, words in expected:
        assert any(fp == str(path) and words in prob for fp, prob in found), (path, words, found)
    assert len(rep.problems) == len(expected)
    assert any("no cached voxel grid" in n for n in rep.notes)  # 00001/00002 have no cache: fine, a note
    assert main([str(lay.root), "--no-progress", "--workers", "2"]) == 1
    out = capsys.readouterr().out
    assert out.count("PROBLEM ") == len(expected) and f"problems:  {len(expected)}" in out


def test_quick_mode_skips_event_contents(tmp_path):
    ds = make_tiny_dataset(tmp_path / "LLE_DAVIS", "lle_davis")
    p = ds.layout.event_folder("seq_a") / "00002.npz"
    c = load_event_chunk(p)
    save_event_chunk(p, EventChunk(c.x, c.y, c.t[::-1].copy(), c.p))
    assert len(check_dataset(ds.layout).problems) == 1
    assert check_dataset(ds.layout, quick=True).problems == []


def test_sparse_masks_only_need_the_first_frame(tmp_path):
    ds = make_tiny_dataset(tmp_path / "LLE_DAVIS", "lle_davis", {"s": 4})
    (ds.layout.mask_folder("s") / "00002.png").unlink()
    assert len(check_dataset(ds.layout).problems) == 1
    assert check_dataset(ds.layout, sparse_masks=True).problems == []


@pytest.mark.shared_data
def test_real_davis2016_is_clean(davis2016, capsys):
    assert main([str(davis2016), "--split", "val", "--quick", "--no-progress", "--workers", "0"]) == 0
    out = capsys.readouterr().out
    assert "sequences: 6" in out and "frames:    280" in out and "objects:   6" in out


def test_gap_in_frame_numbers_is_reported(tmp_path):
    ds = make_tiny_dataset(tmp_path / "LLE_DAVIS", "lle_davis", {"s": 6})
    lay = ds.layout
    for folder, ext in ((lay.image_folder("s"), ".jpg"), (lay.mask_folder("s"), ".png"), (lay.event_folder("s"), ".npz")):
        (folder / f"00003{ext}").unlink()
    probs = check_dataset(lay).problems
    assert [(p.path, "jump from 00002 to 00004" in p.problem) for p in probs] == [(str(lay.image_folder("s") / "00002.jpg"), True)]
