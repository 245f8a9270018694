"""Event voxel grids, exactly as EVOLVE builds them (DESIGN 2.4; Zhu et al., CVPR 2019, Eq. 2).

    V[b, y, x] = sum_i p_i * max(0, 1 - |b - t*_i|),
    t*_i = (B - 1) * (t_i - t_first) / (t_last - t_first)

with p_i in {-1, +1}, and t_first / t_last the first and last event of the chunk (not the
frame times). No value normalisation. Defined edge cases:

- empty chunk: all zeros;
- one event, or all events at one timestamp (t_last == t_first): t*_i = 0, so every event
  lands in bin 0 with weight 1.

Each event's weight is split between its two neighbouring bins and the two weights sum to 1,
so the grid of an all-ON chunk sums to the event count.
"""

from __future__ import annotations

import torch

from evolve.data.events import EventChunk

DEFAULT_NUM_BINS = 5


def events_to_voxel_grid(
    x: torch.Tensor,
    y: torch.Tensor,
    t: torch.Tensor,
    p: torch.Tensor,
    height: int,
    width: int,
    num_bins: int = DEFAULT_NUM_BINS,
) -> torch.Tensor:
    """Build a ``(num_bins, height, width)`` float32 voxel grid on the device of ``x``.

    Args:
        x: int64 (N,) pixel columns in [0, width).
        y: int64 (N,) pixel rows in [0, height).
        t: (N,) timestamps (any unit; microseconds in this project), sorted non-decreasing.
        p: (N,) polarity in {-1, +1} (any numeric dtype).
        height, width: grid size in pixels.
        num_bins: B, the number of temporal bins (EVOLVE: 5).

    Returns:
        float32 tensor (B, H, W).

    Raises:
        ValueError: mismatched lengths, ``num_bins < 1``, or coordinates outside the grid.
    """
    if num_bins < 1:
        raise ValueError(f"num_bins must be >= 1, got {num_bins}")
    n = x.shape[0]
    if not (y.shape[0] == t.shape[0] == p.shape[0] == n):
        raise ValueError("x, y, t, p must have the same length")
    device = x.device
    voxel = torch.zeros(num_bins * height * width, dtype=torch.float32, device=device)
    if n == 0:
        return voxel.view(num_bins, height, width)
    if int(x.min()) < 0 or int(y.min()) < 0 or int(x.max()) >= width or int(y.max()) >= height:
        raise ValueError(f"event coordinates outside the {width}x{height} grid")
    # Normalised time t* in [0, B-1]; differences first (keeps microsecond precision of 1e15 clocks).
    dt = (t - t[0]).to(torch.float64)  # (N,)
    span = float(dt[-1])
    if span > 0:
        t_star = dt * ((num_bins - 1) / span)
    else:
        t_star = torch.zeros_like(dt)
    lower = t_star.floor().clamp_(max=num_bins - 1)  # (N,) bin index below t*
    frac = (t_star - lower).to(torch.float32)  # (N,) distance to the lower bin, in [0, 1)
    lower = lower.long()
    pol = p.to(torch.float32)
    pix = y.long() * width + x.long()  # (N,) flat pixel index
    plane = height * width
    voxel.index_add_(0, lower * plane + pix, pol * (1.0 - frac))
    upper_ok = lower + 1 < num_bins
    voxel.index_add_(0, (lower[upper_ok] + 1) * plane + pix[upper_ok], (pol * frac)[upper_ok])
    return voxel.view(num_bins, height, width)


def chunk_to_voxel_grid(
    chunk: EventChunk,
    height: int,
    width: int,
    num_bins: int = DEFAULT_NUM_BINS,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Voxel grid (B, H, W) float32 of an :class:`EventChunk`, built on ``device`` (CPU default)."""
    x, y, t, p = chunk.to_torch(device)
    return events_to_voxel_grid(x, y, t, p, height, width, num_bins)
