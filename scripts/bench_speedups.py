"""Before/after ratios of issue 11's speed changes, measured in one run on the same inputs.

1. Inference: the top-k memory readout as a dense affinity + dense product (``inference.readout=dense``,
   before) vs the weighted gather of the k values per pixel (``readout=gather``, after); same
   weights, same sequence (real frames and voxel grids of a converted DAVIS 2016 sequence, or a
   synthetic one), same internal size. Frames/s inside ``InferenceCore.step``; the two outputs
   are compared (they must agree).
2. Training: seconds/iteration of ``Trainer.train_step`` with the per-step host checks
   (``sync_checks=true``: finiteness read before the backward pass, the loss read for the
   progress bar, as before) vs the device-side checks (after); same network state, same batch.

Repeats alternate before/after (ABAB...) so load drift hits both alike; the median is reported.
On a CPU, host reads cost little (there is no asynchronous queue to drain): expect a training
ratio near 1 there; the gain is on GPUs. ::

    python scripts/bench_speedups.py --data /work/data/lle_davis2016 --sequence blackswan --frames 30 --size 240

Writes ``benchmarks/results/speedups_<device>.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import statistics
import time
from pathlib import Path

import torch

from evolve.data.layout import detect_layout
from evolve.data.video_reader import VideoReader
from evolve.inference import InferenceConfig, InferenceCore
from evolve.model.evolve import EVOLVE, load_model_config
from evolve.training.config import StageConfig, TrainConfig
from evolve.training.distributed import DistInfo
from evolve.training.tasks.semi_supervised import SemiSupervisedTask
from evolve.training.trainer import Trainer
from evolve.utils.atomic import atomic_open
from evolve.utils.machine import device_name, machine_info

ROOT = Path(__file__).resolve().parents[1]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def load_frames(data: str | None, sequence: str | None, frames: int, size: int) -> tuple[list, torch.Tensor, str]:
    """(frame, voxel) pairs and the first mask: a real converted sequence, or moving squares."""
    if data:
        reader = VideoReader(detect_layout(data), sequence, size=size)
        samples = [reader[i] for i in range(min(frames, len(reader)))]
        return [(s.rgb, s.voxel) for s in samples], samples[0].mask, f"{data}:{sequence} ({len(samples)} frames, shorter side {size})"
    g = torch.Generator().manual_seed(0)
    h, w = size, int(size * 16 / 9) // 16 * 16
    mask = torch.zeros(h, w, dtype=torch.long)
    mask[h // 4 : h // 2, w // 4 : w // 2] = 1
    return [(torch.rand(3, h, w, generator=g), torch.randn(5, h, w, generator=g)) for _ in range(frames)], mask, f"synthetic {frames} frames {h}x{w}"


def synthetic_clip(frames: int, size: int) -> dict:
    """A batch of 2 training clips: random frames and voxel grids, two rectangles drifting right."""
    g = torch.Generator().manual_seed(1)
    cls = torch.zeros(2, frames, 1, size, size, dtype=torch.long)
    for t in range(frames):
        cls[:, t, 0, size // 8 : size // 2, size // 8 + t : size // 2 + t] = 1
        cls[:, t, 0, size // 2 + 4 : size - 8, size // 3 + t : size - 8] = 2
    first = torch.stack([(cls[:, 0, 0] == k).float() for k in (1, 2)], dim=1)[:, None]  # (2, 1, 2, S, S)
    return {"rgb": torch.rand(2, frames, 3, size, size, generator=g), "voxel": torch.randn(2, frames, 5, size, size, generator=g),
            "cls_gt": cls, "first_frame_gt": first, "selector": torch.ones(2, 2), "info": [{"num_objects": 2}] * 2}


def run_inference(net: EVOLVE, device: torch.device, pairs: list, mask: torch.Tensor, readout: str) -> tuple[float, torch.Tensor]:
    """Frames/s inside step() and the last frame's probabilities."""
    core = InferenceCore(net, InferenceConfig(readout=readout), device)
    seconds, prob = 0.0, None
    for i, (rgb, vox) in enumerate(pairs):
        _sync(device)
        t0 = time.perf_counter()
        prob = core.step(rgb.to(device), vox.to(device), mask.to(device) if i == 0 else None, end=i == len(pairs) - 1)
        _sync(device)
        if i > 0:  # frame 0 only writes memory
            seconds += time.perf_counter() - t0
    return (len(pairs) - 1) / seconds, prob


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--data", default=None, help="LLE-format dataset root (default: synthetic frames)")
    p.add_argument("--sequence", default="blackswan")
    p.add_argument("--frames", type=int, default=30)
    p.add_argument("--size", type=int, default=240, help="internal shorter side in pixels")
    p.add_argument("--model", default="small")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--train-size", type=int, default=96, help="training crop in pixels")
    p.add_argument("--train-frames", type=int, default=4)
    p.add_argument("--train-steps", type=int, default=3, help="steps timed per repeat")
    p.add_argument("--out", default=None)
    args = p.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)
    net = EVOLVE(load_model_config(args.model)).to(device).eval()
    pairs, mask, what = load_frames(args.data, args.sequence, args.frames, args.size)

    fps = {"dense": [], "gather": []}
    outputs = {}
    run_inference(net, device, pairs[:3], mask, "gather")  # warm-up
    for _ in range(args.repeats):
        for mode in ("dense", "gather"):
            f, outputs[mode] = run_inference(net, device, pairs, mask, mode)
            fps[mode].append(f)
    diff = float((outputs["dense"] - outputs["gather"]).abs().max())

    cfg = TrainConfig(exp_id="bench")
    stage = StageConfig(num_iterations=10**6, batch_size=2, amp=device.type == "cuda", train_num_points=2048)
    task = SemiSupervisedTask()
    batch = synthetic_clip(args.train_frames, args.train_size)
    trainer = Trainer(cfg, "main_training", stage, net.train(), task.build_wrapper(net, stage), task.build_loss(stage),
                      DistInfo(0, 1, 0, device), ROOT / "output" / "bench_speedups")
    trainer.train_step(batch)  # warm-up (optimizer state)
    step = {"sync_checks": [], "device_checks": []}
    for _ in range(args.repeats):
        for mode in ("sync_checks", "device_checks"):
            cfg.sync_checks = mode == "sync_checks"
            _sync(device)
            t0 = time.perf_counter()
            for _ in range(args.train_steps):
                terms, _ = trainer.train_step(batch)
                if cfg.sync_checks:
                    float(terms["total_loss"])  # the per-step progress-bar read of the old loop
            _sync(device)
            step[mode].append((time.perf_counter() - t0) / args.train_steps)

    med = {k: statistics.median(v) for k, v in {**fps, **step}.items()}
    result = {
        "date": _dt.datetime.now().isoformat(timespec="seconds"),
        "device": device_name(device), "machine": machine_info(), "model": args.model,
        "inference_input": what,
        "inference_frames_per_second": fps, "inference_ratio_gather_over_dense": med["gather"] / med["dense"],
        "inference_max_abs_difference": diff,
        "train_input": f"synthetic clips, batch 2, {args.train_frames} frames of {args.train_size}x{args.train_size}",
        "train_seconds_per_iteration": step, "train_ratio_before_over_after": med["sync_checks"] / med["device_checks"],
        "command": "python scripts/bench_speedups.py " + " ".join(os.sys.argv[1:]),
    }
    out = Path(args.out or ROOT / "benchmarks" / "results" / f"speedups_{device.type}.json")
    with atomic_open(out, "w") as f:
        json.dump(result, f, indent=2)
    md = [
        f"# Issue 11 speed changes, before vs after ({result['date']})", "",
        f"Machine: {result['device']}; load average at the end {result['machine']['load_average']}. Command: `{result['command']}`", "",
        f"Inference ({what}, EVOLVE-{args.model}, random weights, same for both; {args.repeats} alternating repeats, median):", "",
        "| top-k readout | frames/s (each repeat) | median |", "|---|---|---|",
        f"| dense affinity + dense product (before) | {', '.join(f'{v:.2f}' for v in fps['dense'])} | {med['dense']:.2f} |",
        f"| weighted gather of k values (after) | {', '.join(f'{v:.2f}' for v in fps['gather'])} | {med['gather']:.2f} |", "",
        f"Ratio after/before: **{result['inference_ratio_gather_over_dense']:.2f}x**; largest difference between the two "
        f"outputs {diff:.2e} (same readout, different order of summation).", "",
        f"Training step ({result['train_input']}, {args.train_steps} steps per repeat):", "",
        "| checks | s/iteration (each repeat) | median |", "|---|---|---|",
        f"| host reads every step (before) | {', '.join(f'{v:.3f}' for v in step['sync_checks'])} | {med['sync_checks']:.3f} |",
        f"| on the device, read at the log interval (after) | {', '.join(f'{v:.3f}' for v in step['device_checks'])} | {med['device_checks']:.3f} |", "",
        f"Ratio before/after: **{result['train_ratio_before_over_after']:.2f}x**.", "",
    ]
    with atomic_open(out.with_suffix(".md"), "w") as f:
        f.write("\n".join(md))
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
