"""Detect then propagate: the key frame rule, the order, masks and voxel grids the memory core
receives in both directions, and a run with a real EVOLVE-small core."""

from __future__ import annotations

import torch

from evolve.inference.inference_core import InferenceCore
from evolve.inference.referring import ReferringVideo, choose_key_frame, detect_then_propagate, propagate_from_key
from evolve.model.sgmg.network import ClipPrediction


def test_key_frame_is_the_best_scored_non_empty_frame():
    prob = torch.zeros(4, 4, 4)
    prob[0, 0, 0] = 0.9
    prob[2, 1, 1] = 0.6
    prob[3, 2, 2] = 0.7
    scores = torch.tensor([0.3, 0.95, 0.8, 0.8])  # frame 1 scores best but its mask is empty
    assert choose_key_frame(prob, scores) == 2  # tie 2/3 -> earliest
    assert choose_key_frame(prob, scores, threshold=0.65) == 3
    assert choose_key_frame(torch.zeros(3, 2, 2), torch.ones(3)) is None


class RecordingCore:
    """Stands in for InferenceCore: records what it is given, predicts frame value * 0 + 0.5."""

    class _Net:
        events = True

    def __init__(self) -> None:
        self.network = self._Net()
        self.calls: list[list] = []

    def reset(self) -> None:
        self.calls.append([])

    def step(self, frame, voxel, mask=None, objects=None, end=False):
        self.calls[-1].append((int(frame[0, 0, 0]), None if voxel is None else int(voxel[0, 0, 0]), mask is not None, objects, end))
        p = torch.full((2,) + tuple(frame.shape[-2:]), 0.5)
        if mask is not None:
            p[1] = mask.float()
        return p


def video(t: int = 5) -> ReferringVideo:
    frames = torch.arange(t, dtype=torch.float32).view(t, 1, 1, 1).expand(t, 3, 2, 2).clone()
    fwd = torch.arange(t, dtype=torch.float32).view(t, 1, 1, 1).expand(t, 5, 2, 2).clone() + 100
    bwd = torch.arange(t, dtype=torch.float32).view(t, 1, 1, 1).expand(t, 5, 2, 2).clone() + 200
    return ReferringVideo(frames, fwd, bwd)


def test_forward_then_reversed_from_the_key_frame():
    core = RecordingCore()
    seed = torch.tensor([[True, False], [False, False]])
    out = propagate_from_key(core, video(), 2, seed)
    forward, backward = core.calls
    assert forward == [(2, 102, True, [1], False), (3, 103, False, None, False), (4, 104, False, None, True)]
    assert backward == [(2, 202, True, [1], False), (1, 201, False, None, False), (0, 200, False, None, True)]
    assert torch.equal(out[2], seed.float())
    assert torch.all(out[[0, 1, 3, 4]] == 0.5)


def test_key_at_the_ends():
    core = RecordingCore()
    propagate_from_key(core, video(3), 0, torch.ones(2, 2, dtype=torch.bool))
    assert len(core.calls) == 1 and [c[0] for c in core.calls[0]] == [0, 1, 2]  # nothing before frame 0
    core = RecordingCore()
    propagate_from_key(core, video(3), 2, torch.ones(2, 2, dtype=torch.bool))
    assert [c[0] for c in core.calls[0]] == [2] and [c[0] for c in core.calls[1]] == [2, 1, 0]


class StubSgMg:
    """Returns a fixed per-frame answer (for the adapter's logic, not SgMg's)."""

    events = False

    def __init__(self, prob, scores):
        self.prob, self.scores = prob, scores

    def predict(self, rgb, voxel, text, visual=None):
        t = rgb.shape[0]
        return ClipPrediction(self.prob[:t], self.scores[:t], self.scores[:t, None], 0)


def test_detect_then_propagate_with_a_real_evolve_core():
    from tests.model.helpers import build

    net = build("small")
    t, s = 4, 64
    prob = torch.zeros(t, s, s)
    prob[1, 16:40, 16:40] = 0.9
    stub = StubSgMg(prob, torch.tensor([0.1, 0.9, 0.2, 0.2]))
    vid = ReferringVideo(torch.rand(t, 3, s, s), torch.randn(t, 5, s, s), torch.randn(t, 5, s, s))
    result = detect_then_propagate(stub, vid, "the square", core=InferenceCore(net))
    assert result.key_frame == 1
    assert torch.equal(result.sgmg_prob, prob)
    assert result.propagated_prob.shape == (t, s, s)
    assert torch.equal(result.propagated_prob[1], (prob[1] >= 0.5).float())
    assert float(result.propagated_prob.min()) >= 0 and float(result.propagated_prob.max()) <= 1
    empty = detect_then_propagate(StubSgMg(torch.zeros(t, s, s), torch.ones(t)), vid, "x", core=InferenceCore(net))
    assert empty.key_frame is None and not empty.propagated_prob.any()


def test_frame_feature_cache_gives_identical_propagation():
    from evolve.inference.referring import FrameFeatureCache
    from tests.model.helpers import build

    net = build("small")
    t, s = 4, 64
    torch.manual_seed(3)
    vid = ReferringVideo(torch.rand(t, 3, s, s), torch.randn(t, 5, s, s), torch.randn(t, 5, s, s))
    seed = torch.zeros(s, s, dtype=torch.bool)
    seed[10:30, 20:40] = True
    plain = propagate_from_key(InferenceCore(net), vid, 1, seed)
    cache = FrameFeatureCache(net)
    cached_core = InferenceCore(cache)
    first = propagate_from_key(cached_core, vid, 1, seed)
    assert len(cache._store) == 5  # forward frames 1, 2, 3; backward frames 1, 0
    again = propagate_from_key(cached_core, vid, 1, seed)  # served from the cache
    assert torch.equal(plain, first) and torch.equal(plain, again)
