"""Readers (procedural records, MOVE's layout) and the episode sampler, on tiny trees written here."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from evolve.data.episodes import EpisodeConfig, EpisodeDataset, EpisodeSampler, load_episode, query_chunks, spread_frames
from evolve.data.move import MoveSource
from evolve.data.procedural_motion import ProceduralMotionSource
from evolve.utils.errors import InputError

from tests.fewshot.tiny_motion import CLASSES, SIZE, standard_videos, write_move, write_procedural


@pytest.fixture(scope="module")
def proc_root(tmp_path_factory) -> Path:
    return write_procedural(tmp_path_factory.mktemp("proc"), standard_videos())


# ------------------------------------------------------------------ procedural reader
@pytest.mark.parametrize("form", ["list", "object", "dict"])
def test_procedural_catalogue(tmp_path, form):
    write_procedural(tmp_path, [("a", "train", ["left", "up"], 1), ("b", "train", ["right"], 0)], class_form=form)
    cat = ProceduralMotionSource(tmp_path, "train").catalogue
    assert set(cat.videos) == {"a", "b"}
    assert sorted(i.motion for i in cat.videos["a"].instances) == ["left", "up"]  # the static object is no instance
    assert cat.classes["left"].path == ("translate", "left") and cat.classes["up_left"].fold == 2
    assert cat.classes_of_folds([0]) == ["left", "right"]
    assert cat.siblings("left", ["right", "up", "up_left"]) == [["right", "up"], ["up_left"]]


def test_procedural_clip_masks_follow_the_velocity(proc_root):
    src = ProceduralMotionSource(proc_root, "train")
    clip = src.load_clip("s_right_0", [0, 4], [1], None, 5)
    m = clip.masks[1]
    assert clip.rgb.shape == (2, 3, 32, 32) and clip.voxel.shape == (2, 5, 32, 32)
    cols = [torch.nonzero(m[t].any(0)).flatten() for t in range(2)]
    assert int(cols[1][0] - cols[0][0]) == 4  # 0.5 * 2 px/frame * 4 frames
    assert int(m[0].sum()) == SIZE * SIZE
    # events: frame 0 uses frame 1's chunk; the object moved, so the grid is not empty
    assert float(clip.voxel[0].abs().sum()) > 0
    small = src.load_clip("s_right_0", [0], [1], (16, 16), 5)
    assert small.rgb.shape == (1, 3, 16, 16) and small.masks[1].shape == (1, 16, 16)


def test_procedural_bad_inputs(tmp_path):
    root = write_procedural(tmp_path, [("a", "train", ["left"], 0), ("b", "train", ["right"], 0)])
    rec = root / "trainval_480p/Procedural/a.json"
    data = json.loads(rec.read_text())
    data["objects"][0]["motion"] = "moonwalk"
    rec.write_text(json.dumps(data))
    with pytest.raises(InputError, match="moonwalk") as e:
        ProceduralMotionSource(root, "train")
    assert "a.json" in str(e.value)
    data["objects"][0]["motion"] = "left"
    rec.write_text(json.dumps(data))
    (root / "trainval_480p/Annotations/a/00003.png").unlink()
    src = ProceduralMotionSource(root, "train")
    with pytest.raises(InputError, match="00003.png"):
        src.load_clip("a", [2, 3], [1], None, 5)
    (root / "trainval_480p/Procedural/classes.json").unlink()
    with pytest.raises(InputError, match="classes.json"):
        ProceduralMotionSource(root, "train")


# ------------------------------------------------------------------ MOVE reader
MOVE_VIDEOS = {
    "v1": [("person", "sports-basketball-dunk", 0, 5)],
    "v2": [("person", "sports-basketball-pass", 2, 4), ("dog", "daily-walk", 0, 5)],
    "v3": [("cat", "sports-golf", 0, 5)],
    "v4": [("horse", "daily-run", 1, 3)],
}


@pytest.mark.parametrize("compressed", [False, True])
def test_move_reader(tmp_path, compressed):
    root = write_move(tmp_path, MOVE_VIDEOS, compressed=compressed)
    src = MoveSource(root, "default")
    cat = src.catalogue
    assert set(cat.classes) == {"sports-basketball-dunk", "sports-basketball-pass", "daily-walk", "sports-golf", "daily-run"}
    assert cat.classes["sports-basketball-dunk"].path == ("sports", "basketball", "dunk")
    # groups are the motions round-robin over sorted names: daily-run, daily-walk, dunk, pass, golf
    assert cat.classes["daily-run"].fold == 0 and cat.classes["sports-golf"].fold == 0 and cat.classes["sports-basketball-pass"].fold == 3
    (inst,) = cat.instances("v2", "sports-basketball-pass")
    assert inst.frames == (2, 3, 4) and inst.object_id == 1 and inst.object_class == "person"
    clip = src.load_clip("v2", [0, 3], [1, 2], None, 5)
    # object 0 is rows 4..8, cols 2+3t..6+3t; object 1 rows 12..16
    assert clip.masks[1][1, 4:9, 11:16].all() and int(clip.masks[1][1].sum()) == 25
    assert int(clip.masks[2][0, 12:17, 2:7].sum()) == 25
    assert float(clip.voxel.abs().sum()) == 0.0 and not src.has_events
    hard = MoveSource(root, "challenging").catalogue
    assert hard.classes["daily-run"].fold == 3  # the reversed grouping


def test_move_episode_masks_only_on_action_frames(tmp_path):
    root = write_move(tmp_path, MOVE_VIDEOS)
    src = MoveSource(root, "default")
    cfg = EpisodeConfig(fold=3, ways=1, shots=1, support_frames=3, query_frames=0, absent_probability=0.0)
    sampler = EpisodeSampler(src.catalogue, cfg, "test")
    assert sampler.classes == ["sports-basketball-pass"]
    ep = load_episode(src, sampler.sample(0), cfg)
    assert ep.spec.query_video == "v2"
    per_frame = ep.query_masks[0].flatten(1).sum(1)
    assert per_frame.tolist() == [0, 0, 25, 25, 25, 0]  # the pass happens on frames 2..4 only
    assert int(ep.moving_masks[0].sum()) == 50  # both objects are moving objects on every frame


def test_move_bad_inputs(tmp_path):
    root = write_move(tmp_path, MOVE_VIDEOS)
    (root / "annotations/v3.json").unlink()
    with pytest.raises(InputError, match="annotations/v3.json"):
        MoveSource(root)
    root2 = write_move(tmp_path / "b", MOVE_VIDEOS, groups=[["daily-run"], ["daily-walk"], ["sports-golf"], ["sports-basketball-dunk"]])
    with pytest.raises(InputError, match="sports-basketball-pass") as e:
        MoveSource(root2)
    assert "action_groups.json" in str(e.value) and "v2.json" in str(e.value)
    with pytest.raises(InputError, match="setting"):
        MoveSource(root2, "easy")


# ------------------------------------------------------------------ sampler
def test_spread_and_chunks():
    assert spread_frames(list(range(10)), 5) == (0, 2, 4, 6, 8)
    assert spread_frames(list(range(10)), 5, 0.5) == (1, 3, 5, 7, 9)
    assert spread_frames([3, 4], 4) == (3, 3, 4, 4)
    chunks = query_chunks(20, 5)
    assert chunks == [[0, 4, 8, 12, 16], [1, 5, 9, 13, 17], [2, 6, 10, 14, 18], [3, 7, 11, 15, 19]]
    assert query_chunks(11, 5, "consecutive") == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9, 10]]
    for n in range(2, 40):
        for mode in ("interleaved", "consecutive"):
            flat = sorted(t for c in query_chunks(n, 5, mode) for t in c)
            assert flat == list(range(n)) and all(len(c) >= 2 for c in query_chunks(n, 5, mode))


def test_sampler_is_deterministic_and_mixes_absent_episodes(proc_root):
    src = ProceduralMotionSource(proc_root, None)
    cfg = EpisodeConfig(fold=1, ways=2, shots=1)
    a = [EpisodeSampler(src.catalogue, cfg, "test").sample(i) for i in range(40)]
    b = [EpisodeSampler(src.catalogue, cfg, "test").sample(i) for i in range(40)]
    assert a == b
    absent = [s for s in a if s.absent]
    assert 0 < len(absent) < 40
    for s in absent:
        assert not (src.catalogue.videos[s.query_video].motions & set(s.ways))
    for s in a:
        assert set(s.ways) == {"up", "down"}  # fold 1
        for w, shots in zip(s.ways, s.support):
            assert all(w in src.catalogue.videos[sh.video].motions for sh in shots)


def test_training_never_sees_a_held_out_class(proc_root):
    src = ProceduralMotionSource(proc_root, None)
    for fold in range(4):
        held = set(src.catalogue.classes_of_folds([fold]))
        sampler = EpisodeSampler(src.catalogue, EpisodeConfig(fold=fold, ways=3, shots=2, fine_grained_probability=0.5), "train")
        assert not held & set(sampler.classes)
        for i in range(60):
            s = sampler.sample(i, 123)
            videos = [s.query_video] + [sh.video for shots in s.support for sh in shots]
            assert not held & set(s.ways)
            for v in videos:
                assert not held & src.catalogue.videos[v].motions, (fold, v)


def test_fine_grained_episodes_pick_siblings(proc_root):
    src = ProceduralMotionSource(proc_root, None)
    sampler = EpisodeSampler(src.catalogue, EpisodeConfig(fold=0, ways=2, fine_grained_probability=1.0), "train")
    for i in range(30):
        s = sampler.sample(i)
        parents = {src.catalogue.classes[w].path[0] for w in s.ways}
        assert s.fine_grained and len(parents) == 1  # siblings: same parent (fold 0 held out leaves 2 per parent)


def test_more_ways_than_the_fold_has_is_refused(proc_root):
    src = ProceduralMotionSource(proc_root, None)
    with pytest.raises(InputError, match="ways=3") as e:
        EpisodeSampler(src.catalogue, EpisodeConfig(fold=0, ways=3), "test")
    assert "fold 0" in str(e.value) and "ways <= 2" in str(e.value)
    with pytest.raises(InputError, match="fold=7"):
        EpisodeSampler(src.catalogue, EpisodeConfig(fold=7, ways=1), "test")


def test_support_clip_with_empty_masks_is_refused(tmp_path):
    root = write_procedural(tmp_path, [("a", "val", ["left"], 0), ("b", "val", ["right"], 0), ("c", "val", ["left", "right"], 0)])
    src = ProceduralMotionSource(root, "val")
    cfg = EpisodeConfig(fold=0, ways=2, shots=1, absent_probability=0.0)
    spec = EpisodeSampler(src.catalogue, cfg, "test").sample(0)
    ep = load_episode(src, spec, cfg)  # fine while the masks are there
    assert ep.support_masks.flatten(2).sum(-1).min() > 0 and ep.present.any()
    # blank the support video's masks on disk (the record still says the object is visible)
    from evolve.data.image_io import write_mask

    victim = spec.support[0][0].video
    for png in (root / "trainval_480p/Annotations" / victim).glob("*.png"):
        write_mask(png, np.zeros((32, 32), np.uint8))
    with pytest.raises(InputError, match="only empty masks") as e:
        load_episode(src, spec, cfg)
    assert f"Annotations/{victim}" in str(e.value)


def test_episode_dataset_items(proc_root):
    src = ProceduralMotionSource(proc_root, "train")
    ds = EpisodeDataset(src, EpisodeConfig(fold=0, ways=2, shots=1, height=16, width=16, num_episodes=7))
    item = ds[(3, 99)]
    assert len(ds) == 7
    assert item["support_rgb"].shape == (2, 1, 5, 3, 16, 16) and item["query_masks"].shape == (2, 5, 16, 16)
    again = ds[(3, 99)]
    assert torch.equal(item["query_rgb"], again["query_rgb"]) and item["info"] == again["info"]
    assert item["present"].tolist() == [bool(m.any()) for m in item["query_masks"]]
