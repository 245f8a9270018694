"""``evolve-jf`` (``python -m evolve.apps.jf``) end to end in a subprocess."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np

from evolve.data.image_io import write_mask
from evolve.eval import evaluate_dataset

REPO = Path(__file__).resolve().parents[2]


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "evolve.apps.jf", *map(str, args)], cwd=REPO, capture_output=True, text=True, timeout=120)


def test_cli_writes_both_csvs_with_the_official_columns(small_dataset, tmp_path):
    gt, pred, _ = small_dataset
    listing = tmp_path / "val.txt"
    listing.write_text("alpha\nbeta\n\n")
    proc = run_cli(gt, pred, "--sequences", listing, "--workers", "2", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    ref = evaluate_dataset(gt, pred, write_csv=False, progress=False)
    g = list(csv.reader(open(pred / "global_results.csv")))
    assert g[0] == ["J&F-Mean", "J-Mean", "J-Recall", "J-Decay", "F-Mean", "F-Recall", "F-Decay"]
    assert g[1] == [f"{v:.3f}" for v in ref.global_row().values()]
    s = list(csv.reader(open(pred / "per-sequence_results.csv")))
    assert s[0] == ["Sequence", "J-Mean", "F-Mean"]
    assert s[1:] == [[n, f"{j:.3f}", f"{f:.3f}"] for n, j, f in ref.per_sequence_rows()]
    out = proc.stdout
    assert "J&F-Mean" in out and "alpha_2" in out and "beta_1" in out
    assert f"{ref.jf_mean:.3f}" in out


def test_cli_bad_input_exits_2_with_the_file_and_the_fix(small_dataset):
    gt, pred, _ = small_dataset
    write_mask(pred / "beta" / "00002.png", np.zeros((10, 10), np.uint8))
    proc = run_cli(gt, pred, "--no-progress")
    assert proc.returncode == 2
    assert "beta/00002.png" in proc.stderr and "Fix:" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not list(pred.glob("*.csv"))


def test_cli_help():
    proc = run_cli("--help")
    assert proc.returncode == 0 and "--workers" in proc.stdout and "--sequences" in proc.stdout
