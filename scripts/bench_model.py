"""Benchmark the EVOLVE network: training seconds/iteration and inference frames/s, with peak memory.

DESIGN 7: training at batch 2 per GPU, 8 frames of 480x480, model=small/base; inference on
480p (854x480) sequences, events on and off. Inputs are synthetic (random frames, voxel grids and
moving square masks), so the numbers measure the network, not the data loader.

GPU (EVOLVE's sizes, one command)::

    python scripts/bench_model.py

CPU (reduced sizes; say so in the result file)::

    python scripts/bench_model.py --device cpu --train-size 192 --frames 4 --infer-size 240x427 --infer-frames 10

Writes ``benchmarks/results/model_<device>.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import re
import resource
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]

from evolve.inference import InferenceConfig, InferenceCore
from evolve.model.evolve import EVOLVE, TrainWrapper, load_model_config
from evolve.model.losses import LossComputer, LossConfig
from evolve.model.param_groups import parameter_groups
from evolve.utils.atomic import atomic_open
from evolve.utils.machine import device_name, machine_info


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _peak_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # process peak RSS (Linux: KiB)


def _squares(t: int, n: int, h: int, w: int) -> torch.Tensor:
    """(T, H, W) int64 ids: n squares moving right by 2 % of the width per frame."""
    ids = torch.zeros(t, h, w, dtype=torch.long)
    side = max(8, min(h, w) // 5)
    for k in range(n):
        top = (k * (h - side)) // max(1, n)
        for f in range(t):
            left = (k * side + f * max(1, w // 50)) % max(1, w - side)
            ids[f, top : top + side, left : left + side] = k + 1
    return ids


def clip_batch(batch: int, frames: int, objects: int, size: int, bins: int, device: torch.device) -> dict:
    """A training batch as docs/architecture.md "Training clips" (random content, moving squares)."""
    cls = _squares(frames, objects, size, size)[None, :, None].expand(batch, frames, 1, size, size).clone()
    first = torch.stack([(cls[:, 0, 0] == k + 1).float() for k in range(objects)], 1)[:, None]
    return {
        "rgb": torch.rand(batch, frames, 3, size, size, device=device),
        "voxel": torch.randn(batch, frames, bins, size, size, device=device),
        "cls_gt": cls.to(device),
        "first_frame_gt": first.to(device),
        "selector": torch.ones(batch, objects, device=device),
    }


def bench_train(model: str, events: bool, args, device: torch.device) -> dict:
    torch.manual_seed(0)
    net = EVOLVE(load_model_config(model, overrides=[] if events else ["events=false"])).to(device)
    wrapper = TrainWrapper(net, num_ref_frames=3, deep_update_prob=0.2)
    loss = LossComputer(LossConfig(num_points=12544))
    opt = torch.optim.AdamW(parameter_groups(net, 1e-4, 1e-3, 0.0, 0.1), lr=1e-4, weight_decay=1e-3)
    amp = args.amp != "off" and device.type == "cuda"
    dtype = torch.bfloat16 if args.amp == "bf16" else torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=amp and dtype == torch.float16)
    batch = clip_batch(args.batch, args.frames, 3, args.train_size, net.config.event_bins, device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    for i in range(args.warmup + args.iters):
        _sync(device)
        t0 = time.perf_counter()
        with torch.amp.autocast(device_type=device.type, dtype=dtype, enabled=amp):
            total = loss(wrapper(batch), batch)["total_loss"]
        opt.zero_grad(set_to_none=True)
        scaler.scale(total).backward()
        scaler.unscale_(opt)
        torch.nn.utils.clip_grad_norm_(net.parameters(), 2.0)
        scaler.step(opt)
        scaler.update()
        _sync(device)
        if i >= args.warmup:
            times.append(time.perf_counter() - t0)
    return {
        "kind": "train", "model": model, "events": events, "batch": args.batch, "frames": args.frames,
        "size": f"{args.train_size}x{args.train_size}", "amp": args.amp if amp else "off",
        "seconds_per_iteration": statistics.median(times), "peak_memory_mb": _peak_mb(device),
    }


def bench_infer(model: str, events: bool, args, device: torch.device) -> dict:
    torch.manual_seed(0)
    net = EVOLVE(load_model_config(model, overrides=[] if events else ["events=false"])).to(device).eval()
    core = InferenceCore(net, InferenceConfig(amp=args.amp != "off" and device.type == "cuda"), device)
    h, w = (int(v) for v in args.infer_size.split("x"))
    ids = _squares(args.infer_frames, 2, h, w)
    frames = torch.rand(args.infer_frames, 3, h, w, device=device)
    voxels = torch.randn(args.infer_frames, net.config.event_bins, h, w, device=device)
    def run_sequence() -> list[float]:
        core.reset()
        seconds = []
        for t in range(args.infer_frames):
            _sync(device)
            t0 = time.perf_counter()
            core.step(frames[t], voxels[t], mask=ids[0].to(device) if t == 0 else None, end=t == args.infer_frames - 1)
            _sync(device)
            seconds.append(time.perf_counter() - t0)
        return seconds

    run_sequence()  # warm-up pass: kernel selection / JIT for every memory size of the sequence
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    steady = run_sequence()[1:]  # the first frame only encodes the given mask
    return {
        "kind": "inference", "model": model, "events": events, "size": f"{h}x{w}", "frames": args.infer_frames,
        "objects": 2, "amp": "on" if core.config.amp else "off",
        "frames_per_second": len(steady) / sum(steady), "peak_memory_mb": _peak_mb(device),
    }


def to_markdown(meta: dict, rows: list[dict]) -> str:
    lines = [f"# EVOLVE network benchmark: {meta['device']}", "", f"- command: `{meta['command']}`",
             f"- date (UTC): {meta['date']}", f"- torch {meta['machine']['torch']}, CUDA {meta['machine']['cuda']}",
             "- synthetic inputs (random frames and voxel grids, moving squares); no data loading is timed", ""]
    if meta["device_type"] == "cpu":
        lines += ["**CPU run at reduced sizes: indicative only, not DESIGN 7's GPU setting.**", ""]
    lines += ["| kind | model | events | size | batch x frames | AMP | s/iteration or frames/s | peak MiB |", "|---|---|---|---|---|---|---:|---:|"]
    for r in rows:
        speed = f"{r['seconds_per_iteration']:.3f} s/it" if r["kind"] == "train" else f"{r['frames_per_second']:.2f} frames/s"
        bf = f"{r['batch']} x {r['frames']}" if r["kind"] == "train" else f"1 x {r['frames']}"
        lines.append(f"| {r['kind']} | {r['model']} | {'on' if r['events'] else 'off'} | {r['size']} | {bf} | {r['amp']} | {speed} | {r['peak_memory_mb']:.0f} |")
    lines += ["", "Peak memory: CUDA `max_memory_allocated` on GPU; process peak RSS on CPU (grows over the run).", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--models", nargs="+", default=["small", "base"])
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--frames", type=int, default=8)
    p.add_argument("--train-size", type=int, default=480)
    p.add_argument("--infer-size", default="480x854", help="HxW of the inference frames")
    p.add_argument("--infer-frames", type=int, default=30)
    p.add_argument("--iters", type=int, default=10)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--amp", choices=["off", "fp16", "bf16"], default="bf16")
    p.add_argument("--skip-train", action="store_true")
    p.add_argument("--skip-infer", action="store_true")
    p.add_argument("--out", default=None, help="output stem (default benchmarks/results/model_<device>)")
    args = p.parse_args(argv)
    device = torch.device(args.device)
    rows = []
    for model in args.models:
        for events in (True, False):
            if not args.skip_train:
                rows.append(bench_train(model, events, args, device))
                print(json.dumps(rows[-1]))
            if not args.skip_infer:
                rows.append(bench_infer(model, events, args, device))
                print(json.dumps(rows[-1]))
    name = device_name(device)
    meta = {
        "command": "python scripts/bench_model.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M"),
        "device": name, "device_type": device.type, "machine": machine_info(),
    }
    stem = Path(args.out) if args.out else ROOT / "benchmarks" / "results" / (
        "model_" + (re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") if device.type == "cuda" else "cpu"))
    with atomic_open(stem.with_suffix(".json"), "w") as f:
        json.dump({**meta, "results": rows}, f, indent=2)
    with atomic_open(stem.with_suffix(".md"), "w") as f:
        f.write(to_markdown(meta, rows))
    print(f"wrote {stem.with_suffix('.json')} and .md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
