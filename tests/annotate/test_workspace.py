"""evolve-annotate inputs: path confinement, the three kinds of --data, reading a sequence (frame /
event pairing, palette, working size, brightening gain), events synthesised for a video."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from evolve.apps.annotate.events import synthesize_voxels, with_voxels
from evolve.apps.annotate.workspace import (
    DatasetWorkspace,
    FolderWorkspace,
    PathRefused,
    VideoWorkspace,
    confine,
    open_workspace,
    sequence_gain,
)
from evolve.data.events import EventChunk, save_event_chunk
from evolve.data.image_io import write_frame, write_mask
from evolve.utils.errors import InputError

H, W = 16, 24


def _frames(n: int = 4) -> list[np.ndarray]:
    """Dark frames with a value that tells them apart (frame k: 10 * (k + 1) everywhere)."""
    return [np.full((H, W, 3), 10 * (k + 1), np.uint8) for k in range(n)]


def _folder(tmp_path: Path, events: bool = True, skip_chunk: str | None = None) -> Path:
    """A bare sequence folder: 4 PNG frames, chunks 00001..00003 (chunk k: k ON events at (x=k, y=2)
    and one OFF event at (x=0, y=0)), a palette mask with a custom palette on frame 0."""
    seq = tmp_path / "myseq"
    for k, f in enumerate(_frames()):
        write_frame(seq / f"{k:05d}.png", f)
    if events:
        for k in (1, 2, 3):
            stem = f"{k:05d}"
            if stem == skip_chunk:
                continue
            x = np.array([k] * k + [0], np.int64)
            y = np.array([2] * k + [0], np.int64)
            t = np.arange(k + 1, dtype=np.int64) * 10 + 1000 * k
            p = np.array([1] * k + [-1], np.int8)
            save_event_chunk(seq / "events" / f"{stem}.npz", EventChunk(x, y, t, p))
    palette = bytes(range(256)) * 3
    write_mask(seq / "masks" / "00000.png", np.zeros((H, W), np.uint8), palette)
    return seq


def test_confine_refuses_paths_that_leave_the_root(tmp_path):
    root = tmp_path / "root"
    (root / "a").mkdir(parents=True)
    (tmp_path / "secret.txt").write_text("x")
    assert confine(root, "a/b.png") == (root / "a" / "b.png").resolve()
    assert confine(root, "a/../a/b.png") == (root / "a" / "b.png").resolve()
    for bad in ("../secret.txt", "a/../../secret.txt", str(tmp_path / "secret.txt"), "", "~/x", "a/\x00b"):
        with pytest.raises(PathRefused):
            confine(root, bad)
    os.symlink(tmp_path, root / "out")  # a link inside the root that leads out of it
    with pytest.raises(PathRefused):
        confine(root, "out/secret.txt")


def test_bare_sequence_folder_pairs_frames_events_and_palette(tmp_path):
    seq = _folder(tmp_path)
    ws = open_workspace(seq)
    assert isinstance(ws, FolderWorkspace) and ws.kind == "sequence" and ws.sequences() == ["myseq"]
    done = []
    loaded = ws.load("myseq", -1, 5, progress=lambda d, n: done.append((d, n)))
    assert done[-1] == (4, 4) and loaded.num_frames == 4 and loaded.size == (H, W) and loaded.original_size == (H, W)
    assert loaded.stems == ["00000", "00001", "00002", "00003"] and loaded.has_events
    assert loaded.palette == bytes(range(256)) * 3  # the input masks' palette is kept
    assert int(loaded.rgb_u8(2)[0, 0, 0]) == 30
    for k in (1, 2, 3):
        net = loaded.voxel(k).sum(0)  # (H, W): bins sum to the net polarity of each pixel
        assert float(net[2, k]) == pytest.approx(k, abs=1e-3) and float(net[0, 0]) == pytest.approx(-1, abs=1e-3)
        assert float(net.abs().sum()) == pytest.approx(k + 1, abs=1e-3)
    assert torch.equal(loaded.voxel(0), loaded.voxel(1))  # frame 0 uses frame 1's chunk
    # a working size: the shorter side shrinks to 8 (16x24 -> 8x12)
    small = ws.load("myseq", 8, 5)
    assert small.size == (8, 12) and small.original_size == (H, W) and small.voxel(0).shape == (5, 8, 12)
    with pytest.raises(PathRefused):
        ws.load("../myseq", -1, 5)


def test_brightening_gain_is_one_per_sequence():
    frames = [np.full((4, 4, 3), v, np.uint8) for v in (10, 20, 40, 50)]
    assert sequence_gain(frames, percentile=100) == pytest.approx(255 / 50)
    assert sequence_gain([]) == 1.0


def test_missing_chunk_and_unreadable_frame_are_input_errors(tmp_path):
    with pytest.raises(InputError, match="00002.npz"):
        open_workspace(_folder(tmp_path / "a", skip_chunk="00002"))
    seq = _folder(tmp_path / "b")
    (seq / "00002.png").write_bytes(b"not a png")
    ws = open_workspace(seq)
    with pytest.raises(InputError, match="00002.png"):
        ws.load("myseq", -1, 5)


def test_dataset_root_and_a_sequence_folder_inside_it(demo_root):
    ws = open_workspace(demo_root)
    assert isinstance(ws, DatasetWorkspace) and ws.kind == "dataset" and ws.layout.name == "lle_davis"
    assert ws.sequences() == ["demo-train-00"]
    one = open_workspace(demo_root / "trainval_480p" / "Lowlight_Images" / "demo-train-00")
    assert isinstance(one, DatasetWorkspace) and one.kind == "sequence" and one.root == demo_root.resolve()
    loaded = one.load("demo-train-00", -1, 5)
    assert loaded.has_events and loaded.num_frames == 10 and loaded.normal_frames and all(loaded.normal_frames)


def test_bad_data_arguments(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        open_workspace(tmp_path / "nope")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(InputError, match="not a video"):
        open_workspace(tmp_path / "notes.txt")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no frames"):
        open_workspace(tmp_path / "empty")
    (tmp_path / "broken.mp4").write_bytes(b"\x00" * 100)
    with pytest.raises(InputError, match="OpenCV"):
        open_workspace(tmp_path / "broken.mp4")


def _video(path: Path, n: int = 6) -> None:
    """A grey video with a bright 8x8 square moving 4 px right per frame (rows 12..19)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (48, 32))
    assert writer.isOpened()
    for k in range(n):
        img = np.full((32, 48, 3), 40, np.uint8)
        img[12:20, 4 + 4 * k: 12 + 4 * k] = 220
        writer.write(img)
    writer.release()


def test_video_file_frames_and_synthesised_events(tmp_path):
    _video(tmp_path / "clip.mp4")
    ws = open_workspace(tmp_path / "clip.mp4")
    assert isinstance(ws, VideoWorkspace) and ws.sequences() == ["clip"] and ws.default_output() == tmp_path.resolve() / "clip_annotate"
    seq = ws.load("clip", -1, 5)
    assert seq.num_frames == 6 and seq.size == (32, 48) and not seq.has_events and seq.voxel(0) is None
    assert seq.fps == pytest.approx(10.0)
    grids = synthesize_voxels(seq, 5)
    assert len(grids) == 6 and grids[0].shape == (5, 32, 48) and torch.equal(grids[0], grids[1])
    changed = grids[3].abs().sum(0) > 0  # (H, W): events only where the square's edges moved
    assert changed[12:20].any() and not changed[:8].any() and not changed[26:].any()
    # frame 2 -> 3: the square leaves columns 12..15 (darker: OFF, negative) and covers 20..23 (ON)
    net = grids[3].sum(0)
    assert float(net[13:19, 20:24].min()) > 0 and float(net[13:19, 12:16].max()) < 0 and float(net[13:19, 16:20].abs().sum()) == 0
    frames = with_voxels(seq, grids)
    assert frames.frame(3)[1].shape == (5, 32, 48)
    assert synthesize_voxels(seq, 5, cancel=lambda: True) is None


def test_generic_layout_from_explicit_folders(tmp_path):
    src = _folder(tmp_path / "src")
    root = tmp_path / "root"
    for sub, pattern in (("imgs", "*.png"), ("ev", "events/*.npz"), ("ann", "masks/*.png")):
        for f in src.glob(pattern):
            (root / sub / "seqA").mkdir(parents=True, exist_ok=True)
            shutil.copy(f, root / sub / "seqA" / f.name)
    with pytest.raises(InputError, match="--image-dir and --mask-dir"):
        open_workspace(root, "generic", image_dir="imgs")
    ws = open_workspace(root, "generic", image_dir="imgs", mask_dir="ann", event_dir="ev")
    assert isinstance(ws, DatasetWorkspace) and ws.sequences() == ["seqA"]
    loaded = ws.load("seqA", -1, 5)
    assert loaded.has_events and float(loaded.voxel(3).sum(0)[2, 3]) == pytest.approx(3, abs=1e-3)
    assert loaded.palette == bytes(range(256)) * 3
