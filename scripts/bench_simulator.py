"""Throughput of the event simulator (frames/s = frame intervals simulated per second).

    python scripts/bench_simulator.py [--contrast-threshold 0.5] [--intervals 10] [--threads 1 2]
        [--out benchmarks/results/simulator_throughput]

Input: low-light versions (default recipe) of consecutive real DAVIS 2016 frames at 854x480
(../shared/data/davis2016/.../blackswan) when present, else a synthetic moving texture. Measures ``EventSimulator.step`` (events with timestamps, what the converter uses) for
several sub-step counts and interpolation modes, on the CPU with 1 and 2 torch threads, at
854x480 and at small training sizes; the GPU when one is visible. Writes a JSON and a Markdown
table naming the machine and the command. Numbers from a shared machine are noisy: the load
average at the start and end is recorded.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]

from evolve.data.image_io import list_images, read_frame
from evolve.synthesis.config import LowLightConfig, SimulatorConfig
from evolve.synthesis.lowlight import LowLightSynthesizer
from evolve.synthesis.simulator import EventSimulator, rgb_to_luma
from evolve.utils.machine import cpu_model


def load_frames(n: int) -> tuple[list[np.ndarray], list[np.ndarray], str]:
    """n + 1 low-light lumas (H, W) float32 and their normal-light lumas, and where they came from."""
    data = REPO.parent / "shared" / "data" / "davis2016" / "JPEGImages" / "480p"
    lows, normals = [], []
    if data.is_dir():
        seq = "blackswan"
        synth = LowLightSynthesizer(LowLightConfig(), 0, seq)
        for i, p in enumerate(list_images(data / seq)[: n + 1]):
            rgb = read_frame(p)
            lows.append(rgb_to_luma(synth.frame(rgb, i)))
            normals.append(rgb_to_luma(rgb))
        return lows, normals, f"DAVIS 2016 blackswan frames 0-{n} (854x480), default low-light recipe (seed 0)"
    rng = np.random.default_rng(0)
    tex = rng.random((600, 1000)).astype(np.float32)
    for i in range(n + 1):
        crop = tex[10 + i : 490 + i, 20 + 3 * i : 874 + 3 * i]
        normals.append(crop)
        lows.append(np.clip(0.6 * crop**3 + rng.normal(0, 0.01, crop.shape), 0, 1).astype(np.float32))
    return lows, normals, "synthetic moving texture (854x480)"


def time_steps(cfg: SimulatorConfig, lows, normals, device: str, repeats: int) -> dict:
    """Median seconds per interval over ``repeats`` runs of ``len(lows) - 1`` intervals."""
    h, w = lows[0].shape
    per_interval, events = [], []
    lows_d = [torch.from_numpy(x).to(device) for x in lows]
    for _ in range(repeats):
        sim = EventSimulator(cfg, h, w, seed=0, device=device)
        sim.reset(lows_d[0], normals[0])
        sim.step(lows_d[1], 0, 40000, normals[1])  # warm-up interval, not timed
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        for i in range(2, len(lows)):
            t = time.perf_counter()
            chunk = sim.step(lows_d[i], (i - 1) * 40000, i * 40000, normals[i])
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            per_interval.append(time.perf_counter() - t)
            events.append(len(chunk))
    sec = statistics.median(per_interval)
    return {"seconds_per_interval": sec, "frames_per_second": 1.0 / sec, "events_per_interval": float(np.mean(events)),
            "timed_intervals": len(per_interval)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--contrast-threshold", type=float, default=0.5)
    p.add_argument("--intervals", type=int, default=10, help="timed intervals per run (+1 warm-up)")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "simulator_throughput"))
    args = p.parse_args()

    lows, normals, source = load_frames(args.intervals + 1)  # + 1 warm-up interval
    load_start = os.getloadavg()
    results = []
    cases = [("linear", 4), ("linear", 8), ("log", 4), ("flow", 4)]
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for device in devices:
        for threads in args.threads if device == "cpu" else [torch.get_num_threads()]:
            torch.set_num_threads(threads)
            for interp, k in cases:
                cfg = SimulatorConfig(contrast_threshold=args.contrast_threshold, substeps=k, interpolation=interp)
                r = time_steps(cfg, lows, normals, device, args.repeats)
                r.update(device=device, threads=threads if device == "cpu" else None, interpolation=interp, substeps=k,
                         size="854x480", contrast_threshold=args.contrast_threshold)
                results.append(r)
                print(json.dumps(r))
            # Small sizes (training clips made from static images): 3-frame clips.
            for size in (384, 128):
                small = [np.ascontiguousarray(x[:size, :size]) for x in lows[:4]]
                small_n = [np.ascontiguousarray(x[:size, :size]) for x in normals[:4]]
                cfg = SimulatorConfig(contrast_threshold=args.contrast_threshold)
                r = time_steps(cfg, small, small_n, device, max(args.repeats, 5))
                r.update(device=device, threads=threads if device == "cpu" else None, interpolation="linear", substeps=4,
                         size=f"{size}x{size}", contrast_threshold=args.contrast_threshold)
                results.append(r)
                print(json.dumps(r))
    load_end = os.getloadavg()
    machine = {
        "cpu": cpu_model(),
        "logical_cores": os.cpu_count(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "not measured: no GPU in this session",
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_start": load_start,
        "load_average_end": load_end,
    }
    command = "python scripts/bench_simulator.py " + " ".join(sys.argv[1:])
    report = {"command": command.strip(), "machine": machine, "input": source, "results": results}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [
        "# Event simulator throughput",
        "",
        f"Command: `{report['command']}`  ",
        f"Machine: {machine['cpu']}, {machine['logical_cores']} logical cores, torch {machine['torch']}; "
        f"GPU: {machine['gpu']}.  ",
        f"Input: {source}; C_mean {args.contrast_threshold}; `EventSimulator.step` (events with timestamps), "
        "median over timed intervals after one warm-up interval.  ",
        f"Load average (1/5/15 min) at start {tuple(round(x, 2) for x in load_start)}, "
        f"end {tuple(round(x, 2) for x in load_end)} (shared machine: other jobs were running).",
        "",
        "| device | threads | size | interpolation | K | s/interval | frames/s | events/interval |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['device']} | {r['threads'] or '-'} | {r['size']} | {r['interpolation']} | {r['substeps']} | "
            f"{r['seconds_per_interval']:.4f} | {r['frames_per_second']:.1f} | {r['events_per_interval']:.0f} |"
        )
    if not torch.cuda.is_available():
        lines += ["", "GPU: not measured: no GPU in this session."]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print(f"wrote {out.with_suffix('.json')} and {out.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
