"""InferenceCore over short sequences: ids, memory policy, padding, determinism, agreement with training."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from evolve.inference import InferenceConfig, InferenceCore, LongTermConfig
from evolve.inference.inference_core import stagger_offsets
from evolve.model.evolve import TrainWrapper
from evolve.utils.errors import InputError
from tests.model.helpers import build, make_clip


def _video(frames: int, height: int = 64, width: int = 64, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(frames, 3, height, width, generator=g), torch.randn(frames, 5, height, width, generator=g)


def _first_mask(height: int = 64, width: int = 64) -> torch.Tensor:
    m = torch.zeros(height, width, dtype=torch.long)
    m[8 : height // 2, 6 : width // 2] = 3
    m[height // 2 + 4 : height - 6, width // 3 : width - 8] = 7
    return m


def test_sequence_ids_memory_policy_and_new_objects(small_net):
    cfg = InferenceConfig(mem_every=2, max_mem_frames=3)
    core = InferenceCore(small_net, cfg, "cpu")
    rgb, vox = _video(12)
    first = _first_mask()
    late = torch.zeros(64, 64, dtype=torch.long)
    late[0:8, 40:64] = 9
    permanent = None
    mem_sizes = []
    for t in range(12):
        mask = first if t == 0 else (late if t == 6 else None)
        prob = core.step(rgb[t], vox[t], mask)
        n = 2 if t < 6 else 3
        assert prob.shape == (1 + n, 64, 64) and prob.dtype == torch.float32
        torch.testing.assert_close(prob.sum(0), torch.ones(64, 64))
        ids = core.prob_to_mask(prob)
        assert set(torch.unique(ids).tolist()) <= {0, 3, 7, 9}
        if t == 0:
            assert core.object_ids == [3, 7]
            torch.testing.assert_close(prob, F.one_hot(torch.where(first == 3, 1, torch.where(first == 7, 2, 0)), 3).permute(2, 0, 1).float())
            permanent = core.memory.buckets[0].permanent[0]
            torch.testing.assert_close(permanent.key, core.network.encode_frame(rgb[:1], vox[:1]).key[0].flatten(1))
        if t == 6:
            assert core.object_ids == [3, 7, 9]
            assert bool((ids[late == 9] == 9).all())  # the given object owns its pixels
            assert len(core.memory.buckets) == 2 and core.memory.buckets[1].objects == [2]
        # the first frame stays in memory; working memory never exceeds max_mem_frames
        assert core.memory.buckets[0].permanent[0] is permanent
        for bucket in core.memory.buckets:
            assert len(bucket.permanent) == 1 and bucket.num_frames <= cfg.max_mem_frames
        mem_sizes.append(core.memory.buckets[0].num_frames)
    # memory frames at t = 0, 2, 4, 6 (mask), 8, 10; FIFO full from t = 4 on
    assert mem_sizes == [1, 1, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3]
    assert core.memory.buckets[1].num_frames == 3  # permanent t=6 + t=8, t=10
    assert core.memory.sensory.shape[1] == 3 and core.memory.obj_memory.shape[:2] == (1, 3)


def test_late_mask_is_merged_with_the_prediction(small_net):
    core = InferenceCore(small_net, InferenceConfig(), "cpu")
    rgb, vox = _video(3, seed=1)
    core.step(rgb[0], vox[0], _first_mask())
    core.step(rgb[1], vox[1])
    twin = copy.deepcopy(core)
    pred = twin.step(rgb[2], vox[2])  # what the core predicts without the new mask
    late = torch.zeros(64, 64, dtype=torch.long)
    late[20:40, 20:40] = 5
    merged = core.step(rgb[2], vox[2], late)
    inside = late == 5
    assert merged.shape == (4, 64, 64)
    assert float(merged[3][inside].min()) > 0.999 and float(merged[3][~inside].max()) < 1e-5
    torch.testing.assert_close(merged[:3][:, ~inside], pred[:, ~inside], atol=1e-5, rtol=0)


def test_padding_for_sizes_not_divisible_by_16(small_net):
    core = InferenceCore(small_net, InferenceConfig(), "cpu")
    rgb, vox = _video(2, height=50, width=70)
    mask = _first_mask(50, 70)
    p0 = core.step(rgb[0], vox[0], mask)
    assert p0.shape == (3, 50, 70)
    assert bool((core.prob_to_mask(p0) == mask).all())  # padding removed exactly where it was added
    p1 = core.step(rgb[1], vox[1])
    assert p1.shape == (3, 50, 70)
    assert core.memory.buckets[0].permanent[0].key.shape[-1] == 4 * 5  # padded to 64 x 80


def test_deterministic_in_eval_mode(small_net):
    rgb, vox = _video(4, seed=2)
    outs = []
    for _ in range(2):
        core = InferenceCore(small_net, InferenceConfig(mem_every=2), "cpu")
        outs.append([core.step(rgb[t], vox[t], _first_mask() if t == 0 else None) for t in range(4)])
    for a, b in zip(*outs):
        assert torch.equal(a, b)


def test_top_k_equals_full_softmax_when_k_covers_memory(small_net):
    rgb, vox = _video(5, seed=3)

    def run(top_k):
        core = InferenceCore(small_net, InferenceConfig(mem_every=1, top_k=top_k), "cpu")
        return [core.step(rgb[t], vox[t], _first_mask() if t == 0 else None) for t in range(5)], core

    full, _ = run(None)
    covered, core = run(5 * 16)  # at most 4 memory frames of 4 x 4 tokens are read
    assert core.memory.buckets[0].num_frames == 5
    for a, b in zip(full, covered):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)
    small, _ = run(2)
    assert max(float((a - b).abs().max()) for a, b in zip(full, small)) > 1e-4  # top-k is really used


def test_training_unroll_and_inference_agree_on_the_second_frame(small_net):
    clip = make_clip(batch=1, frames=2, num_objects=2, seed=4)
    with torch.no_grad():
        out = TrainWrapper(small_net, num_ref_frames=3)(clip)
    train_prob = torch.softmax(out["logits"][0, 0], dim=0)
    ids = clip["cls_gt"][0, 0, 0]
    core = InferenceCore(small_net, InferenceConfig(top_k=None), "cpu")
    core.step(clip["rgb"][0, 0], clip["voxel"][0, 0], ids)
    prob = core.step(clip["rgb"][0, 1], clip["voxel"][0, 1])
    assert core.object_ids == [1, 2]
    torch.testing.assert_close(prob, train_prob, rtol=0, atol=1e-5)
    core = InferenceCore(small_net, InferenceConfig(top_k=30), "cpu")  # 30 >= 16 memory tokens
    core.step(clip["rgb"][0, 0], clip["voxel"][0, 0], ids)
    torch.testing.assert_close(core.step(clip["rgb"][0, 1], clip["voxel"][0, 1]), train_prob, rtol=0, atol=1e-5)


def test_max_internal_size_and_amp(small_net):
    rgb, vox = _video(2, height=96, width=128, seed=5)
    mask = _first_mask(96, 128)
    core = InferenceCore(small_net, InferenceConfig(max_internal_size=48), "cpu")
    p0 = core.step(rgb[0], vox[0], mask)
    assert p0.shape == (3, 96, 128)
    assert core.memory.buckets[0].permanent[0].key.shape[-1] == 3 * 4  # processed at 48 x 64
    assert float((core.prob_to_mask(p0) == mask).float().mean()) > 0.97
    assert core.step(rgb[1], vox[1]).shape == (3, 96, 128)
    amp = InferenceCore(small_net, InferenceConfig(amp=True), "cpu")  # bfloat16 autocast on CPU
    amp.step(rgb[0, :, :64, :64], vox[0, :, :64, :64], mask[:64, :64])
    p = amp.step(rgb[1, :, :64, :64], vox[1, :, :64, :64])
    assert p.dtype == torch.float32 and bool(torch.isfinite(p).all())
    torch.testing.assert_close(p.sum(0), torch.ones(64, 64))


def test_long_term_memory_consolidates_and_stays_bounded(small_net):
    lt = LongTermConfig(max_mem_frames=3, min_mem_frames=2, num_prototypes=6, max_num_tokens=14, buffer_tokens=4)
    core = InferenceCore(small_net, InferenceConfig(mem_every=1, use_long_term=True, long_term=lt), "cpu")
    rgb, vox = _video(8, seed=6)
    for t in range(8):
        p = core.step(rgb[t], vox[t], _first_mask() if t == 0 else None)
        bucket = core.memory.buckets[0]
        assert len(bucket.working) <= lt.max_mem_frames - 1 and len(bucket.permanent) == 1
        assert bucket.num_long_term_tokens <= lt.max_num_tokens
        torch.testing.assert_close(p.sum(0), torch.ones(64, 64))
    assert bucket.long_term is not None and bucket.num_long_term_tokens > 0
    # usage is counted for every token that was read
    assert float(bucket.permanent[0].life[0]) == 7 and float(bucket.permanent[0].usage.sum()) > 0


def test_frames_only_network_needs_no_voxels():
    net = build("small", ("events=false",))
    core = InferenceCore(net, InferenceConfig(), "cpu")
    rgb, _ = _video(3, seed=7)
    for t in range(3):
        p = core.step(rgb[t], None, _first_mask() if t == 0 else None)
        assert p.shape == (3, 64, 64)
    assert core.memory.event_obj_memory is None and core.memory.buckets[0].permanent[0].event_key is None


def test_bad_inputs(small_net):
    core = InferenceCore(small_net, InferenceConfig(), "cpu")
    rgb, vox = _video(1)
    with pytest.raises(InputError, match="voxel"):
        core.step(rgb[0], None)
    with pytest.raises(InputError, match="voxel grid has shape"):
        core.step(rgb[0], vox[0, :3])
    with pytest.raises(InputError, match="frame"):
        core.step(rgb[0, :2], vox[0])
    with pytest.raises(InputError, match="mask"):
        core.step(rgb[0], vox[0], _first_mask().float())
    with pytest.raises(InputError, match=r"objects \[4\]"):
        core.step(rgb[0], vox[0], _first_mask(), objects=[3, 4])
    p = core.step(rgb[0], vox[0], _first_mask(), objects=[7])  # only object 7 is tracked
    assert core.object_ids == [7] and p.shape == (2, 64, 64)
    assert bool((core.prob_to_mask(p) == torch.where(_first_mask() == 7, 7, 0)).all())  # 3's pixels: background
    with pytest.raises(InputError, match="differs"):
        core.step(rgb[0, :, :32], vox[0, :, :32])
    with pytest.raises(InputError, match="mem_every"):
        InferenceCore(small_net, InferenceConfig(mem_every=0), "cpu")
    with pytest.raises(InputError, match="network is on"):
        InferenceCore(small_net, InferenceConfig(), "meta")


def test_no_objects_gives_background(small_net):
    core = InferenceCore(small_net, InferenceConfig(), "cpu")
    rgb, vox = _video(2)
    assert torch.equal(core.step(rgb[0], vox[0]), torch.ones(1, 64, 64))
    assert core.step(rgb[1], vox[1], torch.zeros(64, 64, dtype=torch.long)).shape == (1, 64, 64)
    assert core.object_ids == []


def test_stagger_offsets_and_sensory_updates(small_net):
    assert stagger_offsets(5, 5) == {1, 2, 3, 4, 5}
    assert stagger_offsets(5, 2) == {1, 5}
    assert stagger_offsets(5, 3) == {1, 3, 5}
    assert stagger_offsets(3, 10) == {1, 2, 3}
    core = InferenceCore(small_net, InferenceConfig(mem_every=5, stagger_updates=1), "cpu")  # offsets {1}
    rgb, vox = _video(5, seed=8)
    core.step(rgb[0], vox[0], _first_mask())
    s0 = core.memory.sensory.clone()
    core.step(rgb[1], vox[1])  # offset 1: updated
    s1 = core.memory.sensory.clone()
    assert not torch.equal(s0, s1)
    core.step(rgb[2], vox[2])  # offset 2: not updated
    assert torch.equal(core.memory.sensory, s1)
