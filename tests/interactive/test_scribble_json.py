"""DAVIS scribble files: the published layout read back exactly, written atomically, bad files refused."""

from __future__ import annotations

import json

import pytest

from evolve.data.scribble_json import ScribbleSet, list_scribble_files, read_scribble_json, write_scribble_json
from evolve.data.scribbles import Stroke
from evolve.utils.errors import InputError

# A file in the published layout (values in the style of the released DAVIS sets: 3 frames,
# two strokes on frame 1, times in ms).
PUBLISHED = {
    "scribbles": [
        [],
        [
            {"path": [[0.27049180327868855, 0.8767123287671232], [0.2694672131147541, 0.8751902587519026], [0.26741803278688525, 0.8736681887366818]],
             "object_id": 1, "start_time": 0, "end_time": 1712},
            {"path": [[0.36270491803278687, 0.8082191780821918]], "object_id": 0, "start_time": 2275, "end_time": 2518},
        ],
        [],
    ],
    "sequence": "bear",
    "annotated_frame": 1,
}


def test_published_layout_reads_back_exactly(tmp_path):
    path = tmp_path / "001.json"
    path.write_text(json.dumps(PUBLISHED, indent=2))
    s = read_scribble_json(path)
    assert s.sequence == "bear" and s.annotated_frame == 1 and s.annotated_frames == [1]
    assert s.frames[1][0].points[0] == (0.27049180327868855, 0.8767123287671232)
    assert s.frames[1][1].object_id == 0 and s.frames[1][1].end_time == 2518
    assert s.to_dict() == PUBLISHED
    out = tmp_path / "copy.json"
    write_scribble_json(out, s)
    assert json.loads(out.read_text()) == PUBLISHED
    assert read_scribble_json(out).to_dict() == PUBLISHED
    assert [p.name for p in tmp_path.iterdir()] != [] and not any(p.name.startswith(".") for p in tmp_path.iterdir())


def test_without_annotated_frame_and_with_a_negative_stroke(tmp_path):
    data = {k: v for k, v in PUBLISHED.items() if k != "annotated_frame"}
    s = ScribbleSet.from_dict(data)
    assert s.annotated_frame is None and s.to_dict() == data
    s.frames[2].append(Stroke(((0.5, 0.5),), 1, positive=False))
    write_scribble_json(tmp_path / "neg.json", s)
    back = read_scribble_json(tmp_path / "neg.json")
    assert back.frames[2][0].positive is False and back.to_dict() == s.to_dict()


def test_list_scribble_files_sorted(tmp_path):
    folder = tmp_path / "Scribbles" / "bear"
    folder.mkdir(parents=True)
    for name in ("002.json", "001.json"):
        (folder / name).write_text(json.dumps(PUBLISHED))
    assert [p.name for p in list_scribble_files(tmp_path, "bear")] == ["001.json", "002.json"]
    assert list_scribble_files(tmp_path, "nope") == []


@pytest.mark.parametrize(
    "text, match",
    [
        ("{", "invalid JSON"),
        (json.dumps({"sequence": "x"}), "needs the keys"),
        (json.dumps({"scribbles": [[{"path": [[0.1]], "object_id": 1}]], "sequence": "x"}), "path is not a list"),
        (json.dumps({"scribbles": [[{"path": [[0.1, 0.2]], "object_id": -1}]], "sequence": "x"}), "object_id -1"),
        (json.dumps({"scribbles": [[]], "sequence": "x", "annotated_frame": 3}), "annotated_frame 3"),
    ],
)
def test_bad_files_are_refused_with_the_file_named(tmp_path, text, match):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(InputError, match=match) as err:
        read_scribble_json(path)
    assert "bad.json" in str(err.value)
