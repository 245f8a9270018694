"""The interaction network and GLTM's transfer network: shapes, the events switch, and the global
and local transfer against hand-built cases."""

from __future__ import annotations

import pytest
import torch

from evolve.model import registry
from evolve.model.gltm.network import displacements, global_transfer, local_transfer


def _cfg(name, *overrides):
    return registry.load_model_config(name, list(overrides))


def test_interaction_net_outputs_and_events_switch():
    torch.manual_seed(0)
    net = registry.build_model(_cfg("interaction")).eval()
    x = torch.rand(2, 3, 50, 70)
    m = torch.rand(2, 1, 50, 70)
    out = net(x, m, m, m, torch.rand(2, 5, 50, 70))
    assert out.logits.shape == (2, 1, 50, 70) and out.indicator.shape == (2, 256, 4, 5)  # ceil(50/16), ceil(70/16)
    with pytest.raises(ValueError, match="voxel"):
        net(x, m, m, m, None)
    frames_only = registry.build_model(_cfg("interaction", "events=false")).eval()
    assert frames_only.encoder.conv1.weight.shape[1] == 6 and net.encoder.conv1.weight.shape[1] == 11
    assert frames_only(x, m, m, m, None).logits.shape == (2, 1, 50, 70)
    # the voxel grid is really used: changing it changes the output
    v = torch.rand(2, 5, 50, 70)
    assert not torch.allclose(net(x, m, m, m, v).logits, net(x, m, m, m, v + 1).logits)


def test_registry_names_each_network_by_its_weights():
    inter = registry.build_model(_cfg("interaction"))
    gltm = registry.build_model(_cfg("gltm"))
    assert registry.arch_of_state_dict(inter.state_dict()) == "interaction"
    assert registry.arch_of_state_dict(gltm.state_dict()) == "gltm"
    assert registry.arch_of_state_dict(gltm.anet.state_dict()) == "interaction"


def test_gltm_starts_its_anet_from_interaction_weights(tmp_path):
    inter = registry.build_model(_cfg("interaction"))
    torch.save(inter.state_dict(), tmp_path / "i.pth")
    gltm = registry.build_model(_cfg("gltm", f"anet_weights={tmp_path / 'i.pth'}"))
    for k, v in inter.state_dict().items():
        assert torch.equal(gltm.anet.state_dict()[k], v)


def test_global_transfer_spreads_each_annotated_pixel_with_weight_one_over_a():
    torch.manual_seed(1)
    b, ck, h, w = 2, 8, 3, 4
    keys = [torch.randn(b, ck, h, w) for _ in range(2)]
    target = torch.randn(b, ck, h, w)
    z = [torch.rand(b, 5, h, w) for _ in range(2)]
    g = global_transfer(keys, target, z)
    assert g.shape == (b, 5, h, w)
    # softmax over TARGET positions: summed over the target, every annotated pixel gives Z / |A|
    assert torch.allclose(g.sum(dim=(2, 3)), (z[0].sum(dim=(2, 3)) + z[1].sum(dim=(2, 3))) / 2, atol=1e-5)
    # explicit formula for one target pixel
    q = target.flatten(2)
    expected = 0
    for k, zz in zip(keys, z):
        wgt = torch.softmax(torch.bmm(k.flatten(2).transpose(1, 2), q) / ck**0.5, dim=2) / 2
        expected = expected + torch.bmm(zz.flatten(2), wgt)
    assert torch.allclose(g.flatten(2), expected, atol=1e-6)


def test_local_transfer_warps_the_mask_by_the_matching_displacement():
    torch.manual_seed(2)
    h, w, c = 24, 24, 64
    prev = torch.randn(1, c, h, w) * 20  # distinctive features: the true match dominates the softmax
    dy, dx = 2, -4
    # target(p) = prev(p + d): the target is the previous frame moved by -d
    target = torch.roll(prev, shifts=(-dy, -dx), dims=(2, 3))
    mask = (torch.rand(1, 1, h, w) > 0.5).float()
    prior, weights = local_transfer(prev, target, mask, max_displacement=8, stride=2)
    assert len(displacements(8, 2)) == 81 and weights.shape == (1, 81, h, w)
    expected = torch.roll(mask, shifts=(-dy, -dx), dims=(2, 3))
    inner = (slice(8, h - 8), slice(8, w - 8))  # away from the border and the roll's wrap-around
    assert torch.allclose(prior[0, 0][inner], expected[0, 0][inner], atol=1e-3)
    # displacements leaving the frame get no weight: at the top-left pixel only d >= 0 are inside
    d = torch.tensor(displacements(8, 2))
    outside = (d[:, 0] < 0) | (d[:, 1] < 0)
    assert weights[0, outside, 0, 0].abs().max() == 0 and torch.allclose(weights.sum(1), torch.ones(1, h, w))


def test_transfer_net_segments_each_object_and_reads_events():
    torch.manual_seed(3)
    g = registry.build_model(_cfg("gltm")).eval()
    x, v = torch.rand(1, 3, 48, 64), torch.rand(1, 5, 48, 64)
    f = g.tnet.encode(x, v).expand(3)
    z = torch.rand(3, 256, 3, 4)
    logits, prior = g.tnet(f, [f.key], [z], f.local, torch.rand(3, 1, 48, 64))
    assert logits.shape == (3, 1, 48, 64) and prior.shape == (3, 1, 12, 16)
    g2 = registry.build_model(_cfg("gltm", "events=false")).eval()
    assert g2.tnet.encoder.conv1.weight.shape[1] == 3 and g2.anet.encoder.conv1.weight.shape[1] == 6
