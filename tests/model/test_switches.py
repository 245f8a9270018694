"""Each config switch changes what it should (DESIGN 3)."""

from __future__ import annotations

import pytest
import torch

from evolve.model.evolve import EVOLVE, load_model_config
from tests.model.helpers import build


def _meta(overrides=(), name="small") -> EVOLVE:
    with torch.device("meta"):
        return EVOLVE(load_model_config(name, list(overrides)))


def _count(net) -> int:
    return sum(p.numel() for p in net.parameters())


def test_events_off_has_no_event_parameters(small_net, small_frames_only):
    names = [n for n, _ in small_frames_only.named_parameters()] + [n for n, _ in small_frames_only.named_buffers()]
    assert names and not [n for n in names if "event" in n]
    assert not [n for n, _ in small_frames_only.named_modules() if "event" in n]
    assert [n for n, _ in small_net.named_parameters() if n.startswith("event_encoder.")]
    # events off drops the event encoder, event keys, event fuser and summarizer, EDFT (no event
    # features for the offsets) and DMOT's event stream
    dropped = {"event_encoder", "event_feat_proj", "event_key_proj", "event_fuser", "event_summarizer", "edft"}
    on = {n: _count(m) for n, m in small_net.named_children()}
    off = {n: _count(m) for n, m in small_frames_only.named_children()}
    assert set(on) - set(off) == dropped
    assert off["object_transformer"] < on["object_transformer"]
    assert _count(small_frames_only) == sum(off.values()) < _count(small_net) - sum(on[n] for n in dropped)
    with pytest.raises(RuntimeError, match="events: false"):
        small_frames_only.encode_events(torch.zeros(1, 5, 32, 32))


def test_offset_source_switch(small_net):
    image_net = build("small", ("offset_source=image",))
    image = torch.rand(1, 3, 64, 64)
    voxel = torch.randn(1, 5, 64, 64)
    image2 = torch.rand(1, 3, 64, 64)
    voxel2 = torch.randn(1, 5, 64, 64)
    saved = small_net.edft.offset_conv.weight.detach().clone()
    try:
        with torch.no_grad():
            for net in (small_net, image_net):  # non-zero offsets so that the source matters
                net.edft.offset_conv.weight.normal_(0, 0.05)
            ev = [small_net.encode_frame(i, v).offset for i, v in ((image, voxel), (image2, voxel), (image, voxel2))]
            im = [image_net.encode_frame(i, v).offset for i, v in ((image, voxel), (image2, voxel), (image, voxel2))]
    finally:
        with torch.no_grad():
            small_net.edft.offset_conv.weight.copy_(saved)
    assert float(ev[0].abs().max()) > 1e-3 and float(im[0].abs().max()) > 1e-3
    # event-sourced offsets follow the voxel grid only, image-sourced ones the frame only
    torch.testing.assert_close(ev[0], ev[1])
    assert not torch.allclose(ev[0], ev[2])
    torch.testing.assert_close(im[0], im[2])
    assert not torch.allclose(im[0], im[1])


def test_modulated_adds_mask_channels():
    plain, modulated = _meta(), _meta(("modulated=true",))
    assert plain.edft.offset_conv.out_channels == 18 and modulated.edft.offset_conv.out_channels == 27
    mid = load_model_config("small").pixel_dim
    assert _count(modulated) - _count(plain) == 9 * (mid * 9 + 1)


def test_mrm_per_modality_adds_a_second_mrm():
    shared, per = _meta(), _meta(("mrm=per_modality",))
    assert not hasattr(shared.object_transformer, "event_refinement")
    extra = _count(per.object_transformer.event_refinement)
    assert extra == _count(per.object_transformer.refinement) > 0
    assert _count(per) - _count(shared) == extra


def test_per_modality_network_runs_and_differs():
    # same seed, same shared weights: per_modality only changes how the event queries are refined
    torch.manual_seed(0)
    shared = build("small", (), seed=3)
    per = build("small", ("mrm=per_modality",), seed=3)
    state = shared.state_dict()
    missing = per.load_state_dict(state, strict=False).missing_keys
    assert missing and all(k.startswith("object_transformer.event_refinement.") for k in missing)
    h = w = 4
    pixel = torch.randn(1, 2, 256, h, w)
    event_pixel = torch.randn(1, 2, 256, h, w)
    mem = torch.rand(1, 2, 1, 16, 257)
    with torch.no_grad():
        out_s, logits_s = shared.object_transformer(pixel, mem, event_pixel, mem)
        out_p, logits_p = per.object_transformer(pixel, mem, event_pixel, mem)
    # the image branch up to the first MRM is identical; the event-query refinement differs
    torch.testing.assert_close(logits_s[1], logits_p[1])
    assert not torch.allclose(out_s, out_p)


def test_fg_only_switch_reaches_both_summarizers():
    on, off = _meta(), _meta(("fg_only_summaries=false",))
    assert on.object_summarizer.fg_only and on.event_summarizer.fg_only
    assert not off.object_summarizer.fg_only and not off.event_summarizer.fg_only
    masks = torch.tensor([[[0.2, 1.0]]])  # (1, 1, P=2)
    fg = on.object_summarizer.pooling_masks(masks)
    both = off.object_summarizer.pooling_masks(masks)
    assert fg.shape == both.shape == (1, 1, 2, 16)
    assert fg[..., 0, :].flatten().tolist() == pytest.approx([0.2] * 16)
    assert both[..., 0, :].flatten().tolist() == pytest.approx([0.2] * 8 + [0.8] * 8)


def test_key_dim_switch():
    net = _meta(("key_dim=64",))
    assert net.key_proj.key_proj.out_channels == 64 and net.event_key_proj.e_proj.out_channels == 64
