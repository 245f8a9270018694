import numpy as np
import pytest
import torch

from evolve.data.events import EventChunk
from evolve.data.voxel import chunk_to_voxel_grid, events_to_voxel_grid, read_voxel_file, reverse_voxel_grid
from evolve.utils.errors import InputError


def _loop_voxel(x, y, t, p, h, w, b):
    """Direct transcription of DESIGN 2.4's formula, one event at a time (the test oracle)."""
    v = np.zeros((b, h, w), np.float64)
    if len(t) == 0:
        return v
    span = t[-1] - t[0]
    for xi, yi, ti, pi in zip(x, y, t, p):
        ts = (b - 1) * (ti - t[0]) / span if span > 0 else 0.0
        for k in range(b):
            v[k, yi, xi] += pi * max(0.0, 1.0 - abs(k - ts))
    return v


def test_matches_formula_on_random_events(rng):
    n, h, w, b = 500, 7, 9, 5
    x = rng.integers(0, w, n)
    y = rng.integers(0, h, n)
    t = np.sort(rng.integers(1_000_000, 1_040_000, n))
    p = rng.choice([-1, 1], n)
    got = events_to_voxel_grid(*(torch.from_numpy(a) for a in (x, y, t, p)), h, w, b)
    assert got.shape == (b, h, w) and got.dtype == torch.float32
    np.testing.assert_allclose(got.numpy(), _loop_voxel(x, y, t, p, h, w, b), atol=1e-5)


def test_all_on_events_sum_to_count(rng):
    n = 1000
    t = np.sort(rng.uniform(0, 4e4, n))
    chunk = EventChunk(rng.integers(0, 20, n), rng.integers(0, 10, n), t, np.ones(n, np.int8))
    v = chunk_to_voxel_grid(chunk, (10, 20))
    assert v.sum().item() == pytest.approx(n, rel=1e-6)
    assert v.min().item() >= 0


def test_first_and_last_event_land_in_end_bins():
    x = torch.tensor([1, 2])
    y = torch.tensor([0, 0])
    t = torch.tensor([100, 200])
    p = torch.tensor([1, -1])
    v = events_to_voxel_grid(x, y, t, p, 1, 3, 5)
    assert v[0, 0, 1] == 1 and v[4, 0, 2] == -1
    assert v.abs().sum() == 2


def test_empty_chunk_is_zero():
    v = chunk_to_voxel_grid(EventChunk.empty(), (4, 6))
    assert v.shape == (5, 4, 6) and torch.count_nonzero(v) == 0


def test_single_timestamp_goes_to_bin_zero():
    x = torch.tensor([0, 1, 1])
    y = torch.tensor([0, 0, 0])
    t = torch.tensor([7, 7, 7])
    p = torch.tensor([1, 1, -1])
    v = events_to_voxel_grid(x, y, t, p, 1, 2, 5)
    assert v[0].tolist() == [[1.0, 0.0]]
    assert torch.count_nonzero(v[1:]) == 0


def test_midpoint_event_splits_between_bins():
    # t* = 4 * 50/100 = 2 exactly -> bin 2; t* = 4 * 30/100 = 1.2 -> 0.8 in bin 1, 0.2 in bin 2
    x = torch.tensor([0, 1, 0, 0])
    y = torch.zeros(4, dtype=torch.long)
    t = torch.tensor([0.0, 30.0, 50.0, 100.0])
    p = torch.tensor([1, 1, 1, 1])
    v = events_to_voxel_grid(x, y, t, p, 1, 2, 5)
    assert v[1, 0, 1].item() == pytest.approx(0.8)
    assert v[2, 0, 1].item() == pytest.approx(0.2)
    assert v[2, 0, 0].item() == pytest.approx(1.0)


def test_out_of_grid_coordinates_raise():
    with pytest.raises(ValueError, match="outside"):
        events_to_voxel_grid(torch.tensor([5]), torch.tensor([0]), torch.tensor([0]), torch.tensor([1]), 2, 5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.cuda
def test_cuda_matches_cpu(rng):
    n = 20000
    chunk = EventChunk(rng.integers(0, 64, n), rng.integers(0, 48, n), np.sort(rng.integers(0, 40000, n)),
                       rng.choice([-1, 1], n).astype(np.int8))
    cpu = chunk_to_voxel_grid(chunk, (48, 64))
    gpu = chunk_to_voxel_grid(chunk, (48, 64), device="cuda").cpu()
    torch.testing.assert_close(gpu, cpu, atol=1e-4, rtol=1e-5)


def test_reverse_voxel_grid_equals_grid_of_time_reversed_events(rng):
    # Oracle: play the chunk backwards (t -> t_last + t_first - t, order reversed, p -> -p) and
    # build its grid with the formula loop; it must equal -flip_bins(V) (DESIGN 2.4, 2.6).
    n, h, w, b = 400, 6, 8, 5
    x, y = rng.integers(0, w, n), rng.integers(0, h, n)
    t = np.sort(rng.integers(5_000, 45_000, n))
    p = rng.choice([-1, 1], n)
    fwd = events_to_voxel_grid(*(torch.from_numpy(a) for a in (x, y, t, p)), h, w, b)
    t_rev = (t[-1] + t[0] - t)[::-1]
    oracle = _loop_voxel(x[::-1], y[::-1], t_rev, -p[::-1], h, w, b)
    np.testing.assert_allclose(reverse_voxel_grid(fwd).numpy(), oracle, atol=1e-5)
    assert reverse_voxel_grid(fwd)[0, 0, 0] == -fwd[b - 1, 0, 0]


def test_camera_clock_offsets_keep_precision(rng):
    # DAVIS346 clocks are ~1.6e15 us; t* must come from differences, not from the raw values.
    n, h, w = 300, 4, 5
    x, y, p = rng.integers(0, w, n), rng.integers(0, h, n), rng.choice([-1, 1], n)
    t = np.sort(rng.integers(0, 40_000, n))
    a = events_to_voxel_grid(*(torch.from_numpy(v) for v in (x, y, t, p)), h, w)
    b = events_to_voxel_grid(*(torch.from_numpy(v) for v in (x, y, t + 1_633_953_690_975_950, p)), h, w)
    torch.testing.assert_close(a, b, rtol=0, atol=1e-6)
    np.testing.assert_allclose(a.numpy(), _loop_voxel(x, y, t, p, h, w, 5), atol=1e-5)


def test_read_voxel_file_checks_shape_dtype_and_values(tmp_path):
    good = tmp_path / "00001.npy"
    np.save(good, np.ones((5, 3, 4), np.float32))
    assert read_voxel_file(good, 5, (3, 4)).shape == (5, 3, 4)
    for name, arr, msg in [
        ("shape.npy", np.ones((5, 4, 3), np.float32), "shape"),
        ("dtype.npy", np.ones((5, 3, 4), np.float64), "dtype"),
        ("nan.npy", np.full((5, 3, 4), np.nan, np.float32), "NaN"),
    ]:
        np.save(tmp_path / name, arr)
        with pytest.raises(InputError, match=msg) as e:
            read_voxel_file(tmp_path / name, 5, (3, 4))
        assert e.value.path == str(tmp_path / name)
    (tmp_path / "cut.npy").write_bytes(good.read_bytes()[:100])
    with pytest.raises(InputError, match="cannot read"):
        read_voxel_file(tmp_path / "cut.npy", 5, (3, 4))
