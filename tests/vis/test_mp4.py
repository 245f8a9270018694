"""write_mp4: a readable video with every row as a frame, written under a temporary name."""

import cv2
import numpy as np

from evolve.vis.synthesis_pictures import write_mp4


def test_mp4_has_every_row_even_size_and_no_temp_left(tmp_path):
    rows = [np.full((33, 45, 3), 40 * i, np.uint8) for i in range(4)]
    out = tmp_path / "seq.mp4"
    write_mp4(out, rows, fps=5.0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["seq.mp4"]
    cap = cv2.VideoCapture(str(out))
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(f)
    cap.release()
    assert len(frames) == 4
    assert frames[0].shape == (32, 44, 3)  # odd sizes cropped to even for the codec
    # Flat grey frames survive lossy coding to within a few levels.
    assert np.allclose([f.mean() for f in frames], [0, 40, 80, 120], atol=3)
