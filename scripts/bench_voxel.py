"""Voxel-grid throughput benchmark (DESIGN 7 "data"): events/s of evolve.data.voxel.

Builds the EVOLVE voxel grid (B=5) of one LLE-DAVIS-sized chunk: 332,000 events (~0.8
events/pixel, DESIGN 2.2) at 854x480 over a 40 ms interval, on the CPU (1 thread and all
threads) and on CUDA when available. The events are synthetic but shaped like real ones:
edges of moving objects (ON on the leading side, OFF on the trailing side, 1-pixel
jitter) plus uniform background noise, sorted timestamps on a 1.6e15 us camera clock.
Also times reading the chunk back from a compressed ``.npz`` (what precompute and the
readers do before building the grid).

Usage (from the repository root)::

    python scripts/bench_voxel.py [--events 332000] [--height 480] [--width 854] [--repeats 20]

Writes ``benchmarks/results/voxel_throughput.json`` and ``.md`` (machine named).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]


def realistic_events(n: int, height: int, width: int, seed: int = 0) -> tuple[np.ndarray, ...]:
    """``n`` events (x, y, t, p) of moving edges plus 10 % noise, sorted by t (microseconds)."""
    rng = np.random.default_rng(seed)
    n_noise = n // 10
    n_edge = n - n_noise
    t = np.sort(rng.uniform(0, 40_000, n)).astype(np.int64) + 1_633_953_690_975_950
    frac = (t - t[0]) / 40_000.0  # (N,) position in the interval
    edge = np.zeros(n, bool)
    edge[rng.choice(n, n_edge, replace=False)] = True
    x = rng.integers(0, width, n).astype(np.float64)
    y = rng.integers(0, height, n).astype(np.float64)
    p = rng.choice([-1, 1], n)
    # 12 moving discs: events on their boundary, ON ahead of the motion, OFF behind
    k = 12
    cx, cy = rng.uniform(100, width - 100, k), rng.uniform(80, height - 80, k)
    vx, vy = rng.uniform(-60, 60, k), rng.uniform(-40, 40, k)  # pixels per interval
    r = rng.uniform(20, 70, k)
    obj = rng.integers(0, k, n)
    ang = rng.uniform(0, 2 * np.pi, n)
    ex = cx[obj] + vx[obj] * frac + r[obj] * np.cos(ang) + rng.normal(0, 1.0, n)
    ey = cy[obj] + vy[obj] * frac + r[obj] * np.sin(ang) + rng.normal(0, 1.0, n)
    ahead = np.cos(ang) * vx[obj] + np.sin(ang) * vy[obj] > 0
    x[edge], y[edge] = ex[edge], ey[edge]
    p[edge] = np.where(ahead[edge], 1, -1)
    x = np.clip(np.round(x), 0, width - 1).astype(np.int64)
    y = np.clip(np.round(y), 0, height - 1).astype(np.int64)
    return x, y, t, p.astype(np.int8)


def _time(fn, repeats: int, warmup: int = 3, sync=None) -> list[float]:
    """Wall-clock seconds of ``repeats`` calls of ``fn`` after ``warmup`` calls (``sync`` after each, for CUDA)."""
    for _ in range(warmup):
        fn()
    if sync:
        sync()
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        if sync:
            sync()
        out.append(time.perf_counter() - t0)
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print a table, write the JSON and Markdown results; returns 0."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=332_000)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--width", type=int, default=854)
    parser.add_argument("--bins", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "voxel_throughput"))
    args = parser.parse_args(argv)
    from evolve.data.events import EventChunk, load_event_chunk, save_event_chunk
    from evolve.data.voxel import events_to_voxel_grid
    from evolve.utils.atomic import atomic_open
    from evolve.utils.machine import cpu_model

    n, h, w, b = args.events, args.height, args.width, args.bins
    xs, ys, ts, ps = realistic_events(n, h, w)
    tensors = [torch.from_numpy(a) for a in (xs, ys, ts, ps)]
    results = []

    def record(name, secs, note=""):
        med = statistics.median(secs)
        results.append({
            "case": name, "median_s": med, "min_s": min(secs), "events_per_s": n / med,
            "repeats": len(secs), "note": note,
        })
        print(f"{name:38s} median {med * 1e3:8.2f} ms  {n / med / 1e6:8.1f} M events/s", flush=True)

    threads = torch.get_num_threads()
    for nt in sorted({1, threads}):
        torch.set_num_threads(nt)
        secs = _time(lambda: events_to_voxel_grid(*tensors, h, w, b), args.repeats)
        record(f"cpu, {nt} thread(s)", secs)
    torch.set_num_threads(threads)

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "00001.npz"
        save_event_chunk(path, EventChunk(xs, ys, ts, ps))
        size_mb = path.stat().st_size / 1e6
        secs = _time(lambda: load_event_chunk(path, sensor_size=(h, w)), max(5, args.repeats // 2))
        record("read+validate .npz chunk (cpu)", secs, f"compressed file {size_mb:.2f} MB")

    if torch.cuda.is_available():
        dev = torch.device("cuda")
        gt = [t.to(dev) for t in tensors]
        secs = _time(lambda: events_to_voxel_grid(*gt, h, w, b), args.repeats, sync=torch.cuda.synchronize)
        record(f"cuda ({torch.cuda.get_device_name(dev)}), events on GPU", secs)
        secs = _time(lambda: events_to_voxel_grid(*(t.to(dev) for t in tensors), h, w, b).cpu(), args.repeats,
                     sync=torch.cuda.synchronize)
        record("cuda incl. host->device and grid back", secs)
        gpu = torch.cuda.get_device_name(dev)
    else:
        gpu = "no GPU in this session"
        print(gpu)

    machine = {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "torch_threads": threads,
        "gpu": gpu,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_1min_at_start": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    }
    command = "python scripts/bench_voxel.py " + " ".join(argv if argv is not None else sys.argv[1:])
    report = {
        "benchmark": "voxel grid throughput (evolve.data.voxel.events_to_voxel_grid)",
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "command": command.strip(),
        "events": n, "height": h, "width": w, "bins": b,
        "machine": machine,
        "results": results,
    }
    out = Path(args.out)
    with atomic_open(out.with_suffix(".json"), "w") as f:
        json.dump(report, f, indent=2)
    lines = [
        "# Voxel-grid throughput",
        "",
        f"`{report['command']}` on {report['date']}",
        "",
        f"One chunk of {n:,} events at {w}x{h}, B={b} (LLE-DAVIS size: ~0.8 events/pixel per frame interval).",
        "",
        "| case | median ms | M events/s | note |",
        "|---|---:|---:|---|",
    ]
    for r in results:
        lines.append(f"| {r['case']} | {r['median_s'] * 1e3:.2f} | {r['events_per_s'] / 1e6:.1f} | {r['note']} |")
    lines += ["", "Machine: " + ", ".join(f"{k} {v}" for k, v in machine.items()), ""]
    with atomic_open(out.with_suffix(".md"), "w") as f:
        f.write("\n".join(lines))
    print(f"wrote {out.with_suffix('.json')} and .md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
