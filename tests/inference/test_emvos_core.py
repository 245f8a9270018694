"""The EMVOS streaming core (first frame global, previous frame local), the core registry and
the padding (issue 14 point 2)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from evolve.inference import InferenceConfig, InferenceCore
from evolve.inference.cores import StreamingCore, make_inference_core
from evolve.inference.emvos_core import EMVOSInferenceCore
from evolve.inference.padding import reflect_pad_to_multiple
from evolve.model.emvos import EMVOS, EMVOSTrainWrapper, aggregate_objects
from evolve.model.emvos.network import pool_mask
from evolve.model.registry import load_model_config
from evolve.utils.errors import InputError
from tests.model.helpers import make_clip


@pytest.fixture(scope="module")
def emvos_net() -> EMVOS:
    torch.manual_seed(0)
    return EMVOS(load_model_config("emvos_small")).eval()


def test_registry_picks_the_core_of_the_arch(emvos_net, small_net):
    core = make_inference_core(emvos_net, InferenceConfig(), "cpu")
    assert isinstance(core, EMVOSInferenceCore) and isinstance(core, StreamingCore)
    assert isinstance(make_inference_core(small_net, None, "cpu"), InferenceCore)

    class Other(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.config = type("C", (), {"arch": "nonesuch"})()

    with pytest.raises(InputError, match="no streaming inference core for arch 'nonesuch'"):
        make_inference_core(Other())


def test_reflect_padding():
    x = torch.arange(30.0).view(1, 1, 5, 6)
    padded, pads = reflect_pad_to_multiple(x, 8)
    assert padded.shape == (1, 1, 8, 8) and pads == (1, 1, 1, 2)
    assert padded[0, 0, 1].tolist() == [1.0, 0, 1, 2, 3, 4, 5, 4]  # reflected, not zero
    assert padded[0, 0, 0].tolist() == [7.0, 6, 7, 8, 9, 10, 11, 10]
    torch.testing.assert_close(padded[..., 1:6, 1:7], x)
    tiny, pads = reflect_pad_to_multiple(torch.ones(1, 1, 2, 2), 16)  # too short to reflect: replicate
    assert tiny.shape == (1, 1, 16, 16) and float(tiny.min()) == 1.0


def test_second_frame_agrees_with_the_training_unroll(emvos_net):
    clip = make_clip(batch=1, frames=2, num_objects=2, seed=4)
    with torch.no_grad():
        out = EMVOSTrainWrapper(emvos_net).eval()(clip)
    fg = torch.softmax(out["logits"][:, 0], dim=2)[:, :, 1]  # (1, N, H, W)
    want = aggregate_objects(fg)[0]
    core = EMVOSInferenceCore(emvos_net, InferenceConfig(), "cpu")
    first = core.step(clip["rgb"][0, 0], clip["voxel"][0, 0], clip["cls_gt"][0, 0, 0])
    assert core.object_ids == [1, 2]
    torch.testing.assert_close(first[1:], F.one_hot(clip["cls_gt"][0, 0, 0], 3).permute(2, 0, 1)[1:].float())
    # probabilities in [0, 1]; two paths with different batching sum in another order: with 2
    # intra-op threads they differ by up to 1.3e-5 (measured), so 1e-4 still catches any real change
    torch.testing.assert_close(core.step(clip["rgb"][0, 1], clip["voxel"][0, 1]), want, rtol=0, atol=1e-4)


def test_local_reference_is_the_previous_frame_and_global_the_first(emvos_net):
    g = torch.Generator().manual_seed(5)
    rgb, vox = torch.rand(3, 3, 64, 64, generator=g), torch.randn(3, 5, 64, 64, generator=g)
    ids = torch.zeros(64, 64, dtype=torch.long)
    ids[10:30, 12:40] = 4
    core = EMVOSInferenceCore(emvos_net, InferenceConfig(), "cpu")
    outs = [core.step(rgb[t], vox[t], ids if t == 0 else None) for t in range(3)]
    net = emvos_net
    with torch.no_grad():
        f0, f1, f2 = (net.encode_frame(rgb[t : t + 1], vox[t : t + 1]) for t in range(3))
        glob = net.reference(f0, (ids == 4).float()[None, None])
        local = net.reference(f1, outs[1][1:][None])  # frame 1 with its aggregated prediction
        fg = torch.softmax(net.segment(f2, glob, local), dim=2)[:, :, 1]
    torch.testing.assert_close(outs[2], aggregate_objects(fg)[0], rtol=0, atol=1e-5)
    torch.testing.assert_close(core.local.fg, pool_mask(outs[2][1:][None]).flatten(2))


def test_padding_new_objects_and_end(emvos_net):
    g = torch.Generator().manual_seed(6)
    h, w = 50, 70
    rgb, vox = torch.rand(4, 3, h, w, generator=g), torch.randn(4, 5, h, w, generator=g)
    first = torch.zeros(h, w, dtype=torch.long)
    first[5:20, 5:30] = 2
    late = torch.zeros(h, w, dtype=torch.long)
    late[30:45, 40:65] = 9
    core = EMVOSInferenceCore(emvos_net, InferenceConfig(), "cpu")
    outs = [core.step(rgb[0], vox[0], first), core.step(rgb[1], vox[1]), core.step(rgb[2], vox[2], late, objects=[9]),
            core.step(rgb[3], vox[3], end=True)]
    assert [o.shape for o in outs] == [(2, h, w), (2, h, w), (3, h, w), (3, h, w)]
    for o in outs:
        torch.testing.assert_close(o.sum(0), torch.ones(h, w), rtol=0, atol=1e-5)
    assert core.object_ids == [2, 9] and len(core.groups) == 2  # the late object has its own global reference
    assert core.prob_to_mask(outs[2])[35, 50].item() == 9 and outs[2][2, 0, 0].item() == 0  # given pixels belong to it
    with pytest.raises(InputError, match="voxel grid"):
        core.step(rgb[0], None)
    with pytest.raises(InputError, match="differs from the video"):
        core.step(torch.rand(3, 32, 32), torch.randn(5, 32, 32))
    core.reset()
    assert core.step(rgb[0], vox[0]).shape == (1, h, w)  # no object yet: all background
