"""Training unroll + losses on a tiny clip: shapes, finite losses, gradients where EVOLVE adds parameters."""

from __future__ import annotations

import math

import pytest
import torch

from evolve.model.losses import LossComputer, LossConfig
from evolve.model.evolve import TrainWrapper
from tests.model.helpers import make_clip


def _grad_norm(net, name: str) -> float:
    p = dict(net.named_parameters())[name]
    return 0.0 if p.grad is None else float(p.grad.abs().sum())


def test_forward_backward_small_two_objects(small_net):
    net = small_net
    clip = make_clip(batch=1, frames=4, num_objects=2, height=64, width=64)
    wrapper = TrainWrapper(net, num_ref_frames=2, deep_update_prob=0.2)
    try:
        out = wrapper(clip)
        assert out["logits"].shape == (1, 3, 3, 64, 64)
        assert out["masks"].shape == (1, 3, 2, 64, 64)
        assert out["sensory_logits"].shape == (1, 3, 3, 4, 4)
        assert len(out["q_logits"]) == 4 and all(q.shape == (1, 3, 3, 4, 4) for q in out["q_logits"])
        assert out["num_objects"] == [2]
        # probabilities of each frame: objects in [0, 1], background + objects sum to 1
        prob = torch.softmax(out["logits"], dim=2)
        torch.testing.assert_close(prob.sum(2), torch.ones(1, 3, 64, 64))
        torch.testing.assert_close(prob[:, :, 1:], out["masks"])

        losses = LossComputer(LossConfig(num_points=2048))(out, clip)
        expected_terms = {"loss_ce", "loss_dice", "aux_sensory_ce", "aux_sensory_dice", "total_loss"}
        expected_terms |= {f"aux_query_{k}_{level}" for k in ("ce", "dice") for level in range(4)}
        assert set(losses) == expected_terms
        assert all(math.isfinite(float(v.detach())) for v in losses.values())
        assert float(losses["loss_ce"].detach()) > 0
        losses["total_loss"].backward()
        for name in (
            "event_encoder.conv1.weight",
            "event_encoder.layer3.0.conv1.weight",
            "event_key_proj.key_proj.weight",
            "edft.offset_conv.weight",
            "edft.feature_deform.weight",
            "edft.value_deform.weight",
            "object_transformer.query_init.weight",
            "object_transformer.summary_to_query_init.weight",
            "object_transformer.event_query_init.weight",
            "object_transformer.summary_to_event_query_init.weight",
            "object_transformer.refinement.input_proj.weight",
            "object_transformer.blocks.0.pixel_self_attn.attn.in_proj_weight",
            "mask_encoder.sensory_update.transform.weight",
            "aux_head.projection.weight",
        ):
            assert _grad_norm(net, name) > 0, name
        # the image encoder's BN statistics are frozen (BN runs in eval mode even in train())
        wrapper.train()
        assert not net.pixel_encoder.bn1.training and not net.event_encoder.bn1.training
    finally:
        wrapper.eval()
        net.zero_grad(set_to_none=True)


def test_reference_frames_always_include_frame_zero(small_net):
    wrapper = TrainWrapper(small_net, num_ref_frames=3)
    torch.manual_seed(1)
    for t in range(1, 9):
        ref = wrapper._reference_indices(t, batch=4, device=torch.device("cpu"))
        if t <= 3:
            assert ref.tolist() == [list(range(t))] * 4
        else:
            assert ref.shape == (4, 3)
            assert (ref[:, 0] == 0).all()
            for row in ref.tolist():
                assert len(set(row)) == 3 and max(row) < t


def test_events_off_trains_without_voxels(small_frames_only):
    net = small_frames_only
    clip = make_clip(frames=3, num_objects=1)
    del clip["voxel"]
    try:
        out = TrainWrapper(net)(clip)
        losses = LossComputer(LossConfig(num_points=1024))(out, clip)
        losses["total_loss"].backward()
        assert math.isfinite(float(losses["total_loss"].detach()))
        assert _grad_norm(net, "object_transformer.query_init.weight") > 0
    finally:
        net.zero_grad(set_to_none=True)


def test_events_on_requires_voxels(small_net):
    clip = make_clip(frames=2, num_objects=1)
    del clip["voxel"]
    with torch.no_grad(), pytest.raises(ValueError, match="voxel"):
        TrainWrapper(small_net)(clip)


def test_padding_objects_are_trimmed_and_masked(small_net):
    # clip 0 has 2 objects, clip 1 has 1: selector zeros the padding object
    clip = make_clip(batch=2, frames=2, num_objects=3)
    clip["selector"] = torch.tensor([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    clip["first_frame_gt"][1, :, 1:] = 0
    clip["cls_gt"][0][clip["cls_gt"][0] > 2] = 0
    clip["cls_gt"][1][clip["cls_gt"][1] > 1] = 0
    with torch.no_grad():
        out = TrainWrapper(small_net)(clip)
        losses = LossComputer(LossConfig(num_points=512))(out, clip)
    assert out["logits"].shape[2] == 3  # trimmed to bg + 2 objects
    assert out["num_objects"] == [2, 1]
    # the padding object of clip 1 has probability ~0 everywhere
    assert float(out["masks"][1, :, 1].max()) < 1e-5
    assert math.isfinite(float(losses["total_loss"]))


def test_autocast_training_step(small_net):
    # AMP as the trainer runs it (bfloat16 on CPU): fp32 islands keep logits and losses float32
    clip = make_clip(frames=3, num_objects=2, seed=2)
    try:
        with torch.amp.autocast(device_type="cpu", dtype=torch.bfloat16):
            out = TrainWrapper(small_net)(clip)
            losses = LossComputer(LossConfig(num_points=512))(out, clip)
        assert out["logits"].dtype == torch.float32 and out["sensory_logits"].dtype == torch.float32
        assert losses["total_loss"].dtype == torch.float32 and math.isfinite(float(losses["total_loss"].detach()))
        losses["total_loss"].backward()
        assert _grad_norm(small_net, "edft.offset_conv.weight") > 0
    finally:
        small_net.zero_grad(set_to_none=True)
