"""Mean, Recall and Decay on known sequences of values, including > 256 frames."""

import numpy as np
import pytest

from evolve.eval.statistics import decay, decay_bin_edges, statistics
from tests.eval.oracle import decay_loop


def test_five_values_by_hand():
    v = [0.9, 0.8, 0.6, 0.4, 0.2]
    s = statistics(np.array(v))
    assert s.mean == pytest.approx(2.9 / 5, abs=1e-15)
    assert s.recall == pytest.approx(3 / 5, abs=1e-15)  # 0.9, 0.8, 0.6 > 0.5
    # n = 5: edges 0,1,2,3,4; first bin = values[0:2], last bin = values[3:5]
    assert s.decay == pytest.approx((0.9 + 0.8) / 2 - (0.4 + 0.2) / 2, abs=1e-15)


def test_recall_is_strictly_greater_than_one_half():
    assert statistics(np.array([0.5, 0.5, 0.51, 0.0])).recall == 0.25


def test_bins_share_their_edge_frames():
    # n = 9: positions 1, 3, 5, 7, 9 -> edges 0, 2, 4, 6, 8; first bin 0..2, last bin 6..8
    v = np.arange(9, dtype=float)
    assert decay_bin_edges(9).tolist() == [0, 2, 4, 6, 8]
    assert decay(v) == pytest.approx(1.0 - 7.0)
    # n = 6: positions 1, 2.25, 3.5, 4.75, 6 -> rounded half up 1, 2, 4, 5, 6 -> edges 0,1,3,4,5
    assert decay_bin_edges(6).tolist() == [0, 1, 3, 4, 5]
    assert decay(np.arange(6, dtype=float)) == pytest.approx(0.5 - 4.5)


def test_constant_and_single_value_sequences():
    s = statistics(np.ones(7))
    assert (s.mean, s.recall, s.decay) == (1.0, 1.0, 0.0)
    s = statistics(np.array([0.3]))  # 3-frame sequence: one scored frame
    assert (s.mean, s.recall, s.decay) == (pytest.approx(0.3), 0.0, 0.0)


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 7, 10, 33, 80, 255, 256, 257, 300, 1000, 2023])
def test_decay_matches_the_direct_computation_for_any_length(n, rng):
    v = rng.random(n)
    assert decay(v) == pytest.approx(decay_loop(v), abs=1e-12)


def official_uint8_decay(v):
    """The official computation including its uint8 bin indices (wraps past 255)."""
    n = len(v)
    ids = (np.round(np.linspace(1, n, 5) + 1e-10) - 1).astype(np.int64) % 256
    bins = [v[ids[i] : ids[i + 1] + 1] for i in range(4)]
    return np.mean(bins[0]) - np.mean(bins[3])


def test_long_sequence_decay_is_exact_where_the_official_uint8_bins_overflow():
    n = 300  # edges 0, 75, 150, 224, 299: in uint8 the last one wraps to 299 % 256 = 43
    v = np.linspace(1.0, 0.0, n)  # linear decline from 1 to 0
    expected = np.mean(v[0:76]) - np.mean(v[224:300])
    assert decay(v) == pytest.approx(expected, abs=1e-12)
    assert decay(v) == pytest.approx(decay_loop(v), abs=1e-12)
    assert decay(v) == pytest.approx((1 - 37.5 / 299) - (1 - 261.5 / 299), abs=1e-12)  # bin centres 37.5 and 261.5
    # the official code would take values[224:44] (empty) as the last bin -> NaN
    with np.errstate(all="ignore"), pytest.warns(RuntimeWarning):
        assert np.isnan(official_uint8_decay(v))
    # n = 400: edges 0, 100, 200, 299, 399 wrap to 43 and 143: a finite but wrong Decay
    u = np.linspace(1.0, 0.0, 400)
    assert decay(u) == pytest.approx(np.mean(u[0:101]) - np.mean(u[299:400]), abs=1e-12)
    assert official_uint8_decay(u) == pytest.approx(np.mean(u[0:101]) - np.mean(u[43:144]), abs=1e-12)
    assert abs(decay(u) - official_uint8_decay(u)) > 0.4
    # below 257 values both agree
    w = np.linspace(1.0, 0.0, 200)
    assert decay(w) == pytest.approx(official_uint8_decay(w), abs=1e-12)


def test_empty_series_is_an_error():
    with pytest.raises(ValueError):
        statistics(np.array([]))
