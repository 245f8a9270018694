"""The real DAVIS346 recording: events between APS frames -> (5, 260, 346) voxel grids."""

import numpy as np
import pytest
import torch

from evolve.data.events import EventChunk, read_aedat4
from evolve.data.voxel import chunk_to_voxel_grid, reverse_voxel_grid


@pytest.mark.shared_data
def test_voxel_grids_between_aps_frames(davis346_recording):
    pytest.importorskip("aedat", reason="reading AEDAT4 needs the optional aedat package")
    rec = read_aedat4(davis346_recording)
    assert rec.sensor_size == (260, 346)
    ts = rec.frame_timestamps
    chunks = rec.chunks_between_frames()
    assert len(chunks) == len(ts) - 1 >= 2
    for i, c in enumerate(chunks):
        # independent count of the events in [ts[i], ts[i+1]) on the full stream
        n = int(np.count_nonzero((rec.events.t >= ts[i]) & (rec.events.t < ts[i + 1])))
        n_on, n_off = int(np.count_nonzero(c.p > 0)), int(np.count_nonzero(c.p < 0))
        assert len(c) == n == n_on + n_off > 10_000
        signed = chunk_to_voxel_grid(c, (260, 346))
        unsigned = chunk_to_voxel_grid(EventChunk(c.x, c.y, c.t, np.abs(c.p)), (260, 346))
        assert signed.shape == unsigned.shape == (5, 260, 346) and signed.dtype == torch.float32
        # each event's two bin weights sum to 1: the |p| grid sums to the event count
        assert unsigned.double().sum().item() == pytest.approx(n, rel=1e-6)
        assert unsigned.min().item() >= 0
        assert signed.double().sum().item() == pytest.approx(n_on - n_off, abs=1e-6 * n)
        abs_sum = signed.abs().double().sum().item()
        # ON and OFF events at one pixel and bin cancel: |signed| sums to less than the count
        assert n_on - n_off < abs_sum < n
        print(f"chunk {i + 1}: {n} events ({n_on} ON / {n_off} OFF), signed grid sum {signed.double().sum().item():.1f}, "
              f"|signed grid| sum {abs_sum:.1f}")
        # reversing time twice is the identity; reversal keeps the absolute sum
        assert torch.equal(reverse_voxel_grid(reverse_voxel_grid(signed)), signed)
        assert reverse_voxel_grid(signed).abs().double().sum().item() == pytest.approx(abs_sum)
