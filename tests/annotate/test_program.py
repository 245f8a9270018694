"""The evolve-annotate command: refusals with exit code 2, and a real server on 127.0.0.1 that prints its
address, answers, and stops on SIGINT with exit code 0."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request

from tests.annotate.conftest import REPO, SEQ


def _env() -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(REPO)}


def test_refusals_exit_2(tmp_path):
    from evolve.apps.annotate.program import main

    assert main(["--data", str(tmp_path / "missing")]) == 2
    assert main(["--data", str(tmp_path), "--size", "0"]) == 2
    (tmp_path / "f.txt").write_text("x")
    assert main(["--data", str(tmp_path / "f.txt")]) == 2


def test_serves_on_loopback_and_prints_the_address(demo_root, tmp_path):
    p = subprocess.Popen([sys.executable, "-m", "evolve.apps.annotate", "--data", str(demo_root), "--port", "0", "--size", "-1",
                          "--out", str(tmp_path / "out")], cwd=REPO, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines = []
        t0 = time.time()
        url = None
        while time.time() - t0 < 120 and url is None:
            line = p.stdout.readline()
            if not line:
                break
            lines.append(line)
            m = re.search(r"open (http://127\.0\.0\.1:\d+/)", line)
            url = m.group(1) if m else None
        assert url is not None, "".join(lines)
        text = "".join(lines)
        assert "no weights given" in text and str(tmp_path / "out") in text
        state = json.loads(urllib.request.urlopen(url + "api/state", timeout=30).read())
        assert state["workspace"]["sequences"] == [SEQ] and not state["networks"]["ok"]
        assert b"evolve-annotate" in urllib.request.urlopen(url, timeout=30).read()
    finally:
        p.send_signal(signal.SIGINT)
        code = p.wait(60)
    assert code == 0
