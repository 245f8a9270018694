"""Expression readers on files written in the published layouts, and their bad-input errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from evolve.data.image_io import write_mask
from evolve.data.referring import (
    REF_DAVIS_FILES,
    check_object_ids,
    find_expression_source,
    mask_object_ids,
    procedural_expression_sets,
    read_meta_expressions,
    read_procedural_record,
    read_ref_davis,
    read_ref_davis_file,
)
from evolve.utils.errors import InputError

ANNOT1 = 'bike-packing 1 "a person riding a bike"\nbike-packing 2 "a bike"\n\nclasic-car 1 "a white car"\n'
ANNOT1_FULL = 'bike-packing 1 "person on a bike going up a hill"\nbike-packing 2 "bike ridden up a hill"\nclasic-car 1 "car driving away"\n'
ANNOT2 = 'bike-packing 1 "the man in the café hat"\nbike-packing 2 "black bicycle"\nclasic-car 1 "silver car"\n'
ANNOT2_FULL = 'bike-packing 1 "man with a bike"\nbike-packing 2 "bicycle moving"\nclasic-car 1 "a car à gauche"\n'


def write_ref_davis(root: Path) -> Path:
    folder = root / "davis_text_annotations"
    folder.mkdir(parents=True)
    for (name, encoding), text in zip(REF_DAVIS_FILES, (ANNOT1, ANNOT1_FULL, ANNOT2, ANNOT2_FULL)):
        (folder / name).write_bytes(text.encode(encoding))
    return folder


def test_ref_davis_four_sets_latin1_and_aliases(tmp_path):
    write_ref_davis(tmp_path)
    assert (tmp_path / "davis_text_annotations/Davis17_annot2.txt").read_bytes().count(b"caf\xe9") == 1  # latin-1, not UTF-8
    exps = read_ref_davis(tmp_path)
    assert len(exps) == 12
    assert [e.expression_set for e in exps] == [0] * 3 + [1] * 3 + [2] * 3 + [3] * 3
    assert [e.kind for e in exps[::3]] == ["first_frame", "full_video", "first_frame", "full_video"]
    assert exps[0].video == "bike-packing" and exps[0].object_id == 1 and exps[0].text == "a person riding a bike"
    assert exps[2].video == "classic-car"  # the published misspelling is mapped
    assert exps[6].text == "the man in the café hat"  # decoded as latin-1
    assert exps[11].text == "a car à gauche"
    assert exps[2].line == 4  # the blank line is counted
    assert exps[7].exp_id == "2_2"
    assert len(read_ref_davis(tmp_path, videos=["classic-car"])) == 4


def test_ref_davis_bad_line_names_file_and_line(tmp_path):
    p = tmp_path / "Davis17_annot1.txt"
    p.write_text('bike-packing 1 "a person"\nbike-packing 2 a bike without quotes\n')
    with pytest.raises(InputError) as e:
        read_ref_davis_file(p, "utf-8")
    assert str(p) in str(e.value) and "line 2" in str(e.value)
    p.write_text('bike-packing one "a person"\n')
    with pytest.raises(InputError, match="line 1: object id 'one'"):
        read_ref_davis_file(p, "utf-8")
    p.write_text('bike-packing 1 "a"\nbike-packing 1 "b"\n')
    with pytest.raises(InputError, match="line 2: .*already has an expression"):
        read_ref_davis_file(p, "utf-8")


def test_ref_davis_annotator_2_read_as_utf8_fails_with_line(tmp_path):
    p = tmp_path / "x.txt"
    p.write_bytes(ANNOT2.encode("latin-1"))
    with pytest.raises(InputError, match="line 1: not valid utf-8"):
        read_ref_davis_file(p, "utf-8")


def test_missing_ref_davis_file(tmp_path):
    (tmp_path / "davis_text_annotations").mkdir()
    with pytest.raises(InputError, match="Ref-DAVIS expression file not found"):
        read_ref_davis(tmp_path)


def test_meta_expressions_layout(tmp_path):
    meta = {"videos": {
        "003234408d": {"expressions": {"0": {"exp": "a penguin is on the left", "obj_id": "1"},
                                       "1": {"exp": "a penguin on the right", "obj_id": "2"}},
                       "frames": ["00000", "00005", "00010"]},
        "0043f083b5": {"expressions": {"0": {"exp": "a bus"}}, "frames": ["00000"]},  # valid split: no obj_id
    }}
    p = tmp_path / "meta_expressions.json"
    p.write_text(json.dumps(meta, indent=2))
    exps = read_meta_expressions(p)
    assert [(e.video, e.exp_id, e.object_id, e.text) for e in exps] == [
        ("003234408d", "0", 1, "a penguin is on the left"),
        ("003234408d", "1", 2, "a penguin on the right"),
        ("0043f083b5", "0", None, "a bus"),
    ]
    assert find_expression_source(tmp_path) == "ref_youtube_vos"


def test_meta_expressions_bad_input(tmp_path):
    p = tmp_path / "meta_expressions.json"
    p.write_text('{"videos": {\n  "v": {"expressions": {"0": {"exp": "x",}}}\n}}')
    with pytest.raises(InputError, match="line 2, column"):
        read_meta_expressions(p)
    p.write_text(json.dumps({"videos": {"v": {"expressions": {"3": {"obj_id": "1"}}}}}))
    with pytest.raises(InputError, match="video 'v' expression '3' has no 'exp'"):
        read_meta_expressions(p)
    p.write_text(json.dumps({"videos": {"v": {"expressions": {"0": {"exp": "x", "obj_id": "a"}}}}}))
    with pytest.raises(InputError, match="obj_id 'a'"):
        read_meta_expressions(p)


def test_object_id_absent_from_masks_names_video_and_id(tmp_path):
    ids = np.zeros((8, 8), np.uint8)
    ids[:2, :2] = 1
    ids[5:, 5:] = 255  # void is not an object
    write_mask(tmp_path / "bike-packing" / "00000.png", ids)
    ids[:2, :2] = 2
    write_mask(tmp_path / "bike-packing" / "00001.png", ids)
    present = mask_object_ids(sorted((tmp_path / "bike-packing").glob("*.png")))
    assert present == {1, 2}
    write_ref_davis(tmp_path)
    exps = [e for e in read_ref_davis(tmp_path) if e.video == "bike-packing"]
    check_object_ids(exps, {"bike-packing": present}, tmp_path)  # ids 1 and 2 exist
    bad = read_ref_davis_file(tmp_path / "davis_text_annotations/Davis17_annot1.txt", "utf-8")
    with pytest.raises(InputError) as e:
        check_object_ids(bad, {"bike-packing": {1}, "classic-car": {1}}, tmp_path)
    msg = str(e.value)
    assert "video 'bike-packing'" in msg and "object id 2" in msg and "line 2" in msg
    with pytest.raises(InputError, match="video 'classic-car' .* has no masks"):
        check_object_ids(bad[2:], {}, tmp_path)


def test_procedural_sets_group_each_object_once():
    refs = [(1, "attribute"), (2, "attribute"), (1, "relation"), (1, "attribute"), (2, "motion")]
    assert procedural_expression_sets(refs) == [0, 0, 1, 3, 2]


def test_procedural_record_bad_input(tmp_path):
    good = {"sequence": "s", "height": 4, "width": 4, "num_frames": 1, "frame_names": ["00000"],
            "objects": [{"id": 1, "shape": "star", "colour": "red"}],
            "expressions": [{"object_id": 1, "text": "the red star", "kind": "attribute", "held_out": True}]}
    p = tmp_path / "s.json"
    p.write_text(json.dumps(good))
    rec = read_procedural_record(p)
    assert rec.expressions[0].held_out and rec.object(1).colour == "red"
    for key, value, match in (("num_frames", 2, "num_frames is 2"),
                              ("expressions", [{"object_id": 3, "text": "x", "kind": "attribute"}], "refers to object 3"),
                              ("expressions", [{"object_id": 1, "text": "x", "kind": "colour"}], "kind 'colour'")):
        p.write_text(json.dumps({**good, key: value}))
        with pytest.raises(InputError, match=match):
            read_procedural_record(p)
    p.write_text(json.dumps({k: v for k, v in good.items() if k != "objects"}))
    with pytest.raises(InputError, match="lacks \\['objects'\\]"):
        read_procedural_record(p)
