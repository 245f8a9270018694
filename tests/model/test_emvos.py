"""The EMVOS network (issue 14 point 2): matching scores by hand, aggregation, the encoder
switches, the unroll, the loss and swap-and-attach."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from evolve.data.distractors import swap_and_attach
from evolve.model.emvos import EMVOS, EMVOSFeatures, EMVOSLoss, EMVOSTrainWrapper, Reference, aggregate_objects
from evolve.model.registry import load_model_config
from evolve.utils.errors import InputError
from tests.model.helpers import make_clip


def _net(*overrides: str, seed: int = 0) -> EMVOS:
    torch.manual_seed(seed)
    return EMVOS(load_model_config("emvos_small", list(overrides))).eval()


@pytest.fixture(scope="module")
def net() -> EMVOS:
    return _net()


def test_matching_scores_by_hand(net):
    # 2 reference pixels, 2 query pixels (h = 1, w = 2), key dim 2
    ref_norm = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])  # (B, Ck, L): r0 = (1, 0), r1 = (0, 1)
    q_norm = torch.tensor([[[1.0, 0.6], [0.0, 0.8]]])  # q0 = (1, 0), q1 = (0.6, 0.8)
    ref_key = torch.tensor([[[1.0, 0.0], [0.0, 2.0]]])  # r0 = (1, 0), r1 = (0, 2)
    q_key = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])  # q0 = (1, 0), q1 = (0, 1)
    query = EMVOSFeatures(torch.zeros(1, 1, 1, 2), torch.zeros(1, 1, 2, 4), torch.zeros(1, 1, 4, 8),
                          q_norm.view(1, 2, 1, 2), q_key.view(1, 2, 1, 2))
    global_ref = Reference(ref_norm, ref_key, torch.tensor([[[1.0, 0.0]]]))  # r0 is the object
    local_ref = Reference(ref_norm, ref_key, torch.tensor([[[0.0, 1.0]]]))  # r1 is the object
    s = net.match(query, global_ref, local_ref)[0, 0, :, 0]  # (8, 2)
    # surjective C = (k_r . k_q + 1) / 2: C(r0,q0)=1, C(r1,q0)=0.5, C(r0,q1)=0.8, C(r1,q1)=0.9
    assert s[0].tolist() == pytest.approx([0.5, 0.9])  # global bg (r1)
    assert s[1].tolist() == pytest.approx([1.0, 0.8])  # global fg (r0)
    assert s[2].tolist() == pytest.approx([1.0, 0.8])  # local bg (r0)
    assert s[3].tolist() == pytest.approx([0.5, 0.9])  # local fg (r1)
    # equalized: row r0 = softmax_q(1, 0), row r1 = softmax_q(0, 2)
    e = math.e
    r0 = [e / (e + 1), 1 / (e + 1)]
    r1 = [1 / (1 + e**2), e**2 / (1 + e**2)]
    assert s[4].tolist() == pytest.approx(r1, rel=1e-6)
    assert s[5].tolist() == pytest.approx(r0, rel=1e-6)
    assert s[6].tolist() == pytest.approx(r0, rel=1e-6)
    assert s[7].tolist() == pytest.approx(r1, rel=1e-6)


def test_aggregate_objects_by_hand():
    fg = torch.tensor([0.8, 0.5]).view(1, 2, 1)
    out = aggregate_objects(fg)[0, :, 0]
    bg = min(0.2, 0.5)
    odds = [bg / (1 - bg), 0.8 / 0.2, 0.5 / 0.5]
    assert out.tolist() == pytest.approx([o / sum(odds) for o in odds], rel=1e-5)
    one = aggregate_objects(torch.tensor([0.7]).view(1, 1, 1))[0, :, 0]
    assert one[1].item() == pytest.approx(0.49 / (0.49 + 0.09), rel=1e-5)  # p^2 / (p^2 + (1-p)^2)


def test_keys_features_and_event_switch(net):
    frames_only = _net("events=false")
    assert not [n for n, _ in frames_only.named_parameters() if "event" in n]
    assert [n for n, _ in net.named_parameters() if n.startswith("event_encoder.")]
    image, voxel = torch.rand(1, 3, 64, 96), torch.randn(1, 5, 64, 96)
    with torch.no_grad():
        f = net.encode_frame(image, voxel)
        g = net.encode_frame(image, torch.randn(1, 5, 64, 96))
    assert f.s16.shape == (1, 1024, 4, 6) and f.s8.shape == (1, 512, 8, 12) and f.s4.shape == (1, 256, 16, 24)
    assert f.norm_key.shape == (1, 128, 4, 6)
    torch.testing.assert_close(f.norm_key.norm(dim=1), torch.ones(1, 4, 6))
    assert float(f.key.norm(dim=1).std()) > 0  # the raw key is not normalised
    torch.testing.assert_close(f.s16, g.s16)  # events reach the keys only
    assert not torch.allclose(f.key, g.key)
    with pytest.raises(ValueError, match="voxel grid"):
        net.encode_frame(image)
    with pytest.raises(ValueError, match="multiple of 16"):
        net.encode_frame(torch.rand(1, 3, 60, 64), torch.randn(1, 5, 60, 64))


def test_pretrained_densenet_is_loaded_and_frozen(tmp_path):
    import torchvision

    torch.manual_seed(3)
    ref = torchvision.models.densenet121(weights=None)
    state = {}
    for k, v in ref.state_dict().items():  # the published file's old layer names: norm.1, conv.2, ...
        for part in ("norm1", "relu1", "conv1", "norm2", "relu2", "conv2"):
            k = k.replace(f".{part}.", f".{part[:-1]}.{part[-1]}.") if ".denselayer" in k else k
        state[k] = v
    assert "features.denseblock1.denselayer1.norm.1.weight" in state
    path = tmp_path / "densenet121.pth"
    torch.save(state, path)
    net = _net(f"pretrained_backbone={path}", "events=false")
    torch.testing.assert_close(net.pixel_encoder.denseblock3.denselayer5.conv2.weight, ref.features.denseblock3.denselayer5.conv2.weight)
    assert not any(p.requires_grad for p in net.pixel_encoder.parameters())
    assert all(p.requires_grad for p in net.decoder.parameters())
    assert all(p.requires_grad for p in _net("events=false").pixel_encoder.parameters())  # no weights: trainable
    bad = tmp_path / "resnet.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), bad)
    with pytest.raises(InputError, match="not a torchvision densenet121"):
        _net(f"pretrained_backbone={bad}")


def test_unroll_loss_and_gradients(net):
    clip = make_clip(batch=2, frames=3, num_objects=2, height=64, width=64, seed=1)
    wrapper = EMVOSTrainWrapper(net, swap_attach_prob=0.0).train()
    out = wrapper(clip)
    assert out["logits"].shape == (2, 2, 2, 2, 64, 64) and out["target"].shape == (2, 2, 2, 64, 64)
    torch.testing.assert_close(out["target"][:, :, 1], (clip["cls_gt"][:, 1:, 0] == 2).long())
    losses = EMVOSLoss()(out, clip)
    # oracle: mean over objects of the per-object mean 2-class cross-entropy
    per = [float(F.cross_entropy(out["logits"][b, :, k].detach(), out["target"][b, :, k])) for b in range(2) for k in range(2)]
    assert losses["total_loss"].detach().item() == pytest.approx(sum(per) / 4, rel=1e-5)
    losses["total_loss"].backward()
    assert net.decoder.up4.weight.grad is not None and net.pixel_encoder.conv0.weight.grad is not None
    assert net.event_encoder.conv1.weight.grad is not None  # events reach the loss through the keys
    net.zero_grad(set_to_none=True)
    # a padding object (selector 0) does not count
    out["selector"] = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    half = EMVOSLoss()(out, clip)["total_loss"].detach().item()
    assert half == pytest.approx((per[0] + per[2]) / 2, rel=1e-5)


def test_swap_and_attach_by_hand():
    rgb = torch.stack([torch.full((2, 3, 4, 4), 0.1), torch.full((2, 3, 4, 4), 0.9)])  # (B=2, T=2, 3, 4, 4)
    objects = torch.zeros(2, 2, 1, 4, 4)
    objects[0, :, 0, 0:2, 0:2] = 1  # clip 0: top-left square
    objects[1, :, 0, 1:3, 1:3] = 1  # clip 1: centre square
    new_rgb, _, new_obj, applied = swap_and_attach(rgb, None, objects)
    assert applied.tolist() == [True, True]
    # clip 0 received clip 1's centre square: pixels of clip 1 there, its own object occluded at (1, 1)
    assert new_rgb[0, 0, 0, 1, 1].item() == pytest.approx(0.9) and new_rgb[0, 0, 0, 0, 0].item() == pytest.approx(0.1)
    assert new_obj[0, 0, 0].sum().item() == 3 and new_obj[0, 0, 0, 1, 1].item() == 0
    # clip 1 received clip 0's top-left square
    assert new_rgb[1, 1, 0, 0, 0].item() == pytest.approx(0.1) and new_obj[1, 0, 0].sum().item() == 3
    # a target that would vanish on frame 0 leaves its clip unchanged
    covered = objects.clone()
    covered[1] = 0
    covered[1, :, 0, 0, 0] = 1  # clip 1's object lies inside clip 0's square
    r2, _, o2, applied = swap_and_attach(rgb, None, covered)
    assert applied.tolist() == [True, False]
    torch.testing.assert_close(r2[1], rgb[1])
    torch.testing.assert_close(o2[1], covered[1])
    # a batch of one clip is left alone
    r1, _, o1, applied = swap_and_attach(rgb[:1], None, objects[:1])
    assert applied.tolist() == [False] and torch.equal(r1, rgb[:1]) and torch.equal(o1, objects[:1])


def test_wrapper_applies_swap_and_attach(net):
    clip = make_clip(batch=2, frames=2, num_objects=1, height=64, width=64, seed=2)
    clip["cls_gt"][1] = torch.roll(clip["cls_gt"][1], shifts=(20, 30), dims=(-2, -1))  # the clips' objects only overlap partly
    torch.manual_seed(0)
    with torch.no_grad():
        out = EMVOSTrainWrapper(net, swap_attach_prob=1.0).train()(clip)
    assert out["swapped"].any()
    assert out["target"].sum() < (clip["cls_gt"][:, 1:] == 1).sum()  # occluded target pixels
    with torch.no_grad():
        out = EMVOSTrainWrapper(net, swap_attach_prob=1.0).eval()(clip)  # never at evaluation
    assert not out["swapped"].any()
    with pytest.raises(ValueError, match="swap_attach_prob"):
        EMVOSTrainWrapper(net, swap_attach_prob=1.5)


def test_config_errors():
    with pytest.raises(InputError, match="encoder is 'resnet50'"):
        load_model_config("emvos", ["encoder=resnet50"])
    with pytest.raises(InputError, match="key_dim"):
        load_model_config("emvos", ["key_dim=0"])
    with pytest.raises(InputError, match="affinity_norm"):  # an EVOLVE key is not an EMVOS key
        load_model_config("emvos", ["affinity_norm=query_softmax"])


def test_parameter_counts_in_the_summary():
    from evolve.model.summary import VARIANTS, Variant, count_parameters, parameter_table

    counts = count_parameters(Variant("paper", "emvos", ("events=false",)))
    net = EMVOS(load_model_config("emvos", ["events=false"]))
    assert counts["total"] == sum(p.numel() for p in net.parameters())
    # matcher: two 1x1 convolutions 1024 -> 512 with bias
    assert counts["matcher"] == 2 * (1024 * 512 + 512)
    # events add the ResNet-18 trunk and 256 input channels to both key projections
    on = count_parameters(Variant("events", "emvos"))
    assert on["matcher"] - counts["matcher"] == 2 * 256 * 512
    assert on["total"] - counts["total"] == on["event_encoder"] + 2 * 256 * 512
    assert any(v.name == "emvos" for v in VARIANTS)
    text = parameter_table((Variant("small", "small"), Variant("EMVOS", "emvos")))
    assert "**EVOLVE** (`arch: evolve`)" in text and "**EMVOS** (`arch: emvos`)" in text
