"""The SgMg network: registry, shapes, the events switch, the dynamic head's arithmetic, the
pixel-shuffle layout, weights files carrying the vocabulary, and a training signal."""

from __future__ import annotations

import pytest
import torch

from evolve.model import registry
from evolve.model.sgmg.heads import DynamicMaskHead, patch_to_mask, relative_coordinates
from evolve.model.sgmg.text import WordVocabulary
from evolve.utils.errors import InputError

SMALL = ("num_queries=5", "hidden_dim=32", "num_heads=2", "ff_dim=64", "text.dim=32", "text.num_heads=2", "text.ff_dim=64", "dec_layers=2")


def build(*overrides: str, seed: int = 0):
    torch.manual_seed(seed)
    cfg = registry.load_model_config("sgmg", list(SMALL) + list(overrides))
    net = registry.build_model(cfg)
    net.set_vocabulary(WordVocabulary.from_texts(["the red square", "the blue circle moving down"], cfg.text.vocab_size))
    return net


def test_config_registry_and_validation():
    cfg = registry.load_model_config("sgmg")
    assert cfg.arch == "sgmg" and cfg.num_queries == 1 and cfg.patch == 4 and cfg.sigma == 7.0
    assert registry.event_bins(cfg) == 5
    assert registry.event_bins(registry.load_model_config("sgmg", ["events=false"])) == 0
    with pytest.raises(InputError, match="num_levels"):
        registry.load_model_config("sgmg", ["num_levels=4"])
    with pytest.raises(InputError, match="text.path"):
        registry.load_model_config("sgmg", ["text.type=huggingface"])
    with pytest.raises(InputError, match="does not match SgMgConfig"):
        registry.load_model_config("sgmg", ["+no_such_key=1"])


def test_shapes_and_events_switch():
    net = build().eval()
    rgb, vox = torch.rand(2, 2, 3, 64, 96), torch.randn(2, 2, 5, 64, 96)
    out = net(rgb, vox, ["the red square", "zebra"])
    assert len(out["layers"]) == 2
    last = out["layers"][-1]
    assert last["logits"].shape == (2, 2, 5) and last["boxes"].shape == (2, 2, 5, 4)
    assert last["patch"].shape == (2, 2, 5, 16, 8, 12)
    assert net.low_res_masks(last["patch"]).shape == (2, 2, 5, 32, 48)
    assert net.refine(last["patch"][:, :, 0].flatten(0, 1), out["f8"], out["f4"]).shape == (4, 64, 96)
    with pytest.raises(ValueError, match="voxel grid"):
        net(rgb, None, ["a", "b"])
    with pytest.raises(ValueError, match="multiple of 32"):
        net(torch.rand(1, 1, 3, 40, 64), None, ["a"])
    frames_only = build("events=false")
    assert not any("event" in name for name, _ in frames_only.named_parameters())
    assert any("event" in name for name, _ in net.named_parameters())
    # a fresh event fusion adds nothing (zero-initialised projection); once trained, events matter
    pred_a = net.predict(rgb[0], vox[0], "the red square")
    pred_b = net.predict(rgb[0], torch.zeros_like(vox[0]), "the red square")
    assert torch.allclose(pred_a.prob, pred_b.prob, atol=1e-6)
    for fuse in net.encoder.event_fusers:
        torch.nn.init.normal_(fuse.proj.weight, std=0.5)
    pred_c = net.predict(rgb[0], vox[0], "the red square")
    assert not torch.allclose(pred_a.prob, pred_c.prob, atol=1e-4)


def test_predict_pads_any_size_and_picks_the_best_mean_query():
    net = build("events=false").eval()
    pred = net.predict(torch.rand(3, 3, 40, 56), None, "the blue circle")
    assert pred.prob.shape == (3, 40, 56) and pred.scores.shape == (3,) and pred.query_scores.shape == (3, 5)
    assert pred.query == int(pred.query_scores.mean(0).argmax())
    assert torch.equal(pred.scores, pred.query_scores[:, pred.query])


def test_relative_coordinates_and_dynamic_head_arithmetic():
    rel = relative_coordinates(torch.tensor([[[0.5, 0.25]]]), 2, 4)  # one query, centre (x 0.5, y 0.25)
    # locations x = 0.125, 0.375, 0.625, 0.875; y = 0.25, 0.75
    assert torch.allclose(rel[0, 0, 0, 0], torch.tensor([0.375, 0.125, -0.125, -0.375]))
    assert torch.allclose(rel[0, 0, 1, :, 0], torch.tensor([0.0, -0.5]))
    head = DynamicMaskHead(in_dim=3, channels=2, num_layers=1)
    assert head.num_params == 2 * 5 + 2
    feats = torch.randn(1, 3, 2, 4)
    w = torch.randn(2, 5)
    b = torch.tensor([0.5, -1.0])
    params = torch.cat([w.flatten(), b])[None, None]  # weights first, then biases
    out = head(feats, params, torch.tensor([[[0.5, 0.25]]]))
    x = torch.cat([feats[0], rel[0, 0]], dim=0)  # (5, 2, 4)
    want = torch.einsum("oi,ihw->ohw", w, x) + b[:, None, None]
    assert torch.allclose(out[0, 0], want, atol=1e-5)


def test_pixel_shuffle_patch_layout():
    patch = torch.arange(16.0).view(16, 1, 1).repeat(1, 2, 3)  # channel k everywhere
    mask = patch_to_mask(patch, 4)
    assert mask.shape == (8, 12)
    # channel k fills sub-pixel (k // 4, k % 4) of every 4x4 cell
    assert mask[0, :4].tolist() == [0, 1, 2, 3] and mask[1, :4].tolist() == [4, 5, 6, 7] and mask[7, 11] == 15


def test_weights_file_carries_the_vocabulary_and_is_recognised(tmp_path):
    net = build()
    path = tmp_path / "sgmg.pth"
    torch.save(net.state_dict(), path)
    cfg = registry.load_model_config("sgmg", list(SMALL))
    loaded = registry.load_network(cfg, path)
    assert not loaded.needs_vocabulary and loaded.text_encoder.get_vocabulary() == net.text_encoder.get_vocabulary()
    assert registry.arch_of_state_dict(net.state_dict()) == "sgmg"
    evolve_cfg = registry.load_model_config("small")
    with pytest.raises(InputError, match="weights of the SgMg network"):
        registry.load_network(evolve_cfg, path)


def test_training_reduces_the_loss_on_one_batch():
    from evolve.model.sgmg.criterion import SgMgCriterion
    from evolve.model.sgmg.train_wrapper import SgMgTrainWrapper

    torch.manual_seed(1)
    net = build("events=false", "enc_layers=0")
    b, t, s = 2, 2, 64
    masks = torch.zeros(b, t, s, s)
    masks[0, :, 8:24, 8:24] = 1  # "the red square": top left
    masks[1, :, 40:60, 30:50] = 1  # "the blue circle moving down": bottom
    rgb = torch.rand(b, t, 3, s, s) * 0.1
    rgb[0, :, 0, 8:24, 8:24] = 0.8
    rgb[1, :, 2, 40:60, 30:50] = 0.8
    boxes = torch.tensor([[16 / s, 16 / s, 16 / s, 16 / s], [40 / s, 50 / s, 20 / s, 20 / s]])[:, None].expand(b, t, 4)
    batch = {"rgb": rgb, "voxel": None, "masks": masks, "boxes": boxes, "valid": torch.ones(b, t),
             "texts": ["the red square", "the blue circle moving down"]}
    wrapper, loss = SgMgTrainWrapper(net), SgMgCriterion(net.config.loss)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
    first = None
    for _ in range(25):
        terms = loss(wrapper(batch), batch)
        opt.zero_grad()
        terms["total_loss"].backward()
        opt.step()
        first = first if first is not None else float(terms["total_loss"].detach())
    assert float(terms["total_loss"]) < 0.7 * first
    assert set(terms) >= {"class", "box_l1", "giou", "mask_low", "dice_low", "mask", "dice", "class_aux0", "total_loss"}


def test_shared_visual_features_give_the_same_answer():
    from evolve.inference.referring import ReferringVideo, sgmg_per_frame

    net = build().eval()
    vid = ReferringVideo(torch.rand(5, 3, 40, 56), torch.randn(5, 5, 40, 56))
    cache: dict = {}
    for text in ("the red square", "the blue circle moving down"):
        plain = sgmg_per_frame(net, vid, text, clip_len=3)
        shared = sgmg_per_frame(net, vid, text, clip_len=3, cache=cache)
        assert torch.allclose(plain[0], shared[0], atol=1e-6) and torch.allclose(plain[1], shared[1], atol=1e-6)
    assert sorted(cache) == [(0, 3), (3, 3)]  # one entry per clip, computed once
