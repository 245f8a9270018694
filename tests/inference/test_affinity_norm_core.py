"""affinity_norm and equalized_scores through the whole network: the training unroll and the
streaming core agree, the switches change what they should and nothing else (issue 14)."""

from __future__ import annotations

import pytest
import torch

from evolve.inference import InferenceConfig, InferenceCore
from evolve.model.evolve import EVOLVE, TrainWrapper, load_model_config
from evolve.model.memory_ops import AFFINITY_NORMS
from tests.model.helpers import build, make_clip


def _count(overrides: tuple[str, ...]) -> int:
    with torch.device("meta"):
        net = EVOLVE(load_model_config("small", list(overrides)))
    return sum(p.numel() for p in net.parameters())


def test_parameter_counts():
    base = _count(())
    for norm in AFFINITY_NORMS:
        assert _count((f"affinity_norm={norm}",)) == base  # the normalisation has no parameter
    # equalized_scores adds one 1x1 projection 2 -> 256 (+ bias) per pixel fuser: image and event
    assert _count(("equalized_scores=true",)) == base + 2 * (2 * 256 + 256)
    assert _count(("equalized_scores=true", "events=false")) == _count(("events=false",)) + (2 * 256 + 256)


@pytest.fixture(scope="module")
def scored_net() -> EVOLVE:
    net = build("small", ("equalized_scores=true",), seed=1)
    with torch.no_grad():  # the projections start at zero; make the scores matter for the test
        g = torch.Generator().manual_seed(2)
        for fuser in (net.pixel_fuser, net.event_fuser):
            fuser.score_proj.weight.copy_(torch.randn(fuser.score_proj.weight.shape, generator=g) * 0.5)
    return net


@pytest.mark.parametrize("norm", AFFINITY_NORMS)
def test_training_unroll_and_inference_agree(scored_net, norm):
    net = scored_net
    net.config.affinity_norm = norm
    try:
        clip = make_clip(batch=1, frames=3, num_objects=2, seed=6)
        with torch.no_grad():
            out = TrainWrapper(net, num_ref_frames=3, deep_update_prob=1.0)(clip)  # inference deep-updates every memory frame
        ids = clip["cls_gt"][0, 0, 0]
        for top_k in (None, 64):  # 64 >= 2 memory frames x 16 tokens
            core = InferenceCore(net, InferenceConfig(top_k=top_k, mem_every=1, stagger_updates=1), "cpu")
            core.step(clip["rgb"][0, 0], clip["voxel"][0, 0], ids)
            for t in (1, 2):
                prob = core.step(clip["rgb"][0, t], clip["voxel"][0, t])
                torch.testing.assert_close(prob, torch.softmax(out["logits"][0, t - 1], dim=0), rtol=0, atol=2e-5)
    finally:
        net.config.affinity_norm = "memory_softmax"


def test_norms_and_scores_change_the_output(scored_net):
    net = scored_net
    clip = make_clip(batch=1, frames=2, num_objects=1, seed=7)
    outs = {}
    try:
        for norm in AFFINITY_NORMS:
            net.config.affinity_norm = norm
            with torch.no_grad():
                outs[norm] = TrainWrapper(net, num_ref_frames=3, deep_update_prob=0.0)(clip)["logits"]
    finally:
        net.config.affinity_norm = "memory_softmax"
    assert float((outs["memory_softmax"] - outs["query_softmax"]).abs().max()) > 1e-4
    assert float((outs["memory_softmax"] - outs["topk_bijective"]).abs().max()) > 1e-4
    # a zero score projection gives exactly the network without scores (same other weights)
    plain_net = build("small", seed=9)
    state = {k: v for k, v in net.state_dict().items() if "score_proj" not in k}
    plain_net.load_state_dict(state, strict=True)
    with torch.no_grad():
        saved = [f.score_proj.weight.clone() for f in (net.pixel_fuser, net.event_fuser)]
        for f in (net.pixel_fuser, net.event_fuser):
            f.score_proj.weight.zero_()
        try:
            zeroed = TrainWrapper(net, num_ref_frames=3, deep_update_prob=0.0)(clip)["logits"]
        finally:
            for f, w in zip((net.pixel_fuser, net.event_fuser), saved):
                f.score_proj.weight.copy_(w)
        plain = TrainWrapper(plain_net, num_ref_frames=3, deep_update_prob=0.0)(clip)["logits"]
    torch.testing.assert_close(zeroed, plain, rtol=0, atol=0)
    assert float((zeroed - outs["memory_softmax"]).abs().max()) > 1e-4  # the scores were used


def test_scores_are_required_when_switched_on(scored_net):
    clip = make_clip(batch=1, frames=2, num_objects=1, seed=8)
    net = scored_net
    frames = net.encode_frame(clip["rgb"][:, 0], clip["voxel"][:, 0])
    with pytest.raises(ValueError, match="mem_masks"):
        net.read_memory(frames, frames.key.flatten(2), frames.shrinkage.flatten(2), torch.zeros(1, 1, 256, 16),
                        torch.zeros(1, 1, 1, 16, 257), torch.zeros(1, 1, 256, 4, 4), torch.zeros(1, 1, 64, 64),
                        frames.event_key.flatten(2), frames.event_shrinkage.flatten(2), torch.zeros(1, 1, 1, 16, 257))
