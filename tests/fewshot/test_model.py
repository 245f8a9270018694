"""DMA: shapes, the events switch, the formulas with hand-computed values, the losses."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from evolve.model import registry
from evolve.model.dma import DMA, DMAConfig, DMALoss, merge_ways
from evolve.model.dma.blocks import masked_average, sinusoid
from evolve.model.dma.loss import mask_losses
from evolve.utils.errors import InputError

B, N, K, S, T, H, W = 1, 2, 1, 3, 4, 32, 32


def tiny(**kw) -> DMA:
    torch.manual_seed(0)
    return DMA(DMAConfig(small_widths=[8, 8, 16, 16], hidden_dim=16, num_heads=2, num_queries=3, qformer_layers=1, enhancer_layers=1,
                         event_widths=[4, 8], num_object_classes=3, num_motion_classes=5, **kw)).eval()


def batch(seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    sm = torch.zeros(B, N, K, S, H, W)
    sm[..., 8:16, 8:16] = 1
    qm = torch.zeros(B, N, T, H, W)
    qm[:, 0, :, 4:12, 4:12] = 1
    return {
        "support_rgb": torch.rand(B, N, K, S, 3, H, W, generator=g), "support_voxel": torch.randn(B, N, K, S, 5, H, W, generator=g),
        "support_masks": sm, "query_rgb": torch.rand(B, T, 3, H, W, generator=g), "query_voxel": torch.randn(B, T, 5, H, W, generator=g),
        "query_masks": qm, "present": torch.tensor([[True, False]]), "moving_masks": qm[:, 0],
        "motion_labels": torch.tensor([[1, 4]]), "object_labels": torch.tensor([[[0], [-1]]]),
    }


def test_output_shapes_and_registry():
    net = tiny()
    out = net(batch())
    assert out["mask_logits"].shape == (B, N, T, H // 4, W // 4)
    assert out["cls_logits"].shape == (B, N) and out["proposal_logits"].shape == (B, T, H // 8, W // 8)
    assert out["gt_mask_logits"].shape == out["mask_logits"].shape and out["support_pair_logits"].shape == (B, N)
    assert out["object_logits"].shape == (B, N, K, 3) and out["motion_logits"].shape == (B, N, 5)
    cfg = registry.load_model_config("dma")
    assert cfg.arch == "dma" and registry.event_bins(cfg) == 5
    assert registry.event_bins(registry.load_model_config("dma", ["events=false"])) == 0
    paper = registry.load_model_config("dma_paper")
    assert (paper.hidden_dim, paper.num_heads, paper.qformer_layers, paper.enhancer_layers, paper.num_queries) == (256, 8, 6, 3, 15)
    assert registry.arch_of_state_dict(net.state_dict()) == "dma"


def test_frames_only_has_no_event_parameters_and_ignores_voxels():
    net = tiny(events=False)
    assert not any("event" in n for n, _ in net.named_parameters())
    b1, b2 = batch(0), batch(0)
    b2["support_voxel"] = torch.randn_like(b2["support_voxel"])
    b2["query_voxel"] = torch.randn_like(b2["query_voxel"])
    with torch.no_grad():
        assert torch.equal(net(b1)["mask_logits"], net(b2)["mask_logits"])


def test_events_reach_the_motion_tokens():
    net = tiny(events=True)
    with torch.no_grad():
        for p in net.event_encoder.parameters():  # the output convs start at zero: open them
            p.add_(0.1)
        b1, b2 = batch(0), batch(0)
        b2["support_voxel"] = torch.randn_like(b2["support_voxel"])  # other events (GroupNorm makes a mere rescale invisible)
        p1 = net.support_prototypes(b1["support_rgb"], b1["support_voxel"], b1["support_masks"])
        p2 = net.support_prototypes(b2["support_rgb"], b2["support_voxel"], b2["support_masks"])
    assert not torch.allclose(p1.motion, p2.motion)
    assert torch.equal(p1.appearance, p2.appearance)  # appearance tokens come from frames only


def test_motion_tokens_sum_the_motion_map_over_space():
    net = tiny()
    rgb = torch.rand(2 * S, 3, H, W)
    with torch.no_grad():
        feats = net.encode_frames(rgb, torch.zeros(2 * S, 5, H, W))
        tokens, (m4, m8, m16) = net.motion_of(feats, 2, S)
    assert tokens.shape == (2, S - 1, 16) and m4.shape == (2, 16, S - 1, H // 4, W // 4)
    assert torch.allclose(tokens, m16.sum(dim=(3, 4)).transpose(1, 2), atol=1e-5)


def test_masked_average_by_hand():
    f = torch.arange(2 * 4 * 4, dtype=torch.float32).view(1, 2, 4, 4)
    m = torch.zeros(1, 4, 4)
    m[0, 0, 0] = m[0, 3, 3] = 1  # values 0 and 15 (channel 0), 16 and 31 (channel 1)
    out = masked_average(f, m)
    assert torch.allclose(out, torch.tensor([[7.5, 23.5]]), atol=1e-4)


def test_presence_score_is_five_times_the_cosine():
    net = tiny()
    p1, p2 = torch.randn(4, 3, 16), torch.randn(4, 3, 16)
    with torch.no_grad():
        s = net.enhancer.score(p1, p2)
        h1, h2 = net.enhancer.h(p1[0]), net.enhancer.h(p2[0])
    expected = 5 * (h1 * h2).sum(-1) / (h1.norm(dim=-1) * h2.norm(dim=-1))
    assert torch.allclose(s, expected, atol=1e-5)
    with torch.no_grad():
        same = net.enhancer.score(p1, p1)
    assert float(same.min()) == pytest.approx(5.0, abs=1e-4)


def test_sinusoid_values():
    e = sinusoid(torch.tensor([0, 1]), 4)
    assert torch.allclose(e[0], torch.tensor([0.0, 1.0, 0.0, 1.0]))
    assert torch.allclose(e[1], torch.tensor([math.sin(1), math.cos(1), math.sin(0.01), math.cos(0.01)]), atol=1e-6)


def test_merge_ways_by_hand():
    # one frame, 1x3 pixels, two ways; presence logits 0 (sigmoid 0.5) and +inf (1)
    logits = torch.tensor([[[[10.0, 10.0, -10.0]]], [[[0.0, 10.0, -10.0]]]])  # (N=2, T=1, 1, 3)
    cls = torch.tensor([0.0, 100.0])
    labels = merge_ways(logits, cls)
    # pixel 0: way0 ~0.5*1=0.49998, way1 0.5*1=0.5, bg 0.5 -> ties go to the first maximum (background)
    # pixel 1: way0 ~0.49998, way1 ~1.0 -> way 1 (label 2); pixel 2: both ~0 -> background
    assert labels.tolist() == [[[0, 2, 0]]]
    assert merge_ways(logits, torch.tensor([100.0, -100.0])).tolist() == [[[1, 1, 0]]]


def test_mask_losses_by_hand():
    logits = torch.zeros(1, 1, 2, 2)  # p = 0.5 everywhere
    target = torch.tensor([[[[1.0, 0.0], [0.0, 0.0]]]])
    ce, iou = mask_losses(logits, target)
    assert float(ce) == pytest.approx(math.log(2), rel=1e-5)
    # I = 0.5, U = sum(p + g - p g) = 2 + 1 - 0.5 = 2.5 -> 1 - 1.5 / 3.5
    assert float(iou) == pytest.approx(1 - 1.5 / 3.5, rel=1e-5)


def test_loss_terms_and_gradients():
    net = tiny().train()
    b = batch()
    out = net(b)
    losses = DMALoss(net.config.loss)(out, b)
    for key in ("mask_ce", "mask_iou", "proposal_ce", "cls", "gt_ce", "pair_cls", "object_cls", "motion_cls", "ortho"):
        assert torch.isfinite(losses[key]) and float(losses[key]) >= 0, key
    c = net.config.loss
    manual = (c.ce * (losses["mask_ce"] + losses["proposal_ce"] + losses["gt_ce"]) + c.iou * (losses["mask_iou"] + losses["proposal_iou"] + losses["gt_iou"])
              + c.cls * (losses["cls"] + losses["gt_cls"] + losses["pair_cls"]) + c.object_cls * losses["object_cls"]
              + c.motion_cls * losses["motion_cls"] + c.ortho * losses["ortho"])
    assert torch.allclose(losses["total_loss"], manual)
    expected_cls = F.binary_cross_entropy_with_logits(out["cls_logits"], torch.tensor([[1.0, 0.0]]), pos_weight=torch.tensor(3.0))
    assert torch.allclose(losses["cls"], expected_cls)
    losses["total_loss"].backward()
    assert net.prototypes.queries.weight.grad is not None and net.enhancer.h[0].weight.grad is not None


def test_bad_model_configs():
    with pytest.raises(InputError, match="backbone"):
        registry.load_model_config("dma", ["backbone=vgg"])
    with pytest.raises(InputError, match="hidden_dim"):
        registry.load_model_config("dma", ["hidden_dim=30"])
    with pytest.raises(InputError):
        registry.load_model_config("dma", ["unknown_key=1"])


def test_absent_masks_switch_trains_absent_ways():
    from evolve.model.dma.config import DMALossConfig

    net = tiny().train()
    b = batch()
    out = net(b)
    paper = DMALoss(DMALossConfig())(out, b)
    ours = DMALoss(DMALossConfig(absent_masks=True))(out, b)
    pred = F.interpolate(out["mask_logits"].flatten(0, 2)[:, None], size=(H, W), mode="bilinear", align_corners=False)[:, 0].view(B, N, T, H, W)
    present_only = mask_losses(pred[:, 0], b["query_masks"][:, 0])
    both = mask_losses(pred.flatten(0, 1), b["query_masks"].flatten(0, 1))
    assert torch.allclose(paper["mask_iou"], present_only[1]) and torch.allclose(ours["mask_iou"], both[1])


def test_way_mask_presence_pools_each_way_under_its_own_mask():
    """``presence="way_masks"``: same masks as the paper's pass; each way's presence logit is the
    score of the prototype pooled (appearance: masked average per frame; motion: the motion map
    summed over space under the mean mask of the two frames) under sigmoid(mask_n), by loops."""
    net = tiny()
    bt = batch(3)
    with torch.no_grad():
        support = net.support_prototypes(bt["support_rgb"], bt["support_voxel"], bt["support_masks"])
        paper = net.segment_query(bt["query_rgb"], bt["query_voxel"], support, N)
        ours = net.segment_query(bt["query_rgb"], bt["query_voxel"], support, N, presence="way_masks")
        assert torch.equal(ours["mask_logits"], paper["mask_logits"])
        assert torch.equal(ours["proposal_cls_logits"], paper["cls_logits"])
        feats, _, _, m16 = net.query_features(bt["query_rgb"], bt["query_voxel"])  # p4 (T, C, 8, 8); m16 (1, C, T-1, 2, 2)
        for n in range(N):
            w = paper["mask_logits"][0, n].sigmoid()  # (T, 8, 8), the size of p4
            app = torch.stack([(feats.p4[t] * w[t]).sum((1, 2)) / (w[t].sum() + 1e-6) for t in range(T)])
            mot = []
            for t in range(T - 1):
                wt = 0.5 * (w[t] + w[t + 1])
                blocks = wt.view(2, 4, 2, 4).mean(dim=(1, 3))  # area resize 8x8 -> 2x2
                mot.append((m16[0, :, t] * blocks).sum((1, 2)))
            tokens, _ = net.prototypes(app.view(1, 1, T, -1), torch.stack(mot).view(1, 1, T - 1, -1))
            expected = net.enhancer.score(tokens, support.tokens[:, n:n + 1])
            assert torch.allclose(ours["cls_logits"][0, n], expected[0], atol=1e-5)
        assert not torch.allclose(ours["cls_logits"], paper["cls_logits"])
    with pytest.raises(ValueError, match="presence"):
        net.segment_query(bt["query_rgb"], bt["query_voxel"], support, N, presence="oracle")


def test_fewshot_inference_config_rejects_an_unknown_presence():
    from evolve.inference.fewshot import FewShotInferenceConfig

    with pytest.raises(InputError, match="way_masks"):
        FewShotInferenceConfig(presence="gt").validate()


def test_way_mask_presence_in_training_trains_both_scores_and_not_the_masks():
    """``presence: way_masks``: the training forward returns the way-mask score as ``cls_logits``
    and the paper's as ``proposal_cls_logits``; the loss has both terms; the way-mask score's
    gradient does not reach the masks (they are detached where it pools)."""
    net = tiny(presence="way_masks").train()
    bt = batch(5)
    out = net(bt)
    assert out["cls_logits"].shape == out["proposal_cls_logits"].shape == (B, N)
    losses = DMALoss(net.config.loss)(out, bt)
    target = bt["present"].float()
    pw = torch.tensor(net.config.loss.cls_pos_weight)
    assert float(losses["proposal_cls"]) == pytest.approx(float(F.binary_cross_entropy_with_logits(out["proposal_cls_logits"], target, pos_weight=pw)), abs=1e-6)
    out["cls_logits"].sum().backward(retain_graph=True)
    assert all(p.grad is None or float(p.grad.abs().sum()) == 0.0 for p in net.decoder.parameters())
    assert float(losses["total_loss"]) > 0
    with pytest.raises(InputError, match="presence"):
        DMAConfig(presence="gt").validate()
