"""AUC and J&F@60s of the DAVIS interactive summary, against hand-computed values and GLTM's published summary."""

from __future__ import annotations

import numpy as np
import pytest

from evolve.eval.interactive.curve import interactive_curve


def test_made_up_curve_by_hand():
    # rounds take 10, 20, 30 s (cumulative 10, 30, 60) and reach J&F 0.5, 0.7, 0.8; timeout 100 s.
    c = interactive_curve([10, 20, 30], [0.5, 0.7, 0.8], max_time=100)
    assert c.time.tolist() == [0, 10, 30, 60, 100]
    assert c.metric.tolist() == [0, 0.5, 0.7, 0.8, 0.8]
    # trapezoids: 10*0.25 + 20*0.6 + 30*0.75 + 40*0.8 = 2.5 + 12 + 22.5 + 32 = 69 -> / 100
    assert c.auc == pytest.approx(0.69)
    assert c.at_threshold == pytest.approx(0.8)
    assert interactive_curve([10, 20, 30], [0.5, 0.7, 0.8], 100, threshold=20).at_threshold == pytest.approx(0.6)
    # a run slower than the timeout: the curve ends at its own last time
    slow = interactive_curve([50, 100], [0.4, 0.6], max_time=120)
    assert slow.time.tolist() == [0, 50, 150, 150]
    # 50*0.2 + 100*0.5 = 60 -> / 150; at 60 s: 0.4 + 0.2 * 10/100
    assert slow.auc == pytest.approx(0.4) and slow.at_threshold == pytest.approx(0.42)
    d = c.to_dict()
    assert d["metric_at_threshold"] == {"threshold": 60.0, "J_AND_F": pytest.approx(0.8)} and d["per_round"]["J_AND_F"] == [0.5, 0.7, 0.8]


def test_gltm_published_summary_is_reproduced():
    # GLTM/ATNet's released DAVIS 2017 val summary (J_AND_F): AUC 0.8150432614019845, J&F@60s 0.8271279419489322
    time = [0.0, 9.487896331151326, 16.278953917821248, 21.859388258722092, 26.12112567424774, 29.627880615658228,
            32.95456397533417, 35.73726238409678, 38.56137614780002, 488.0]
    metric = [0.0, 0.690892643367614, 0.7512954328742666, 0.7875513696076725, 0.8018014877265979, 0.809771518288365,
              0.8169255790804818, 0.822880847995248, 0.8271279419489322, 0.8271279419489322]
    c = interactive_curve(np.diff(time[:-1]), metric[1:-1], max_time=488.0)
    assert c.time == pytest.approx(time) and c.metric == pytest.approx(metric)
    assert c.auc == pytest.approx(0.8150432614019845, abs=1e-12)
    assert c.at_threshold == pytest.approx(0.8271279419489322, abs=1e-12)


def test_bad_curves_are_refused():
    with pytest.raises(ValueError):
        interactive_curve([1, 2], [0.5], 10)
    with pytest.raises(ValueError):
        interactive_curve([-1], [0.5], 10)
    with pytest.raises(ValueError):
        interactive_curve([], [], 10)
