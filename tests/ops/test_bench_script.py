"""scripts/bench_deform.py runs on CPU and writes its JSON/Markdown report (smoke test; the
timings themselves are never asserted -- speed targets live in the benchmark's report)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]


def load_script():
    spec = importlib.util.spec_from_file_location("bench_deform", ROOT / "scripts" / "bench_deform.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_cpu_benchmark_writes_report(tmp_path, monkeypatch):
    monkeypatch.delitem(sys.modules, "bench_deform", raising=False)
    bench = load_script()
    threads = torch.get_num_threads()
    rc = bench.main(["--device", "cpu", "--preset", "tiny", "--warmup", "0", "--repeats", "1",
                     "--out-dir", str(tmp_path)])
    assert rc == 0
    assert torch.get_num_threads() == threads  # the script restores torch's thread count
    report = json.loads((tmp_path / "deform_cpu.json").read_text())
    assert report["meta"]["device"].startswith("CPU ")
    rows = {r["backend"]: r for r in report["rows"]}
    assert set(rows) == {"reference", "torchvision"}
    for row in rows.values():
        assert row["fwd_bwd_ms"] > 0
        # fp32 against the float64 reference: output and every gradient
        assert set(row["max_rel_err"]) == {"output", "input", "offset", "weight"}
        assert max(row["max_rel_err"].values()) < 1e-5
    md = (tmp_path / "deform_cpu.md").read_text()
    assert "not a GPU result" in md and "| N=1 C=8 6x6 | fp32 | reference |" in md
