import numpy as np
import pytest

from evolve.data.layout import generic
from evolve.apps.voxels import main
from evolve.data.precompute_voxels import precompute
from evolve.utils.errors import InputError
from tests.data.test_voxel import _loop_voxel


def test_writes_one_grid_per_frame_and_frame0_uses_chunk1(tiny_lle_davis):
    ds = tiny_lle_davis
    lay = ds.layout
    written, skipped = precompute(lay, progress=False)
    assert (written, skipped) == (9, 0)
    for seq, stems in ds.frames.items():
        files = sorted(p.name for p in lay.voxel_folder(seq).iterdir())
        assert files == [f"{s}.npy" for s in stems]  # one per frame, no temporary leftovers
        for stem in stems:
            v = np.load(lay.voxel_path(seq, stem))
            assert v.dtype == np.float32 and v.shape == (5, 40, 56)
            c = ds.chunks[seq]["00001" if stem == "00000" else stem]
            np.testing.assert_allclose(v, _loop_voxel(c.x, c.y, c.t, c.p, 40, 56, 5), atol=1e-5)


def test_skips_valid_files_and_rebuilds_invalid_ones(tiny_lle_davis):
    lay = tiny_lle_davis.layout
    precompute(lay, progress=False)
    good = lay.voxel_path("seq_a", "00002")
    bad = lay.voxel_path("seq_b", "00003")
    np.save(bad, np.zeros((5, 2, 2), np.float32))
    mtime = good.stat().st_mtime_ns
    assert precompute(lay, progress=False) == (1, 8)
    assert good.stat().st_mtime_ns == mtime
    assert np.load(bad).shape == (5, 40, 56)
    assert precompute(lay, overwrite=True, progress=False) == (9, 0)


def test_cli_with_workers_and_split(tiny_lle_vos, capsys):
    lay = tiny_lle_vos.layout
    assert main([str(lay.root), "--split", "val", "--workers", "2", "--no-progress"]) == 0
    assert "wrote 4 voxel grid(s)" in capsys.readouterr().out
    assert sorted(p.name for p in lay.voxel_folder("seq_a").iterdir()) == [f"{i:05d}.npy" for i in range(4)]
    assert lay.voxel_folder("seq_b") is not None and not lay.voxel_folder("seq_b").exists()
    assert main([str(lay.root), "--layout", "lle_vos", "--no-progress", "--workers", "0"]) == 0
    assert "wrote 5 voxel grid(s), skipped 4" in capsys.readouterr().out


def test_generic_layout_and_frames_only_layouts(tiny_lle_davis, capsys, tmp_path):
    root = tiny_lle_davis.layout.root
    args = [str(root), "--layout", "generic", "--image-dir", "trainval_480p/Lowlight_Images",
            "--mask-dir", "trainval_480p/Annotations", "--event-dir", "trainval_480p/Lowlight_event",
            "--voxel-dir", "cache", "--no-progress", "--workers", "0"]
    assert main(args) == 0
    assert len(list((root / "cache").rglob("*.npy"))) == 9
    with pytest.raises(InputError, match="no event folder"):
        precompute(generic(root, "trainval_480p/Lowlight_Images", "trainval_480p/Annotations"))
    assert main([str(tmp_path), "--layout", "davis", "--no-progress"]) == 2
    assert "no event folder" in capsys.readouterr().err
