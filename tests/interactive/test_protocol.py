"""The protocol runner with a stand-in session whose predictions are known: robot rounds on the
worst frame, per-round scores, the timeout rule, and the output files."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from evolve.data.scribble_json import read_scribble_json
from evolve.eval.interactive.protocol import ProtocolConfig, run_sample, rounds_csv_text, score_prediction, summarize, upsample_ids, write_outputs


def _gt():
    gt = np.zeros((4, 40, 60), np.uint8)
    gt[:, 10:30, 10:50] = 1
    return gt


class ScriptedSession:
    """Round k returns ``predictions[k]`` (at half resolution, as a session's working size) and
    takes ``seconds`` seconds."""

    def __init__(self, predictions, seconds=1.0):
        self.predictions = predictions
        self.seconds = seconds
        self.calls = []

    def run_round(self, frame, strokes):
        self.calls.append((frame, list(strokes)))
        self._current = self.predictions[min(len(self.calls), len(self.predictions)) - 1]
        return SimpleNamespace(seconds=self.seconds)

    def masks(self):
        return self._current[:, ::2, ::2].copy()


def test_rounds_follow_the_robot_and_scores_rise(tmp_path):
    gt = _gt()
    r1 = gt.copy()
    r1[2, 10:30, 10:40] = 0  # frame 2 mostly missed after round 1
    r1[3, 10:30, 10:20] = 0
    session = ScriptedSession([r1, gt.copy()])
    cfg = ProtocolConfig(max_interactions=4)
    res = run_sample(session, gt, [1], None, cfg, "seq", "robot", tmp_path / "rounds")
    # round 1: the robot's first round on an empty prediction: the frame with the most object
    # pixels (all equal here -> the earliest, frame 0), positive strokes inside the object
    assert session.calls[0][0] == 0 and all(s.object_id == 1 for s in session.calls[0][1])
    # round 2: the worst frame of round 1's prediction is frame 2
    assert session.calls[1][0] == 2
    xy = np.asarray(session.calls[1][1][0].points) * [60, 40]
    assert (xy[:, 0] >= 10).all() and (xy[:, 0] < 40).all()
    # round 3: perfect prediction -> no strokes, no session call, no time
    assert len(session.calls) == 2 and res.rounds[2].strokes == 0 and res.rounds[2].seconds == 0.0
    jf = [np.mean(r.jf) for r in res.rounds]
    assert jf[0] < jf[1] == pytest.approx(1.0) and jf[3] == pytest.approx(1.0)
    j, f = score_prediction(upsample_ids(r1[:, ::2, ::2], (40, 60)), gt, [1])
    assert res.rounds[0].j[0] == pytest.approx(j.mean()) and res.rounds[0].f[0] == pytest.approx(f.mean())
    saved = read_scribble_json(tmp_path / "rounds" / "round_02.json")
    assert saved.annotated_frame == 2 and len(saved.frames) == 4 and (tmp_path / "rounds" / "round_02_mask.png").is_file()


def test_given_first_round_and_timeout(tmp_path):
    gt = _gt()
    session = ScriptedSession([np.zeros_like(gt)], seconds=100.0)
    first = (3, [SimpleNamespace(points=((0.5, 0.5),), object_id=1)])
    cfg = ProtocolConfig(max_interactions=4, max_time_per_object=150.0, stop_at_timeout=True)
    res = run_sample(session, gt, [1], first, cfg)
    assert session.calls[0][0] == 3
    assert [r.ran for r in res.rounds] == [True, True, False, False]  # 200 s used after round 2 > 150 s budget
    assert [r.seconds for r in res.rounds] == [100.0, 100.0, 0.0, 0.0]
    curve = summarize([res], cfg)
    assert curve.time.tolist() == [0, 100, 200, 200, 200, 200]
    text = rounds_csv_text([res])
    assert text.splitlines()[0].startswith("sequence,scribble_set,object_id,round") and len(text.splitlines()) == 5
    summary = write_outputs(tmp_path, [res], cfg, {"method": "scripted"})
    assert json.loads((tmp_path / "summary.json").read_text())["auc"] == pytest.approx(summary["auc"])
    assert (tmp_path / "jf_vs_round.png").stat().st_size > 0 and (tmp_path / "jf_vs_time.png").stat().st_size > 0
    assert summary["per_round"]["J_AND_F"] == [0.0, 0.0, 0.0, 0.0]


def test_score_folder_scores_every_frame(tmp_path):
    from evolve.data.image_io import write_mask
    from evolve.eval.interactive.protocol import score_folder

    gt = _gt()[:2]
    for t in range(2):
        write_mask(tmp_path / "gt" / "s" / f"{t:05d}.png", gt[t])
    write_mask(tmp_path / "pred" / "s" / "00000.png", gt[0])  # perfect: J = F = 1
    write_mask(tmp_path / "pred" / "s" / "00001.png", np.zeros_like(gt[1]))  # empty: J = F = 0
    assert score_folder(tmp_path / "gt", tmp_path / "pred", ["s"]) == {"s": [0.5]}
