"""load_weights (single <-> multi-object surgery, refusals), parameter groups, pretrained backbones."""

from __future__ import annotations

import logging
import math

import pytest
import torch
import torchvision

from evolve.model.evolve import EVOLVE, TrainWrapper, load_model_config
from evolve.model.weights import WeightsMismatchError, load_weights
from evolve.model.param_groups import parameter_groups
from evolve.model.evolve.network import FrameFeatures
from evolve.utils.errors import InputError
from tests.model.helpers import build

SURGERY = ("mask_encoder.backbone.conv1.weight", "pixel_fuser.sensory_compress.weight", "event_fuser.sensory_compress.weight")


def test_single_to_multi_surgery_keeps_old_channels_and_function():
    single = build("small", single_object=True, seed=1)
    multi = build("small", seed=2)
    report = load_weights(multi, single.state_dict())
    assert len(report.adapted) == 3 and not report.missing and not report.unexpected
    s_state, m_state = single.state_dict(), multi.state_dict()
    for key in SURGERY:
        old, new = s_state[key], m_state[key]
        assert new.shape[1] == old.shape[1] + 1
        torch.testing.assert_close(new[:, : old.shape[1]], old)
        assert float(new[:, -1].abs().max()) == 0.0  # the new "others" channel is zero
    for key, value in s_state.items():
        if key not in SURGERY:
            torch.testing.assert_close(m_state[key], value)
    # zero-initialised "others" channel: each object's memory value equals the single-object
    # network's value for that object alone
    torch.manual_seed(0)
    image = torch.rand(1, 3, 32, 32)
    masks = torch.zeros(1, 2, 32, 32)
    masks[0, 0, 4:14, 4:20] = 1
    masks[0, 1, 18:30, 6:28] = 1
    voxel = torch.randn(1, 5, 32, 32)
    with torch.no_grad():
        fm = multi.encode_frame(image, voxel)
        mm = multi.encode_mask(image, fm, torch.zeros(1, 2, 256, 2, 2), masks)
        fs = single.encode_frame(image, voxel)
        for k in range(2):
            ms = single.encode_mask(image, fs, torch.zeros(1, 1, 256, 2, 2), masks[:, k : k + 1])
            torch.testing.assert_close(mm.value[:, k], ms.value[:, 0], rtol=1e-4, atol=1e-5)
            torch.testing.assert_close(mm.sensory[:, k], ms.sensory[:, 0], rtol=1e-4, atol=1e-5)
    # multi -> single drops the channel again
    back = build("small", single_object=True, seed=3)
    report = load_weights(back, multi.state_dict())
    assert len(report.adapted) == 3
    torch.testing.assert_close(back.state_dict()[SURGERY[0]], s_state[SURGERY[0]])


def test_refuses_base_weights_in_small(small_net):
    with torch.device("meta"):
        base = EVOLVE(load_model_config("base"))
    before = small_net.key_proj.feature_proj.weight.detach().clone()
    with pytest.raises(WeightsMismatchError) as err:
        load_weights(small_net, base.state_dict())
    msg = str(err.value)
    assert "pixel_encoder.layer1.0.conv1.weight" in msg and "key_proj.feature_proj.weight" in msg
    assert "(256, 1024, 1, 1)" in msg and "base (ResNet-50" in msg and "Fix:" in msg
    torch.testing.assert_close(small_net.key_proj.feature_proj.weight, before)  # nothing copied


def test_prefixes_missing_and_unexpected_keys(small_net, small_frames_only, caplog):
    target = build("small", ("events=false",), seed=5)
    wrapped = {f"module.network.{k}": v for k, v in small_frames_only.state_dict().items()}
    report = load_weights(target, wrapped)
    assert report.loaded == len(small_frames_only.state_dict()) and not report.missing
    torch.testing.assert_close(target.state_dict()["pixel_fuser.fuser.block1.conv1.weight"], small_frames_only.state_dict()["pixel_fuser.fuser.block1.conv1.weight"])
    # events-on weights into a frames-only network: event tensors are unexpected (ignored), and
    # both transformers share keys whose shapes differ (the joint self-attention is 512 wide)
    with pytest.raises(WeightsMismatchError, match="pixel_self_attn"):
        load_weights(target, small_net.state_dict())
    partial = {k: v for k, v in small_frames_only.state_dict().items() if not k.startswith("aux_head.")}
    partial["not_a_module.weight"] = torch.zeros(1)
    with caplog.at_level(logging.WARNING, logger="evolve.model.weights"):
        report = load_weights(target, partial)
    assert report.missing == ["aux_head.projection.bias", "aux_head.projection.weight"]
    assert report.unexpected == ["not_a_module.weight"]
    assert "missing 2" in caplog.text
    with pytest.raises(WeightsMismatchError, match="strict"):
        load_weights(target, partial, strict=True)
    with pytest.raises(WeightsMismatchError, match="no checkpoint key"):
        load_weights(target, {"foo": torch.zeros(1)})


def test_parameter_groups(small_net):
    groups = parameter_groups(TrainWrapper(small_net), lr=1e-4, weight_decay=1e-3, embed_weight_decay=0.0, backbone_lr_ratio=0.1)
    by_name = {g["name"]: g for g in groups}
    assert set(by_name) == {"backbone", "embeddings", "rest"}
    ids = lambda ps: {id(p) for p in ps}  # noqa: E731
    assert ids(by_name["backbone"]["params"]) == ids(small_net.pixel_encoder.parameters())
    ot = small_net.object_transformer
    assert ids(by_name["embeddings"]["params"]) == ids([ot.query_init.weight, ot.query_emb.weight, ot.event_query_init.weight, ot.event_query_emb.weight])
    assert by_name["backbone"]["lr"] == pytest.approx(1e-5) and by_name["rest"]["lr"] == pytest.approx(1e-4)
    assert by_name["embeddings"]["weight_decay"] == 0.0 and by_name["rest"]["weight_decay"] == 1e-3
    all_ids = [id(p) for g in groups for p in g["params"]]
    assert len(all_ids) == len(set(all_ids)) == len(list(small_net.parameters()))
    # the event encoder trains at the full learning rate (authors)
    assert ids(small_net.event_encoder.parameters()) <= ids(by_name["rest"]["params"])
    torch.optim.AdamW(groups, lr=1e-4, weight_decay=1e-3)


def test_pretrained_backbones_from_local_files(tmp_path, caplog):
    torch.manual_seed(0)
    rgb_net = torchvision.models.resnet18(weights=None)
    path = tmp_path / "resnet18.pth"
    torch.save(rgb_net.state_dict(), path)
    cfg = load_model_config("small", [f"pretrained_backbone={path}", f"pretrained_mask_encoder={path}"])
    with caplog.at_level(logging.INFO, logger="evolve.model.evolve.network"):
        net = EVOLVE(cfg)
    records = [r for r in caplog.records if r.name == "evolve.model.evolve.network"]
    assert len(records) == 1 and str(path) in records[0].getMessage() and "random" not in records[0].getMessage()
    ref = rgb_net.state_dict()
    torch.testing.assert_close(net.pixel_encoder.layer3[1].conv2.weight, ref["layer3.1.conv2.weight"])
    torch.testing.assert_close(net.pixel_encoder.conv1.weight, ref["conv1.weight"])
    torch.testing.assert_close(net.event_encoder.layer2[0].bn1.running_var, ref["layer2.0.bn1.running_var"])
    # the authors: the event encoder's 5-channel conv1 is a fresh nn.Conv2d (default init:
    # U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with fan_in = 5 * 7 * 7), even with ImageNet weights
    bound = 1 / math.sqrt(5 * 7 * 7)
    w = net.event_encoder.conv1.weight.detach()
    assert float(w.abs().max()) <= bound and float(w.abs().max()) > 0.9 * bound
    grey = ref["conv1.weight"].sum(dim=1)  # response to a grey image
    mean_cfg = load_model_config("small", [f"pretrained_backbone={path}", "event_conv1_init=rgb_mean"])
    mean_net = EVOLVE(mean_cfg)
    for b in range(5):
        torch.testing.assert_close(mean_net.event_encoder.conv1.weight[:, b] * 5, grey)
    torch.testing.assert_close(net.mask_encoder.backbone.conv1.weight[:, :3], ref["conv1.weight"])
    assert float(net.mask_encoder.backbone.conv1.weight[:, 3:].detach().abs().sum()) > 0

    caplog.clear()
    with caplog.at_level(logging.INFO, logger="evolve.model.evolve.network"), torch.device("meta"):
        EVOLVE(load_model_config("small"))
    records = [r for r in caplog.records if r.name == "evolve.model.evolve.network"]
    assert len(records) == 1 and "random init" in records[0].getMessage()

    with pytest.raises(InputError, match="not found"):
        EVOLVE(load_model_config("small", [f"pretrained_backbone={tmp_path / 'missing.pth'}"]))
    with pytest.raises(InputError, match="resnet50"):  # a ResNet-18 file for a ResNet-50 encoder
        net.pixel_encoder.__class__("resnet50").load_imagenet(path, "mean")


def test_forward_is_not_implemented(small_net):
    with pytest.raises(NotImplementedError, match="TrainWrapper"):
        small_net(torch.zeros(1))
    assert FrameFeatures.__doc__
