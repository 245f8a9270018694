"""scripts/bench_loader.py builds the loader train.py builds and reports what it delivered (the
timings are never asserted: speed lives in benchmarks/results/)."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.training.conftest import REPO


def test_loader_benchmark_reports_the_training_clip_shapes(tiny_data_root, tmp_path):
    out = tmp_path / "loader"
    proc = subprocess.run(
        [sys.executable, "scripts/bench_loader.py", "--workers", "0", "1", "--batches", "2", "--warmup", "1",
         "--out", str(out), "data=lle_davis", f"data_root={tiny_data_root}", "main_training.seq_length=3",
         "main_training.crop_size=64", "main_training.batch_size=2"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    record = json.loads(out.with_suffix(".json").read_text())
    assert [r["num_workers"] for r in record["rows"]] == [0, 1]
    for row in record["rows"]:
        assert row["batch_size"] == 2 and row["batches"] == 2
        assert row["clips_per_second"] > 0 and row["median_s_per_batch"] <= row["max_s_per_batch"]
        assert row["shapes"]["rgb"] == [2, 3, 3, 64, 64]
        assert row["shapes"]["voxel"] == [2, 3, 5, 64, 64]
        assert row["shapes"]["cls_gt"] == [2, 3, 1, 64, 64]
    md = out.with_suffix(".md").read_text()
    assert "| 0 |" in md and "| 1 |" in md and "3 frames, 64x64 crops" in md
