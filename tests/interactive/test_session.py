"""Interactive sessions: bounded backward/forward propagation, GLTM's round blending, undo,
progress and cancellation (with stand-in networks whose outputs are known), and the EVOLVE and
GLTM propagators on real (untrained) networks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from evolve.data.scribbles import Click, Stroke
from evolve.inference.config import InferenceConfig
from evolve.inference.interactive import EvolvePropagator, GLTMPropagator, InteractiveSession, Interactor, SessionConfig, VideoFrames, blend_weight
from evolve.inference.interactive.propagation import Annotation
from evolve.model import registry
from evolve.utils.errors import InputError

H, W = 8, 10


class FakeInteractor:
    """Object k's probability is ``value`` everywhere (values set per call)."""

    def __init__(self, value=0.8):
        self.value = value
        self.calls = []

    def run(self, rgb, voxel, strokes, object_ids, prev_ids):
        self.calls.append((list(object_ids), prev_ids is None))
        return torch.full((len(object_ids), H, W), self.value), torch.zeros(len(object_ids), 4, 1, 1)


class FakePropagator:
    """Every propagated frame gets the distribution (1 - v, v) for one object; records the passes."""

    def __init__(self):
        self.value = 0.9
        self.passes = []

    def reset(self):
        pass

    def propagate(self, frames, annotations, object_ids, start, stop, callback):
        visited = []
        self.passes.append(([a.frame for a in annotations], start, stop, visited))
        step = 1 if stop > start else -1
        for t in range(start + step, stop, step):
            visited.append(t)
            dist = torch.stack([torch.full((H, W), 1 - self.value), torch.full((H, W), self.value)])
            if not callback(t, dist):
                return


def _session(**cfg):
    frames = VideoFrames(torch.rand(10, 3, H, W))
    return InteractiveSession(frames, FakeInteractor(), FakePropagator(), SessionConfig(**cfg), object_ids=[1])


def test_blend_weight_by_hand():
    assert blend_weight(6, 8, 5) == pytest.approx(0.5 + 0.5 * 1 / 3)
    assert blend_weight(5, 8, 5) == 0.5 and blend_weight(8, 8, 5) == 1.0
    assert blend_weight(10, 8, 12) == pytest.approx(0.5 + 0.5 * 2 / 4)
    assert blend_weight(3, 8, None) == 1.0


def test_rounds_propagate_backward_then_forward_up_to_earlier_annotations_and_blend():
    s = _session()
    seen = []
    r1 = s.run_round(5, [Click(0.5, 0.5, 1)], progress=lambda done, total, f: seen.append((done, total, f)))
    assert [p[3] for p in s.propagator.passes] == [[4, 3, 2, 1, 0], [6, 7, 8, 9]]
    assert seen[0] == (1, 9, 4) and seen[-1] == (9, 9, 9) and r1.frames_done == 9 and not r1.cancelled
    assert s.interactor.calls == [([1], True)]  # round 1 on frame 5: no previous mask there
    # the interaction result 0.8, soft-aggregated with the background 0.2: odds 4 vs 1/4 -> 4 / 4.25
    assert s.probabilities(5)[1, 0, 0].item() == pytest.approx(4 / 4.25, abs=1e-3)
    assert s.probabilities(0)[1, 0, 0].item() == pytest.approx(0.9, abs=1e-3)
    s.propagator.value = 0.3
    s.run_round(8, [Stroke(((0.1, 0.1), (0.2, 0.2)), 1)])
    assert s.interactor.calls[-1] == ([1], False)
    assert [p[3] for p in s.propagator.passes[2:]] == [[7, 6], [9]]
    assert s.propagator.passes[2][0] == [5, 8]  # both annotated frames are given to the propagator
    # frame 6: alpha = 0.5 + 0.5 * (6-5)/(8-5) = 2/3 -> 2/3 * 0.3 + 1/3 * 0.9 = 0.5
    assert s.probabilities(6)[1, 0, 0].item() == pytest.approx(0.5, abs=2e-3)
    # frame 7: alpha = 5/6 -> 5/6 * 0.3 + 1/6 * 0.9 = 0.4
    assert s.probabilities(7)[1, 0, 0].item() == pytest.approx(0.4, abs=2e-3)
    # frame 9: no earlier annotation on the right -> alpha = 1
    assert s.probabilities(9)[1, 0, 0].item() == pytest.approx(0.3, abs=2e-3)
    assert s.probabilities(4)[1, 0, 0].item() == pytest.approx(0.9, abs=2e-3)  # not touched
    assert s.annotated_frames == [5, 8] and s.num_rounds == 2
    assert s.masks().shape == (10, H, W) and s.mask(6).unique().tolist() == [0]  # 0.5 vs 0.5 -> background first
    # undo takes round 2 back exactly
    assert s.undo()
    assert s.annotated_frames == [5]
    for f in (6, 7, 9):
        assert s.probabilities(f)[1, 0, 0].item() == pytest.approx(0.9, abs=1e-3)
    assert s.probabilities(8)[1, 0, 0].item() == pytest.approx(0.9, abs=1e-3)  # round 1 had propagated there
    assert s.undo() and s.probabilities(0) is None and not s.undo()


def test_no_blending_when_switched_off_and_one_direction():
    s = _session(blend=False)
    s.run_round(2, [Click(0.5, 0.5, 1)])
    s.propagator.value = 0.3
    s.run_round(6, [Click(0.5, 0.5, 1)], direction="forward")
    assert s.propagator.passes[-1][3] == [7, 8, 9]
    assert s.probabilities(5)[1, 0, 0].item() == pytest.approx(0.9, abs=1e-3)
    assert s.probabilities(8)[1, 0, 0].item() == pytest.approx(0.3, abs=1e-3)


def test_cancellation_stops_between_frames():
    s = _session()
    calls = []
    r = s.run_round(5, [Click(0.5, 0.5, 1)], progress=lambda *a: calls.append(a), cancel=lambda: len(calls) >= 2)
    assert r.cancelled and r.frames_done == 2 and len(s.propagator.passes) == 1
    assert s.probabilities(3) is not None and s.probabilities(2) is None
    s2 = _session(keep_on_cancel=False)
    r2 = s2.run_round(5, [Click(0.5, 0.5, 1)], cancel=lambda: True)
    assert r2.cancelled and s2.annotated_frames == [] and s2.probabilities(4) is None


def test_session_input_errors():
    s = _session()
    with pytest.raises(InputError, match="no strokes"):
        s.interact()
    s.add_strokes(3, [Click(0.5, 0.5, 1)])
    with pytest.raises(InputError, match="pending on frame 3"):
        s.add_strokes(4, [Click(0.5, 0.5, 1)])
    with pytest.raises(InputError, match="unknown object 2"):
        s.add_strokes(3, [Click(0.5, 0.5, 2)])
    with pytest.raises(InputError, match="outside the video"):
        s.add_strokes(10, [Click(0.5, 0.5, 1)])
    with pytest.raises(InputError, match="direction"):
        s.propagate("sideways")
    assert s.add_object() == 2 and s.add_object(7) == 7
    with pytest.raises(InputError, match="already known"):
        s.add_object(7)
    s.add_strokes(3, [Click(0.2, 0.2, 2)])
    assert s.interact().shape == (H, W) and s.pending_frame == 3 and len(s.pending_strokes) == 2


def _frames(t=6, h=32, w=48, events=True):
    torch.manual_seed(0)
    return VideoFrames(torch.rand(t, 3, h, w), torch.rand(t, 5, h, w) if events else None)


def test_evolve_propagator_keeps_every_annotated_frame_permanent():
    torch.manual_seed(0)
    net = registry.build_model(registry.load_model_config("small")).eval()
    frames = _frames()
    prop = EvolvePropagator(net, InferenceConfig(mem_every=1, max_mem_frames=2))
    anns = []
    for f, k in ((0, 1), (3, 2), (5, 1)):
        probs = torch.zeros(3, 32, 48)
        probs[0] = 1
        probs[:, 8:20, 10:30] = 0
        probs[k, 8:20, 10:30] = 1
        anns.append(Annotation(f, probs))
    core = prop._seed(frames, anns, [1, 2], start=3)
    perm = sorted(len(b.permanent) for b in core.memory.buckets)
    # seeding order: frame 0, frame 5, then the start frame 3. Object 1's bucket holds all three
    # annotated frames as permanent frames; object 2 first appears on frame 3, so its bucket
    # (created there, the core's rule for objects that appear later) holds that one
    assert perm == [1, 3]
    assert all(len(b.working) == 0 for b in core.memory.buckets)
    got = []
    prop.propagate(frames, anns, [1, 2], 3, 0, lambda t, d: got.append((t, d)) or True)
    assert [t for t, _ in got] == [2, 1]
    assert all(torch.allclose(d.sum(0), torch.ones(32, 48), atol=1e-4) and d.shape == (3, 32, 48) for _, d in got)
    # the seeded memory is reused for the second pass of the round (same annotations)
    again = prop._seed(frames, anns, [1, 2], start=3)
    assert sorted(len(b.permanent) for b in again.memory.buckets) == [1, 3]


def test_evolve_and_gltm_sessions_run_on_real_networks_with_and_without_events():
    torch.manual_seed(0)
    for events in (True, False):
        ev = registry.build_model(registry.load_model_config("small", [f"events={str(events).lower()}"])).eval()
        inter = registry.build_model(registry.load_model_config("interaction", [f"events={str(events).lower()}"])).eval()
        s = InteractiveSession(_frames(events=events), Interactor(inter), EvolvePropagator(ev), object_ids=[1, 2])
        r = s.run_round(2, [Stroke(((0.2, 0.2), (0.4, 0.5)), 1), Click(0.8, 0.8, 2)])
        assert r.frames_done == 5 and s.masks().shape == (6, 32, 48)
        g = registry.build_model(registry.load_model_config("gltm", [f"events={str(events).lower()}"])).eval()
        s = InteractiveSession(_frames(events=events), Interactor(g.anet), GLTMPropagator(g), object_ids=[1, 2])
        s.run_round(2, [Stroke(((0.2, 0.2), (0.4, 0.5)), 1), Click(0.8, 0.8, 2)])
        r = s.run_round(5, [Click(0.3, 0.3, 1)])
        assert r.frames_done == 2 and set(s.annotations[5].indicators) == {1, 2}
        assert all(torch.allclose(s.probabilities(t).sum(0), torch.ones(32, 48), atol=1e-2) for t in range(6))


def test_one_annotation_propagates_exactly_like_the_semi_supervised_core():
    # with a single annotated frame, a forward pass is the streaming core started from that mask
    from evolve.inference.inference_core import InferenceCore

    torch.manual_seed(0)
    net = registry.build_model(registry.load_model_config("small")).eval()
    frames = _frames(t=5)
    ids = torch.zeros(32, 48, dtype=torch.int64)
    ids[8:20, 10:30] = 1
    ids[20:30, 30:40] = 2
    probs = torch.stack([(ids == k).float() for k in (0, 1, 2)])
    got = {}
    EvolvePropagator(net, InferenceConfig(mem_every=2)).propagate(frames, [Annotation(0, probs)], [1, 2], 0, 5, lambda t, d: got.update({t: d}) or True)
    core = InferenceCore(net, InferenceConfig(mem_every=2))
    core.step(*frames.frame(0), mask=ids, objects=[1, 2])
    for t in range(1, 5):
        expected = core.step(*frames.frame(t), end=(t == 4))
        assert torch.allclose(got[t], expected, atol=1e-5)
