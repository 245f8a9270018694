"""Event pictures and the synthesis preview CLI."""

import numpy as np
import pytest
import torch

from evolve.data.image_io import read_frame
from evolve.synthesis.config import SimulatorConfig, SynthesisConfig
from evolve.synthesis.convert import convert_dataset
from evolve.vis.events import diverging_colours, event_image, voxel_to_rgb
from evolve.apps.pictures import main


def test_event_image_colours():
    x = np.array([0, 1, 1, 2, 2])
    y = np.array([0, 0, 0, 1, 1])
    p = np.array([1, -1, -1, 1, -1])
    img = event_image(x, y, p, 2, 3, "black")
    assert tuple(img[0, 0]) == (255, 0, 0)  # ON
    assert tuple(img[0, 1]) == (0, 0, 255)  # OFF
    assert tuple(img[1, 2]) == (160, 0, 160)  # one of each
    assert tuple(img[1, 0]) == (0, 0, 0)
    assert tuple(event_image(x, y, (p > 0).astype(int), 2, 3, "white")[1, 0]) == (255, 255, 255)
    with pytest.raises(ValueError):
        event_image(np.array([3]), np.array([0]), np.array([1]), 2, 3)


def test_diverging_colours_and_voxel_rgb():
    c = diverging_colours(np.array([-1.0, 0.0, 1.0, 0.5, -7.0]))
    assert c.tolist() == [[0, 0, 255], [255, 255, 255], [255, 0, 0], [255, 128, 128], [0, 0, 255]]
    v = torch.zeros(5, 4, 6)
    v[2, 1, 1] = 3.0
    v[4, 0, 0] = -3.0
    rgb = voxel_to_rgb(v, vmax=3.0)
    assert rgb.shape == (5, 4, 6, 3) and rgb.dtype == np.uint8
    assert tuple(rgb[2, 1, 1]) == (255, 0, 0) and tuple(rgb[4, 0, 0]) == (0, 0, 255) and tuple(rgb[0, 0, 0]) == (255, 255, 255)


def test_synthesis_pictures_png_and_mp4(davis2016_tiny, tmp_path):
    out = tmp_path / "lle"
    cfg = SynthesisConfig(target_density=None, simulator=SimulatorConfig(contrast_threshold=0.2), voxels=True)
    convert_dataset(davis2016_tiny, out, cfg, sequences=["alpha"], progress=False, log=None)
    pics = tmp_path / "pics"
    assert main([str(out), "--out", str(pics), "--tile-height", "48"]) == 0
    files = sorted((pics / "alpha").iterdir())
    assert [f.name for f in files] == [f"{t:05d}.png" for t in range(5)]
    row = read_frame(files[1])
    # 9 tiles (normal, low-light, brightened, events, 5 bins) of 64x48 plus 8 separators of 2 px, 18 px labels.
    assert row.shape == (48 + 18, 9 * 64 + 8 * 2, 3)
    assert main([str(out), "--out", str(pics), "--mp4", "--tile-height", "48"]) == 0
    import cv2

    cap = cv2.VideoCapture(str(pics / "alpha.mp4"))
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(f[:, :, ::-1])  # BGR -> RGB
    cap.release()
    # One video frame per PNG row, the same picture (even-cropped for the codec, lossy coded).
    assert len(frames) == 5
    for t, f in enumerate(frames):
        png = read_frame(files[t])[: f.shape[0], : f.shape[1]].astype(np.float32)
        assert f.shape[:2] == (png.shape[0] // 2 * 2, png.shape[1] // 2 * 2)
        assert np.abs(f.astype(np.float32) - png).mean() < 12  # codec error, not another picture
    assert np.abs(frames[1].astype(np.float32) - read_frame(files[3])[: frames[1].shape[0], : frames[1].shape[1]]).mean() > \
        np.abs(frames[1].astype(np.float32) - read_frame(files[1])[: frames[1].shape[0], : frames[1].shape[1]]).mean()
    assert main([str(tmp_path), "--out", str(pics)]) == 2
