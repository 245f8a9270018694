"""Point sampling and the losses against analytic values."""

from __future__ import annotations

import math

import pytest
import torch

from evolve.model.losses import LossComputer, LossConfig, dice_loss, point_sample, soft_cross_entropy, uncertain_point_coords


def test_point_sample_hits_pixel_centres():
    x = torch.arange(12.0).view(1, 1, 3, 4)
    ys, xs = torch.meshgrid(torch.arange(3), torch.arange(4), indexing="ij")
    coords = torch.stack([(xs.flatten() + 0.5) / 4, (ys.flatten() + 0.5) / 3], dim=-1)[None]
    torch.testing.assert_close(point_sample(x, coords)[0, 0], torch.arange(12.0))
    # half-way between two horizontal neighbours: their mean
    assert point_sample(x, torch.tensor([[[1.0 / 4, 0.5 / 3]]])).item() == pytest.approx(0.5)


def test_uncertain_points_prefer_uncertain_regions():
    torch.manual_seed(0)
    logits = torch.zeros(3, 2, 32, 32)
    logits[:, 1, :, 16:] = 10.0  # certain on the right half, a tie (maximal uncertainty) on the left
    p = 1000
    coords = uncertain_point_coords(logits, p, oversample_ratio=3.0, importance_sample_ratio=0.75)
    assert coords.shape == (3, p, 2) and float(coords.min()) >= 0 and float(coords.max()) <= 1
    important, uniform = coords[:, :750], coords[:, 750:]
    assert bool((important[..., 0] < 0.5).all())  # all importance points on the uncertain half
    frac = float((uniform[..., 0] < 0.5).float().mean())
    assert 0.4 < frac < 0.6  # the rest are uniform


def test_cross_entropy_and_dice_analytic():
    t, c, p = 3, 4, 50
    uniform_logits = torch.zeros(t, c, p)
    labels = torch.zeros(t, c, p)
    labels[:, 2] = 1
    assert soft_cross_entropy(uniform_logits, labels).item() == pytest.approx(t * math.log(c), rel=1e-6)  # summed over frames
    probs = torch.rand(t, 2, p)
    # empty labels: 1 - 1 / (|p| + 1) per frame and object, summed over frames, mean over objects
    want = sum(1 - 1 / (float(probs[i, k].sum()) + 1) for i in range(t) for k in range(2)) / 2
    assert dice_loss(probs, torch.zeros_like(probs)).item() == pytest.approx(want, rel=1e-5)
    ones = torch.ones(t, 2, p)
    assert dice_loss(ones, ones).item() == pytest.approx(0.0, abs=1e-7)


def test_loss_computer_on_perfect_and_wrong_logits():
    torch.manual_seed(0)
    t, h, w = 2, 16, 16
    gt = torch.zeros(1, t + 1, 1, h, w, dtype=torch.long)
    gt[:, 1] = 1  # frame 1 all object, frame 2 all background: no soft labels at boundaries
    onehot = torch.nn.functional.one_hot(gt[0, 1:, 0], 2).permute(0, 3, 1, 2).float()  # (T, 2, H, W)
    batch = {"cls_gt": gt}

    def outputs(logits):
        small = torch.nn.functional.avg_pool2d(logits, 4)
        return {"logits": logits[None], "sensory_logits": small[None], "q_logits": [small[None]] * 4, "num_objects": [1]}

    # uniform points; border padding so that perfect logits give zero loss up to the image edge
    cfg = LossConfig(num_points=4096, importance_sample_ratio=0.0, point_padding="border")
    good = LossComputer(cfg)(outputs(40 * (onehot - 0.5)), batch)
    bad = LossComputer(cfg)(outputs(40 * (0.5 - onehot)), batch)
    assert float(good["loss_ce"]) < 1e-6 and float(good["loss_dice"]) < 1e-3
    assert float(bad["loss_ce"]) == pytest.approx(2 * 40.0, rel=1e-3)  # margin 40 per frame, 2 frames
    assert float(bad["loss_dice"]) > 1.5  # ~1 per frame, summed over 2 frames
    total = bad["loss_ce"] + bad["loss_dice"] + 0.01 * (bad["aux_sensory_ce"] + bad["aux_sensory_dice"])
    total = total + 0.01 * sum(bad[f"aux_query_ce_{i}"] + bad[f"aux_query_dice_{i}"] for i in range(4))
    assert float(bad["total_loss"]) == pytest.approx(float(total), rel=1e-6)
    # labels are validated where clips are made (the loss reads nothing back to the host)
    from evolve.data.train_sampler import check_clip_labels
    from evolve.utils.errors import InputError

    check_clip_labels(gt[0], 1, "seq")
    with pytest.raises(InputError, match=r"seq: clip labels run 1\.\.2 but the clip has 1 object"):
        check_clip_labels(gt[0] + 1, 1, "seq")


def test_point_sample_zero_padding_is_cuties_border_is_ours():
    # A constant image of ones, sampled at the left edge (x = 0, y = 0.5): with align_corners=False
    # the point lies half a pixel outside the first pixel centre, so zero padding blends 1 with 0.
    x = torch.ones(1, 1, 4, 4)
    coords = torch.tensor([[[0.0, 0.5], [0.5, 0.5], [1.0, 1.0]]])
    assert point_sample(x, coords, "zeros").flatten().tolist() == pytest.approx([0.5, 1.0, 0.25])
    assert point_sample(x, coords, "border").flatten().tolist() == pytest.approx([1.0, 1.0, 1.0])
    assert point_sample(x, coords).flatten().tolist() == pytest.approx([0.5, 1.0, 0.25])  # default: Cutie
    with pytest.raises(ValueError, match="point_padding"):
        LossConfig(point_padding="reflect")
