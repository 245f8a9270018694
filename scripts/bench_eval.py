"""Benchmark: J&F evaluation time of the DAVIS 2016 val sequences (evolve.eval).

The prediction is the ground truth shifted 10 px right (written once as palette PNGs to a
temporary folder). Times ``evaluate_dataset`` end to end (PNG reading, J and F, CSV writing)
with 1 and 2 worker processes, and, in memory, the per-frame scoring alone with the
bounding-box crop used by evolve.eval against the same computation on the full frame (the
way the official code dilates), so the crop's speed-up is measured side by side.

    python scripts/bench_eval.py                      # writes benchmarks/results/eval_time.{json,md}
    python scripts/bench_eval.py --workers 1 2 4 --repeats 5

Results name the machine; they are not targets checked by tests.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics as stats
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]

from evolve.data.image_io import read_mask, write_mask
from evolve.eval import evaluate_dataset
from evolve.eval.metrics import _f_from_boundaries, boundary_map, disk_footprint, object_frame_scores
from evolve.utils.atomic import atomic_open
from evolve.utils.machine import machine_info


def machine() -> dict:
    return {
        **machine_info(),
        "numpy": np.__version__,
        "opencv": cv2.__version__,
        "note": "shared development machine (other jobs may run at the same time); CPU only",
    }


def cpu_seconds() -> float:
    """User + system CPU time of this process and its finished children (worker processes)."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        u = resource.getrusage(who)
        total += u.ru_utime + u.ru_stime
    return total


def shifted(m: np.ndarray, px: int = 10) -> np.ndarray:
    out = np.zeros_like(m)
    out[:, px:] = m[:, :-px]
    return out


def full_frame_scores(gt: np.ndarray, pred: np.ndarray, radius: int) -> tuple[float, float]:
    """J and F without the bounding-box crop (boundary maps and dilation on the whole frame)."""
    union = np.count_nonzero(gt | pred)
    j = 1.0 if union == 0 else np.count_nonzero(gt & pred) / union
    return j, _f_from_boundaries(boundary_map(gt), boundary_map(pred), disk_footprint(radius))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "davis2016")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "eval_time")
    args = ap.parse_args()

    gt_dir = args.data / "Annotations" / "480p"
    names = [s.strip() for s in (args.data / "ImageSets" / "480p" / "val.txt").read_text().splitlines() if s.strip()]
    command = "python scripts/bench_eval.py " + " ".join(sys.argv[1:])
    with tempfile.TemporaryDirectory(prefix="bench_eval_") as tmp:
        pred_dir = Path(tmp)
        gts = {}
        for seq in names:
            frames = sorted((gt_dir / seq).glob("*.png"))
            gts[seq] = [read_mask(p)[0] for p in frames]
            for p, m in zip(frames, gts[seq]):
                write_mask(pred_dir / seq / p.name, shifted(m))
        n_frames = sum(len(v) for v in gts.values())
        n_scored = sum(len(v) - 2 for v in gts.values())

        runs = {}
        jf = None
        evaluate_dataset(gt_dir, pred_dir, sequences=names, workers=1, progress=False)  # warm-up (file cache)
        for w in args.workers:
            times, cpus = [], []
            for _ in range(args.repeats):
                c0, t0 = cpu_seconds(), time.perf_counter()
                r = evaluate_dataset(gt_dir, pred_dir, sequences=names, workers=w, progress=False)
                times.append(time.perf_counter() - t0)
                cpus.append(cpu_seconds() - c0)
            jf = r.jf_mean
            runs[str(w)] = {
                "seconds_min": round(min(times), 4),
                "seconds_median": round(stats.median(times), 4),
                "all": [round(t, 4) for t in times],
                "cpu_seconds_median": round(stats.median(cpus), 4),
            }
            print(f"workers={w}: min {min(times):.3f} s, median {stats.median(times):.3f} s, "
                  f"CPU {stats.median(cpus):.3f} s  (J&F {r.jf_mean:.4f})")

        # in-memory scoring only: crop vs full frame, same numbers
        pairs = [(g == 1, shifted(g) == 1) for seq in names for g in gts[seq][1:-1]]
        timing = {}
        for label, fn in (("bbox_crop", object_frame_scores), ("full_frame", full_frame_scores)):
            best = float("inf")
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                out = [fn(g, p, 8) for g, p in pairs]
                best = min(best, time.perf_counter() - t0)
            timing[label] = {"ms_per_object_frame": round(1000 * best / len(pairs), 4), "values": out}
        assert timing["bbox_crop"]["values"] == timing["full_frame"]["values"], "crop changed a score"
        for t in timing.values():
            del t["values"]
        speedup = timing["full_frame"]["ms_per_object_frame"] / timing["bbox_crop"]["ms_per_object_frame"]
        print(f"scoring only: crop {timing['bbox_crop']['ms_per_object_frame']:.3f} ms, full frame "
              f"{timing['full_frame']['ms_per_object_frame']:.3f} ms per object-frame ({speedup:.1f}x)")

    result = {
        "benchmark": "J&F evaluation (evolve.eval.evaluate_dataset), DAVIS 2016 val at 480p, prediction = GT shifted 10 px right",
        "command": command,
        "machine": machine(),
        "sequences": names,
        "frames": n_frames,
        "scored_frames": n_scored,
        "jf_mean": round(jf, 6),
        "end_to_end_by_workers": runs,
        "scoring_only": {**timing, "full_over_crop": round(speedup, 2)},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(args.out.with_suffix(".json"), "w") as f:
        json.dump(result, f, indent=2)
        f.write("\n")
    m = result["machine"]
    lines = [
        "# J&F evaluation time (evolve.eval)",
        "",
        f"Command: `{command}`  ",
        f"Machine: {m['cpu']}, {m['logical_cpus']} logical CPUs, {m['platform']}, Python {m['python']}, "
        f"numpy {m['numpy']}, OpenCV {m['opencv']}; load average at start {m['load_average_at_start']} ({m['note']}).",
        "",
        f"Data: {len(names)} DAVIS 2016 val sequences ({', '.join(names)}), {n_frames} frames, {n_scored} scored "
        f"(first and last excluded), 854x480, 1 object each. Prediction = GT shifted 10 px right (J&F {jf:.4f}).",
        "",
        "| workers | wall time, min of {} (s) | wall, median (s) | CPU time, all processes, median (s) |".format(args.repeats),
        "|---|---|---|---|",
    ]
    lines += [f"| {w} | {v['seconds_min']:.3f} | {v['seconds_median']:.3f} | {v['cpu_seconds_median']:.3f} |" for w, v in runs.items()]
    lines += [
        "",
        "End to end = listing, reading GT and prediction PNGs, J and F, statistics, writing both CSVs "
        "(2+ workers include starting the spawn process pool). CPU time = user + system time of "
        "this process and its worker processes; it does not depend on how busy the machine is.",
        "",
        "| per-frame scoring only (in memory) | ms per object-frame |",
        "|---|---|",
        f"| bounding-box crop (evolve.eval) | {timing['bbox_crop']['ms_per_object_frame']:.3f} |",
        f"| full frame (as the official code dilates) | {timing['full_frame']['ms_per_object_frame']:.3f} |",
        "",
        f"Same scores in both (checked); the crop is {speedup:.1f}x faster.",
        "",
    ]
    with atomic_open(args.out.with_suffix(".md"), "w") as f:
        f.write("\n".join(lines))
    print(f"wrote {args.out.with_suffix('.json')} and {args.out.with_suffix('.md')}")


if __name__ == "__main__":
    main()
