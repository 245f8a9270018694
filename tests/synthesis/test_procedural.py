"""The procedural motion / referring generator: classes and folds, exact masks, records,
unique referring expressions, held-out pairs, appearance-vs-trajectory separability, bad input."""

import json
import re
from collections import Counter

import numpy as np
import pytest

from evolve.data.image_io import read_mask
from evolve.data.procedural import open_procedural
from evolve.synthesis.appearance import COLOUR_NAMES, HELD_OUT_PAIRS, SHAPES, SIZE_NAMES, TEXTURES
from evolve.synthesis.config import SimulatorConfig, SynthesisConfig
from evolve.synthesis.drawing import SPRITE_RADIUS, shape_mask, sprite_transform, warp_sprite_mask
from evolve.synthesis.expressions import DIRECTION_AMBIGUITY, RELATION_MARGIN, RELATION_SLACK
from evolve.synthesis.motions import (
    MOTION_CLASSES,
    MOTION_NAMES,
    MOTION_PARENTS,
    NUM_FOLDS,
    classes_in_fold,
    sample_trajectory,
    sibling_classes,
    trajectory_features,
)
from evolve.synthesis.procedural import (
    ProceduralConfig,
    dataset_specs,
    ensure_procedural_dataset,
    plan_record,
    plan_video,
    render_video,
    support_spec,
)
from evolve.utils.errors import InputError
from evolve.vis.procedural import procedural_grid

SMALL = dict(height=64, width=64, min_frames=8, max_frames=10)


# ---------------------------------------------------------------------------- classes and folds
def test_classes_parents_and_folds_partition():
    names = [c.name for c in MOTION_CLASSES]
    assert len(names) == len(set(names)) == 24 and "static" not in names
    # each class in exactly one fold; folds balanced (6 each)
    folds = [classes_in_fold(f) for f in range(NUM_FOLDS)]
    assert sorted(sum(folds, [])) == sorted(names) and [len(f) for f in folds] == [6, 6, 6, 6]
    # 6 parents of 4 siblings; each fold holds 2 siblings of 3 parents; each parent in 2 folds
    assert Counter(c.parent for c in MOTION_CLASSES) == {p: 4 for p in MOTION_PARENTS}
    for f in folds:
        per_parent = Counter(next(c.parent for c in MOTION_CLASSES if c.name == n) for n in f)
        assert sorted(per_parent.values()) == [2, 2, 2]
        for n in f:  # a fine-grained 2-way episode is possible inside the fold
            assert any(s in f for s in sibling_classes(n))
    for p in MOTION_PARENTS:
        assert len({c.fold for c in MOTION_CLASSES if c.parent == p}) == 2
    assert sibling_classes("up") == ["down", "left", "right"]


def test_trajectories_follow_their_class_definition():
    rng = np.random.default_rng(0)
    d = 100.0
    up = sample_trajectory("up", 11, d, rng)
    # straight up: net displacement 0.45-0.65 D, within 10 degrees of vertical, constant speed
    net = up.offsets[-1] - up.offsets[0]
    assert 45 - 1e-9 <= np.linalg.norm(net) <= 65 + 1e-9 and net[1] < 0 and abs(net[0]) <= abs(net[1]) * np.tan(np.deg2rad(10)) + 1e-9
    assert np.allclose(np.diff(up.offsets, axis=0), net / 10)
    cw = sample_trajectory("spin-cw", 5, d, rng)
    assert np.allclose(cw.offsets, 0) and np.all(np.diff(cw.angle) < 0)  # clockwise = negative OpenCV angle
    orbit = sample_trajectory("orbit-cw", 50, d, rng)
    r = np.linalg.norm(orbit.offsets, axis=1)
    assert np.allclose(r, r[0]) and 14 <= r[0] <= 22
    # clockwise on screen (y down): the cross product of successive radius vectors is positive
    cross = orbit.offsets[:-1, 0] * orbit.offsets[1:, 1] - orbit.offsets[:-1, 1] * orbit.offsets[1:, 0]
    assert np.all(cross > 0)
    stop = sample_trajectory("stop-and-go", 41, d, rng)
    speed = np.linalg.norm(np.diff(stop.offsets, axis=0), axis=1)
    assert 0.25 <= (speed < 1e-9).mean() <= 0.4  # paused for about a third of the clip
    assert (np.abs(speed[speed > 1e-9] - speed.max()) > 1e-6).sum() <= 2  # one speed (but the 2 intervals of a transition)
    bounce = sample_trajectory("bounce", 30, d, rng)
    assert np.all(bounce.offsets[:, 1] <= 1e-9) and bounce.offsets[:, 1].min() < -15  # hops up from a floor
    still = sample_trajectory("static", 7, d, rng)
    assert np.all(still.offsets == 0) and np.all(still.scale == 1) and np.all(still.angle == 0)


# ---------------------------------------------------------------------------- specs and rendering
def test_specs_deterministic_and_cover_every_class():
    cfg = ProceduralConfig()
    specs = dataset_specs(cfg)
    assert specs == dataset_specs(ProceduralConfig())
    assert len({s.name for s in specs}) == len(specs)
    queries = [s for s in specs if s.group == "query"]
    assert len(queries) == cfg.num_train + cfg.num_val
    for s in queries:  # distinct classes of one fold, 1-3 movers, 0-2 statics
        assert 1 <= len(s.motions) <= 3 and len(set(s.motions)) == len(s.motions) and 0 <= s.num_static <= 2
        assert set(s.motions) <= set(classes_in_fold(s.fold))
    assert {m for s in queries if s.split == "train" for m in s.motions} == set(MOTION_NAMES)
    support = Counter((s.split, s.support_class) for s in specs if s.group == "support")
    assert support == {**{("train", n): 3 for n in MOTION_NAMES}, **{("val", n): 2 for n in MOTION_NAMES}}
    referring = [s for s in specs if s.group == "referring"]
    assert all(2 <= len(s.motions) <= 3 and 1 <= s.num_static <= 2 and s.fold is None for s in referring)


def test_render_is_deterministic_and_seeded():
    cfg = ProceduralConfig(**SMALL)
    spec = dataset_specs(cfg)[0]
    f1, m1, r1 = render_video(cfg, spec)
    f2, m2, r2 = render_video(cfg, spec)
    assert all(np.array_equal(a, b) for a, b in zip(f1 + m1, f2 + m2)) and r1 == r2
    f3, _, r3 = render_video(ProceduralConfig(**SMALL, seed=1), spec)
    assert r3 != r1


def _oracle_masks(rec: dict) -> list[np.ndarray]:
    """Id masks redrawn from the record alone (shape, size_px, centre, angle, scale, layer)."""
    h, w = rec["height"], rec["width"]
    out = []
    for t in range(rec["num_frames"]):
        ids = np.zeros((h, w), np.uint8)
        for o in sorted(rec["objects"], key=lambda o: o["layer"]):
            m = sprite_transform(o["centre"][t], o["angle"][t], o["size_px"] / SPRITE_RADIUS * o["scale"][t])
            ids[warp_sprite_mask(shape_mask(o["shape"], np.random.default_rng(0)), m, h, w)] = o["id"]
        out.append(ids)
    return out


@pytest.mark.parametrize("index", [0, 1, 40, -1])
def test_masks_are_exact_and_match_the_record(index):
    cfg = ProceduralConfig(**SMALL, num_train=4, num_val=2, support_train=1, support_val=1)
    spec = dataset_specs(cfg)[index]
    frames, masks, rec = render_video(cfg, spec)
    assert rec["sequence"] == spec.name and rec["num_frames"] == len(frames) == len(masks)
    assert rec["frame_names"] == [f"{t:05d}" for t in range(len(frames))]
    assert frames[0].shape == (64, 64, 3) and masks[0].dtype == np.uint8
    ids = sorted(o["id"] for o in rec["objects"])
    assert ids == list(range(1, len(ids) + 1)) == list(range(1, len(spec.motions) + spec.num_static + 1))
    assert sorted(o["motion"] for o in rec["objects"] if o["moving"]) == sorted(spec.motions)
    oracle = _oracle_masks(rec)
    for t, m in enumerate(masks):
        assert np.array_equal(m, oracle[t])  # the record alone redraws the masks exactly
        for o in rec["objects"]:
            assert o["visible_area"][t] == int((m == o["id"]).sum()) <= o["full_area"][t]
    for o in rec["objects"]:
        assert o["visible_area"][0] >= 0.6 * o["full_area"][0] > 0  # visible in frame 0
        assert o["fold"] == (None if o["motion"] == "static" else next(c.fold for c in MOTION_CLASSES if c.name == o["motion"]))
        assert o["held_out"] == ((o["colour"], o["shape"]) in HELD_OUT_PAIRS)


# ---------------------------------------------------------------------------- expressions
_PHRASES = {c.phrase: c.name for c in MOTION_CLASSES} | {"standing still": "static"}
_WORDS = {"moving": set(MOTION_NAMES), "still": {"static"}, "spinning": {"spin-cw", "spin-ccw"}, "circling": {"orbit-cw", "orbit-ccw"}}
_VOCAB = {**{w: "size" for w in SIZE_NAMES}, **{w: "colour" for w in COLOUR_NAMES}, **{w: "texture" for w in TEXTURES}}


def _noun_filter(noun: str, adjectives: list[str]):
    spec = {_VOCAB[a]: a for a in adjectives}
    assert len(spec) == len(adjectives)  # every adjective is a known word of one category
    if noun != "object":
        assert noun in SHAPES
        spec["shape"] = noun
    return lambda o: all(o[k] == v for k, v in spec.items())


def _evaluate(text: str, objs: list[dict], d: float) -> tuple[str, list[int], list[int]]:
    """Parse an expression with its own grammar reading and evaluate it on the record:
    (kind, ids for which it holds, ids for which it is ambiguous)."""
    words = text.split()
    assert words[0] == "the"
    m = re.fullmatch(r"the (\w+) (left of|right of|above|below) the (.+)", text)
    if m:
        head = _noun_filter(m.group(1), [])
        anchor_words = m.group(3).split()
        anchor = [o for o in objs if _noun_filter(anchor_words[-1], anchor_words[:-1])(o)]
        assert len(anchor) == 1, text
        ax, ay = anchor[0]["centre"][0]
        yes, grey = [], []
        for o in objs:
            if o is anchor[0] or not head(o):
                continue
            x, y = o["centre"][0]
            diff = {"left of": ax - x, "right of": x - ax, "above": ay - y, "below": y - ay}[m.group(2)]
            (yes if diff >= RELATION_MARGIN * d else grey if diff > RELATION_SLACK * d else []).append(o["id"])
        return "relation", yes, grey
    if words[1] in _WORDS:
        head = _noun_filter(words[2], [])
        return "motion", [o["id"] for o in objs if head(o) and o["motion"] in _WORDS[words[1]]], []
    phrase = " ".join(words[2:])
    if phrase in _PHRASES:
        head = _noun_filter(words[1], [])
        cls = _PHRASES[phrase]
        yes = [o["id"] for o in objs if head(o) and o["motion"] == cls]
        grey = []
        direction = {"up": (0, -1), "down": (0, 1), "left": (-1, 0), "right": (1, 0)}.get(cls)
        if direction:
            for o in objs:
                net = np.subtract(o["centre"][-1], o["centre"][0])
                if head(o) and o["motion"] != cls and net @ direction >= DIRECTION_AMBIGUITY * d:
                    grey.append(o["id"])
        return "motion", yes, grey
    head = _noun_filter(words[-1], words[1:-1])
    assert words[1:] != ["object"]
    return "attribute", [o["id"] for o in objs if head(o)], []


def test_every_expression_names_exactly_its_object():
    cfg = ProceduralConfig(**SMALL, num_train=12, num_val=6, support_train=1, support_val=0)
    kinds = Counter()
    for spec in dataset_specs(cfg)[::2]:
        rec = plan_record(cfg, plan_video(cfg, spec))
        rec = json.loads(json.dumps(rec))  # as read back from the file
        ids = {o["id"] for o in rec["objects"]}
        assert [e["exp_id"] for e in rec["expressions"]] == [str(i) for i in range(len(rec["expressions"]))]
        for e in rec["expressions"]:
            assert e["object_id"] in ids
            kind, yes, grey = _evaluate(e["text"], rec["objects"], 64.0)
            assert (kind, yes, grey) == (e["kind"], [e["object_id"]], []), e["text"]
            obj = next(o for o in rec["objects"] if o["id"] == e["object_id"])
            assert e["held_out"] == ((obj["colour"], obj["shape"]) in HELD_OUT_PAIRS)
            kinds[kind] += 1
        per_object = Counter(e["object_id"] for e in rec["expressions"])
        assert max(per_object.values()) <= 6
        # every object that differs from the others in some attribute can be named
        assert all(per_object[o["id"]] >= 1 for o in rec["objects"]), rec["sequence"]
    assert min(kinds.values()) >= 20, kinds  # all three kinds occur often


def test_held_out_pairs_never_in_train_always_in_val():
    cfg = ProceduralConfig(**SMALL, num_train=20, num_val=8, support_train=1, support_val=1)
    n_val = 0
    for spec in dataset_specs(cfg):
        rec = plan_record(cfg, plan_video(cfg, spec))
        pairs = [(o["colour"], o["shape"]) for o in rec["objects"]]
        held = [p in HELD_OUT_PAIRS for p in pairs]
        if spec.split == "train":
            assert not any(held) and not any(e["held_out"] for e in rec["expressions"])
        else:
            n_val += 1
            assert sum(held) == 1
    assert n_val == 8 + 8 + 24


# ---------------------------------------------------------------------------- separability
def _softmax_regression(x_train, y_train, x_test, k, steps=2000, lr=0.5, l2=1e-3):
    """Multinomial logistic regression by gradient descent on standardised features."""
    mu, sd = x_train.mean(0), x_train.std(0) + 1e-9
    a, b = (x_train - mu) / sd, (x_test - mu) / sd
    w = np.zeros((a.shape[1], k))
    bias = np.zeros(k)
    onehot = np.eye(k)[y_train]
    for _ in range(steps):
        z = a @ w + bias
        p = np.exp(z - z.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        g = (p - onehot) / len(a)
        w -= lr * (a.T @ g + l2 * w)
        bias -= lr * g.sum(0)
    return (b @ w + bias).argmax(1)


def test_motion_is_separable_by_trajectory_but_not_by_appearance():
    cfg = ProceduralConfig(height=64, width=64, min_frames=12, max_frames=16, max_tries=1)
    names = list(MOTION_NAMES)
    app, traj, label, reps = [], [], [], []
    for rep in range(30):
        for k, n in enumerate(names):
            plan = plan_video(cfg, support_spec(f"sep-{n}-{rep}", "train", n))
            o = plan.objects[0]
            app.append(np.concatenate([np.eye(len(SHAPES))[SHAPES.index(o.shape)], np.eye(len(COLOUR_NAMES))[COLOUR_NAMES.index(o.colour)],
                                       np.eye(len(TEXTURES))[TEXTURES.index(o.texture)], np.eye(len(SIZE_NAMES))[SIZE_NAMES.index(o.size)]]))
            traj.append(trajectory_features(o.centres(), o.trajectory.scale, o.angles(), 64.0))
            label.append(k)
            reps.append(rep)
    app, traj, label = np.array(app), np.array(traj), np.array(label)
    test = np.array(reps) % 3 == 0  # 10 test and 20 training objects per class
    chance = 1.0 / len(names)
    acc_app = (_softmax_regression(app[~test], label[~test], app[test], len(names)) == label[test]).mean()
    acc_traj = (_softmax_regression(traj[~test], label[~test], traj[test], len(names)) == label[test]).mean()
    print(f"separability: appearance {acc_app:.3f}, trajectory {acc_traj:.3f}, chance {chance:.3f}")  # docs/procedural.md quotes it
    assert acc_app < 2 * chance, acc_app  # appearance alone: near chance (1/24)
    assert acc_traj > 0.8, acc_traj  # trajectory: far above chance (> 19x)


# ---------------------------------------------------------------------------- bad input
def test_bad_requests_raise_input_error(tmp_path):
    with pytest.raises(InputError, match="unknown motion class 'fly'"):
        support_spec("s", "train", "fly")
    with pytest.raises(InputError, match="motion class, got 'static'"):
        support_spec("s", "train", "static")
    with pytest.raises(InputError, match="fold 4"):
        classes_in_fold(4)
    with pytest.raises(InputError, match="query_moving"):
        ProceduralConfig(query_moving=(1, 7))  # a fold has only 6 classes
    with pytest.raises(InputError, match="too small"):
        ProceduralConfig(height=32)
    with pytest.raises(InputError, match="kind"):
        ProceduralConfig(kind="audio")
    afile = tmp_path / "f"
    afile.write_text("x")
    with pytest.raises(InputError, match="not a folder"):
        ensure_procedural_dataset(afile, ProceduralConfig(**SMALL))
    from evolve.apps.procedural_data import main

    assert main(["--out", str(tmp_path / "o"), "--size", "16", "--quiet"]) == 2
    assert not (tmp_path / "o").exists()


# ---------------------------------------------------------------------------- the dataset
def test_dataset_is_converted_idempotent_and_records_copied(tmp_path):
    synth = SynthesisConfig(target_density=None, simulator=SimulatorConfig(contrast_threshold=0.3))
    cfg = ProceduralConfig(height=48, width=48, kind="referring", num_train=2, num_val=1, min_frames=5, max_frames=6, synthesis=synth)
    root = ensure_procedural_dataset(tmp_path / "p", cfg)
    base = root / "trainval_480p"
    assert (base / "ImageSets/2017/train.txt").read_text() == "proc-r-train-000\nproc-r-train-001\n"
    assert (base / "ImageSets/2017/val.txt").read_text() == "proc-r-val-000\n"
    classes = json.loads((base / "Procedural/classes.json").read_text())
    assert [c["name"] for c in classes["motion_classes"]] == list(MOTION_NAMES) and classes["held_out_pairs"][0] == ["red", "star"]
    for seq in ("proc-r-train-000", "proc-r-train-001", "proc-r-val-000"):
        rec = json.loads((base / "Procedural" / f"{seq}.json").read_text())
        assert rec == json.loads((tmp_path / "p/DAVIS/Procedural" / f"{seq}.json").read_text())
        frames = sorted(p.stem for p in (base / "Lowlight_Images" / seq).iterdir())
        assert frames == rec["frame_names"]
        assert sorted(p.stem for p in (base / "Lowlight_event" / seq).iterdir()) == frames[1:]
        for t, name in enumerate(frames):
            ids, _ = read_mask(base / "Annotations" / seq / f"{name}.png")
            for o in rec["objects"]:
                assert int((ids == o["id"]).sum()) == o["visible_area"][t]
    index = open_procedural(tmp_path / "p")
    assert index.base == base and index.sequences("val", "referring") == ["proc-r-val-000"]
    # the picture helper: a caption line per object plus the sequence line, 4 frames + 2 tiles
    rec = index.records["proc-r-val-000"]
    grid = procedural_grid(tmp_path / "p", ["proc-r-val-000"], num_frames=4, zoom=2)
    assert grid.dtype == np.uint8 and grid.shape == (14 * (1 + len(rec["objects"])) + 4 + 96, 6 * 96 + 5 * 3, 3)
    files = {p: p.stat().st_mtime_ns for p in (tmp_path / "p").rglob("*") if p.is_file()}
    assert ensure_procedural_dataset(tmp_path / "p", cfg) == root
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "p").rglob("*") if p.is_file()} == files


def test_interrupted_build_with_other_settings_is_restarted(tmp_path, monkeypatch):
    import evolve.synthesis.convert as convert

    synth = SynthesisConfig(target_density=None, simulator=SimulatorConfig(contrast_threshold=0.3))
    small = dict(height=48, width=48, kind="referring", num_train=1, num_val=0, min_frames=5, max_frames=5, synthesis=synth)

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(convert, "convert_dataset", crash)
    with pytest.raises(KeyboardInterrupt):  # rendered with seed 0, stopped before the conversion
        ensure_procedural_dataset(tmp_path / "p", ProceduralConfig(**small, seed=0))
    monkeypatch.undo()
    cfg = ProceduralConfig(**small, seed=5)
    root = ensure_procedural_dataset(tmp_path / "p", cfg)
    rec = json.loads((root / "trainval_480p/Procedural/proc-r-train-000.json").read_text())
    assert rec == json.loads(json.dumps(render_video(cfg, dataset_specs(cfg)[0])[2]))  # seed 5's video, not seed 0's
    assert not (tmp_path / "p" / "procedural.building.json").exists()
    with pytest.raises(InputError, match="makes no video"):
        ProceduralConfig(kind="referring", num_train=0, num_val=0)
