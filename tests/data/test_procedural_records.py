"""Reading procedural records: valid records load, malformed ones name the file and the problem."""

import json

import pytest

from evolve.data.procedural import find_procedural_base, open_procedural, read_record
from evolve.utils.errors import InputError


def _record(name="v", objects=None, expressions=None):
    objects = objects if objects is not None else [
        {"id": 1, "shape": "star", "colour": "red", "texture": "dotted", "size": "small", "size_px": 6.5, "motion": "up",
         "motion_parent": "translate", "fold": 0, "moving": True, "centre": [[10.0, 20.0], [10.0, 15.0]], "scale": [1.0, 1.0],
         "visible_area": [40, 41]},
    ]
    return {"sequence": name, "height": 48, "width": 48, "num_frames": 2, "frame_names": ["00000", "00001"], "objects": objects,
            "expressions": expressions if expressions is not None else [{"object_id": 1, "text": "the star", "kind": "attribute", "held_out": False}]}


def _write(base, classes, records):
    (base / "Procedural").mkdir(parents=True)
    (base / "Procedural" / "classes.json").write_text(json.dumps(classes))
    for r in records:
        (base / "Procedural" / f"{r['sequence']}.json").write_text(json.dumps(r))


def test_open_procedural_lists_splits_groups_and_folds(tmp_path):
    classes = {"motion_classes": [{"name": "up", "parent": "translate", "fold": 0}, {"name": "left", "parent": "translate", "fold": 2}],
               "splits": {"train": ["a", "b"], "val": ["c"]}, "groups": {"query": ["a", "c"], "support": ["b"]}}
    base = tmp_path / "LLE_DAVIS" / "trainval_480p"
    _write(base, classes, [_record("a"), _record("b"), _record("c")])
    idx = open_procedural(tmp_path)
    assert idx.base == base and find_procedural_base(tmp_path / "LLE_DAVIS") == base
    assert idx.sequences() == ["a", "b", "c"] and idx.sequences("train") == ["a", "b"]
    assert idx.sequences("train", "query") == ["a"] and idx.sequences(group="support") == ["b"]
    assert idx.class_folds() == {"up": 0, "left": 2} and idx.class_parents() == {"up": "translate", "left": "translate"}
    assert idx.records["c"]["objects"][0]["centre"][1] == [10.0, 15.0]


def test_malformed_records_raise_input_error(tmp_path):
    p = tmp_path / "r.json"
    with pytest.raises(InputError, match="does not exist"):
        read_record(p)
    p.write_text("{not json")
    with pytest.raises(InputError, match="not valid JSON"):
        read_record(p)
    rec = _record()
    del rec["expressions"]
    p.write_text(json.dumps(rec))
    with pytest.raises(InputError, match=r"lacks the keys \['expressions'\]"):
        read_record(p)
    p.write_text(json.dumps(_record(expressions=[{"object_id": 7, "text": "the cube", "kind": "attribute", "held_out": False}])))
    with pytest.raises(InputError, match="names object 7, which the video 'v' does not have"):
        read_record(p)
    rec = _record()
    rec["objects"][0]["scale"] = [1.0]
    p.write_text(json.dumps(rec))
    with pytest.raises(InputError, match="'scale' has 1 entries for 2 frames"):
        read_record(p)
    with pytest.raises(InputError, match="no Procedural/classes.json"):
        open_procedural(tmp_path)
