"""The converter end to end on tiny DAVIS 2016 / YouTube-VOS-format folders."""

import json
from pathlib import Path

import numpy as np
import pytest

import evolve.synthesis.convert as convert_mod
from evolve.data.events import load_event_chunk
from evolve.data.image_io import read_frame, read_mask
from evolve.synthesis.config import CalibrationConfig, SimulatorConfig, SynthesisConfig
from evolve.synthesis.convert import convert_dataset
from evolve.synthesis.lowlight import sample_lowlight_params
from evolve.synthesis.source import open_source
from evolve.apps.synthesize import main
from evolve.data.voxel import chunk_to_voxel_grid
from evolve.utils.errors import InputError

from tests.synthesis.tiny_datasets import make_davis2016


def _cfg(**kw):
    base = dict(target_density=None, simulator=SimulatorConfig(contrast_threshold=0.2), voxels=True)
    base.update(kw)
    return SynthesisConfig(**base)


def _run(src, out, cfg=None, **kw):
    return convert_dataset(src, out, cfg or _cfg(), progress=False, log=None, **kw)


def _snapshot(root: Path) -> dict:
    return {p: (p.stat().st_mtime_ns, p.stat().st_ino, p.stat().st_size) for p in sorted(root.rglob("*")) if p.is_file()}


def test_davis2016_conversion_layout_and_contents(davis2016_tiny, tmp_path):
    out = tmp_path / "lle"
    cfg = _cfg()
    res = _run(davis2016_tiny, out, cfg)
    base = out / "trainval_480p"
    assert sorted(res.converted) == ["alpha", "beta", "gamma"]
    for seq in ("alpha", "beta", "gamma"):
        stems = [f"{t:05d}" for t in range(5)]
        assert sorted(p.name for p in (base / "JPEGImages" / seq).iterdir()) == [f"{s}.jpg" for s in stems]
        src_jpg = davis2016_tiny / "JPEGImages/480p" / seq / "00002.jpg"
        assert (base / "JPEGImages" / seq / "00002.jpg").read_bytes() == src_jpg.read_bytes()  # copied, not re-encoded
        assert sorted(p.name for p in (base / "Lowlight_Images" / seq).iterdir()) == [f"{s}.jpg" for s in stems]
        # Frame-0 rule: no chunk for frame 0; chunk i spans [(i-1)*40000, i*40000).
        assert sorted(p.name for p in (base / "Lowlight_event" / seq).iterdir()) == [f"{s}.npz" for s in stems[1:]]
        total = 0
        densities = []
        for i, s in enumerate(stems[1:], start=1):
            ch = load_event_chunk(base / "Lowlight_event" / seq / f"{s}.npz", (24, 32))
            assert ch.t.dtype == np.int64
            if len(ch):
                assert ch.t.min() >= (i - 1) * 40000 and ch.t.max() <= i * 40000 - 1
            total += len(ch)
            densities.append(len(ch) / (24 * 32))
            vox = np.load(base / "EventVoxel" / seq / f"{s}.npy")
            assert vox.dtype == np.float32 and vox.shape == (5, 24, 32)
            np.testing.assert_array_equal(vox, chunk_to_voxel_grid(ch, (24, 32)).numpy())
        np.testing.assert_array_equal(np.load(base / "EventVoxel" / seq / "00000.npy"), np.load(base / "EventVoxel" / seq / "00001.npy"))
        assert total > 0
        ids, _ = read_mask(base / "Annotations" / seq / "00003.png")
        assert set(np.unique(ids).tolist()) == {0, 1}  # DAVIS 2016 {0,255} -> id 1
        stats = json.loads((base / "Synthesis" / seq / "stats.json").read_text())
        assert stats["total_events"] == total
        assert stats["events_per_pixel_per_interval"]["mean"] == pytest.approx(np.mean(densities))
        assert stats["events_per_pixel_per_interval"]["max"] == pytest.approx(max(densities))
        p = sample_lowlight_params(cfg.lowlight, cfg.seed, seq)
        assert (stats["lowlight"]["alpha"], stats["lowlight"]["beta"], stats["lowlight"]["gamma"]) == (p.alpha, p.beta, p.gamma)
        assert stats["simulator"]["contrast_threshold"] == 0.2
        saved_mean = np.mean([read_frame(q).mean() / 255 for q in sorted((base / "Lowlight_Images" / seq).iterdir())])
        assert stats["mean_lowlight_intensity"] == pytest.approx(saved_mean, abs=0.01)
        assert stats["mean_lowlight_intensity"] < stats["mean_normal_intensity"]
    assert (base / "ImageSets/2017/train.txt").read_text() == "alpha\nbeta\n"
    assert (base / "ImageSets/2017/val.txt").read_text() == "gamma\n"
    assert not [p for p in out.rglob("*") if ".tmp-" in p.name]


def test_second_run_writes_nothing_new(davis2016_tiny, tmp_path):
    out = tmp_path / "lle"
    _run(davis2016_tiny, out)
    before = _snapshot(out)
    res = _run(davis2016_tiny, out)
    assert res.converted == [] and sorted(res.skipped) == ["alpha", "beta", "gamma"]
    assert _snapshot(out) == before


def test_interrupted_run_resumes_to_identical_output(davis2016_tiny, tmp_path, monkeypatch):
    real = convert_mod.save_event_chunk
    calls = {"n": 0}

    def failing(path, chunk, compress=True):
        calls["n"] += 1
        if calls["n"] == 6:  # second sequence, second chunk
            raise OSError("disk full (simulated)")
        real(path, chunk, compress)

    monkeypatch.setattr(convert_mod, "save_event_chunk", failing)
    out = tmp_path / "lle"
    with pytest.raises(OSError):
        _run(davis2016_tiny, out)
    info = out / "trainval_480p" / "Synthesis"
    assert (info / "alpha" / "done.json").is_file() and not (info / "beta" / "done.json").exists()
    assert not [p for p in out.rglob("*") if ".tmp-" in p.name]
    monkeypatch.setattr(convert_mod, "save_event_chunk", real)
    res = _run(davis2016_tiny, out)
    assert res.skipped == ["alpha"] and sorted(res.converted) == ["beta", "gamma"]
    clean = tmp_path / "clean"
    _run(davis2016_tiny, clean)
    files = sorted(p.relative_to(clean) for p in clean.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())
    for rel in files:
        assert (out / rel).read_bytes() == (clean / rel).read_bytes(), rel


def test_youtube_vos_layout_sparse_masks_and_no_splits(ytvos_tiny, tmp_path):
    out = tmp_path / "lle"
    res = _run(ytvos_tiny, out, _cfg(voxels=False))
    base = out / "trainval_480p"
    assert "no split files" in res.split_note
    assert (base / "ImageSets/2017/train.txt").read_text() == "0a1b2c\nffee00\n"
    assert (base / "ImageSets/2017/val.txt").read_text() == "0a1b2c\nffee00\n"  # no split in the source: all in both
    held = _run(ytvos_tiny, tmp_path / "held", _cfg(voxels=False), val_fraction=0.5)
    assert "1 of 2 sequences held out" in held.split_note
    hbase = tmp_path / "held" / "trainval_480p" / "ImageSets" / "2017"
    train, val = hbase.joinpath("train.txt").read_text().split(), hbase.joinpath("val.txt").read_text().split()
    assert len(train) == len(val) == 1 and sorted(train + val) == ["0a1b2c", "ffee00"]
    seq = "0a1b2c"
    assert sorted(p.name for p in (base / "JPEGImages" / seq).iterdir()) == [f"{5 * t:05d}.jpg" for t in range(6)]
    assert sorted(p.name for p in (base / "Lowlight_event" / seq).iterdir()) == [f"{5 * t:05d}.npz" for t in range(1, 6)]
    assert sorted(p.name for p in (base / "Annotations" / seq).iterdir()) == ["00000.png", "00015.png"]
    assert not (base / "EventVoxel").exists()
    src_ids, src_pal = read_mask(ytvos_tiny / "Annotations" / seq / "00015.png")
    ids, pal = read_mask(base / "Annotations" / seq / "00015.png")
    np.testing.assert_array_equal(ids, src_ids)
    assert set(np.unique(ids).tolist()) == {0, 3, 5} and pal == src_pal
    # Interval timing by position: the 3rd listed frame (00010) ends [40000, 80000).
    ch = load_event_chunk(base / "Lowlight_event" / seq / "00010.npz")
    assert len(ch) == 0 or (ch.t.min() >= 40000 and ch.t.max() < 80000)


def test_changed_settings_are_refused_unless_overwrite(davis2016_tiny, tmp_path):
    out = tmp_path / "lle"
    _run(davis2016_tiny, out, sequences=["alpha"])
    with pytest.raises(InputError, match="different settings"):
        _run(davis2016_tiny, out, _cfg(seed=9), sequences=["alpha"])
    res = _run(davis2016_tiny, out, _cfg(seed=9), sequences=["alpha"], overwrite=True)
    assert res.converted == ["alpha"]


def test_calibration_reaches_the_target_density(davis2016_tiny, tmp_path):
    # Windows cover whole sequences, so the calibration simulates exactly what the converter writes.
    cal = CalibrationConfig(windows_per_sequence=1, window_intervals=4, warmup_intervals=0, rel_tolerance=0.01)
    cfg = SynthesisConfig(target_density=0.5, voxels=False, calibration=cal)
    out = tmp_path / "lle"
    res = _run(davis2016_tiny, out, cfg)
    assert res.calibration is not None and res.calibration.converged
    events = sum(s["total_events"] for s in res.stats.values())
    pixel_intervals = sum(s["num_intervals"] * s["height"] * s["width"] for s in res.stats.values())
    assert events / pixel_intervals == pytest.approx(res.calibration.density, rel=1e-12)
    assert events / pixel_intervals == pytest.approx(0.5, rel=0.01)
    again = _run(davis2016_tiny, out, cfg)
    assert again.calibration is None and again.contrast_threshold == res.contrast_threshold and again.converted == []


def test_cli(davis2016_tiny, tmp_path, capsys):
    out = tmp_path / "lle"
    assert main(["--src", str(davis2016_tiny), "--out", str(out), "--contrast-threshold", "0.3", "--sequences", "beta", "--quiet", "--seed", "4"]) == 0
    stats = json.loads((out / "trainval_480p/Synthesis/beta/stats.json").read_text())
    assert stats["seed"] == 4 and stats["simulator"]["contrast_threshold"] == 0.3
    assert (out / "trainval_480p/ImageSets/2017/train.txt").read_text() == "beta\n"
    with pytest.raises(SystemExit):
        main(["--src", str(davis2016_tiny), "--out", str(out), "--contrast-threshold", "0.3", "--target-density", "0.8"])
    assert main(["--src", str(tmp_path / "missing"), "--out", str(out)]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_bad_sources_name_the_file(tmp_path):
    src = make_davis2016(tmp_path / "a", seqs=("s1", "s2", "s3"))
    (src / "Annotations/480p/s1/00099.png").write_bytes((src / "Annotations/480p/s1/00000.png").read_bytes())
    with pytest.raises(InputError, match="00099.png.*no frame"):
        _run(src, tmp_path / "o1")
    src = make_davis2016(tmp_path / "b", seqs=("s1", "s2", "s3"))
    from PIL import Image

    Image.fromarray(np.zeros((10, 10), np.uint8)).save(src / "Annotations/480p/s2/00001.png")
    with pytest.raises(InputError, match="00001.png.*mask is 10x10"):
        _run(src, tmp_path / "o2")
    with pytest.raises(InputError, match="unknown sequences"):
        _run(src, tmp_path / "o3", sequences=["nope"])
    with pytest.raises(InputError, match="JPEGImages"):
        _run(tmp_path / "o3", tmp_path / "o4")


def test_open_source_on_real_davis2016(davis2016):
    src = open_source(davis2016)
    assert src.kind == "davis" and len(src.sequences) == 14
    assert len(src.splits["train"]) == 8 and len(src.splits["val"]) == 6
    seq = src.sequence("blackswan")
    assert len(seq.frames) == 50 and len(seq.masks) == 50


def test_calibration_windows_skip_warmup_and_report_table(davis2016_tiny, tmp_path):
    from evolve.synthesis.calibrate import load_windows, measure_density, window_starts
    from evolve.synthesis.dataset_table import dataset_table

    assert window_starts(50, 2, 4) == [0, 45] and window_starts(4, 2, 4) == [0] and window_starts(1, 2, 4) == []
    src = open_source(davis2016_tiny)
    seqs = [src.sequence(n) for n in src.sequences]
    cfg = SynthesisConfig(calibration=CalibrationConfig(windows_per_sequence=1, window_intervals=3, warmup_intervals=1))
    windows = load_windows(seqs, cfg)
    assert [(w.start, w.warmup, len(w.lumas)) for w in windows] == [(0, 1, 5)] * 3
    # With the warm-up the density counts intervals 2..4 only: compare with the converter's chunks.
    out = tmp_path / "lle"
    _run(davis2016_tiny, out, _cfg(simulator=SimulatorConfig(contrast_threshold=0.25), voxels=False))
    base = out / "trainval_480p" / "Lowlight_event"
    counted = sum(len(load_event_chunk(base / n / f"{i:05d}.npz")) for n in src.sequences for i in (2, 3, 4))
    want = counted / (3 * 3 * 24 * 32)
    assert measure_density(windows, cfg, 0.25) == pytest.approx(want, rel=1e-12)
    table = dataset_table(out)
    assert "| alpha | train | 5 | 32x24 |" in table and "| gamma | val |" in table and "C_mean 0.2500" in table


def test_parallel_workers_give_identical_output(davis2016_tiny, tmp_path):
    a, b = tmp_path / "serial", tmp_path / "parallel"
    _run(davis2016_tiny, a, _cfg(voxels=False))
    res = _run(davis2016_tiny, b, _cfg(voxels=False), workers=2, threads=1)
    assert sorted(res.converted) == ["alpha", "beta", "gamma"]
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    for rel in files:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
