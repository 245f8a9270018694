"""Benchmark evolve.ops.deform_conv2d (our CUDA kernels) against torchvision.ops.deform_conv2d.

Times forward and forward+backward (grads for input, offset, weight[, mask]) at EVOLVE's training
shapes (DESIGN 7: 256-channel stride-16 features, 3x3 kernel, one offset group, no bias; N = all
memory frames of a batch at once) in float32 and bfloat16, with CUDA events, warm-up and the
median of repeats. Reports the error of outputs and gradients against a float64 reference
(evaluated on the first ``--err-samples`` samples of the batch to bound its memory), the peak
memory of one forward+backward, and the speed ratio. Writes
``benchmarks/results/deform_<gpu-name>.json`` and ``.md``.

Targets (DESIGN 6/7): >= 2x torchvision's forward+backward speed in bf16 at the EVOLVE shapes,
and no slower in fp32. torchvision has no bf16 kernel: its bf16 row is what
``deform_conv2d(..., backend="torchvision")`` (and autocast) does -- cast to fp32, compute, cast back.

GPU (one command)::

    python scripts/bench_deform.py

CPU (reference vs torchvision, small shapes; no CUDA kernels involved)::

    python scripts/bench_deform.py --device cpu
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import re
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import torch

ROOT = Path(__file__).resolve().parents[1]

from evolve.ops import deform_conv2d, deform_conv2d_reference
from evolve.utils.atomic import atomic_open
from evolve.utils.machine import device_name

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16, "fp64": torch.float64}


@dataclass(frozen=True)
class Shape:
    """One benchmark problem: input (n, c, h, w), c -> c channels, 3x3, stride 1, padding 1."""

    n: int
    c: int
    h: int
    w: int

    def label(self) -> str:
        return f"N={self.n} C={self.c} {self.h}x{self.w}"


PRESETS = {
    # EVOLVE training: 480x480 crops (30x30 at stride 16), 480x854 frames (30x54), and
    # 960x1712 (60x107); N=24 / 48 = frames of a batch deformed at once.
    "evolve": [Shape(n, 256, h, w) for n in (24, 48) for (h, w) in ((30, 30), (30, 54), (60, 107))],
    "small": [Shape(2, 32, 15, 15), Shape(2, 32, 15, 27), Shape(4, 64, 15, 15)],
    "tiny": [Shape(1, 8, 6, 6)],
}


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def make_problem(shape: Shape, dtype: torch.dtype, device: torch.device, mask: bool, seed: int = 0) -> dict:
    """Random inputs; offsets ~ N(0, 3^2) px clamped to +-max(H,W)/4 as EVOLVE does (authors' code)."""
    g = torch.Generator().manual_seed(seed)
    lim = max(shape.h, shape.w) / 4
    x = torch.randn(shape.n, shape.c, shape.h, shape.w, generator=g)
    off = (torch.randn(shape.n, 18, shape.h, shape.w, generator=g) * 3).clamp(-lim, lim)
    off = torch.round(off * 1024) / 1024  # positions exact in fp32 and fp64 alike
    w = torch.randn(shape.c, shape.c, 3, 3, generator=g) / (9 * shape.c) ** 0.5
    m = torch.rand(shape.n, 9, shape.h, shape.w, generator=g) if mask else None
    gout = torch.randn(shape.n, shape.c, shape.h, shape.w, generator=g)
    out = {"input": x, "offset": off, "weight": w, "mask": m, "grad": gout}
    return {k: None if v is None else v.to(device=device, dtype=dtype) for k, v in out.items()}


def leaves(problem: dict, dtype: torch.dtype | None = None, n: int | None = None) -> dict:
    out = {}
    for k, v in problem.items():
        if v is None:
            out[k] = None
            continue
        t = v[:n] if (n is not None and k != "weight") else v
        t = t.detach().to(dtype or t.dtype)
        out[k] = t if k == "grad" else t.clone().requires_grad_()
    return out


def fwd_bwd(fn: Callable, p: dict, backward: bool = True) -> dict:
    out = fn(p["input"], p["offset"], p["weight"], None, (1, 1), (1, 1), (1, 1), p["mask"])
    if not backward:
        return {"output": out}
    names = [k for k in ("input", "offset", "weight", "mask") if p[k] is not None]
    grads = torch.autograd.grad(out, [p[k] for k in names], p["grad"])
    return {"output": out, **dict(zip(names, grads))}


class Timer:
    """Median wall time of a callable: CUDA events on GPU, perf_counter on CPU."""

    def __init__(self, device: torch.device):
        self.device = device

    def __call__(self, fn: Callable[[], object], warmup: int, repeats: int) -> float:
        for _ in range(warmup):
            fn()
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            times = []
            for _ in range(repeats):
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                start.record()
                fn()
                end.record()
                end.synchronize()
                times.append(start.elapsed_time(end))
            return statistics.median(times)
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1e3)
        return statistics.median(times)


def rel_err(a: torch.Tensor, ref: torch.Tensor) -> float:
    ref = ref.double()
    scale = ref.abs().max().item()
    diff = (a.double() - ref).abs().max().item()
    return diff / scale if scale > 0 else diff


def backend_fn(backend: str) -> Callable:
    def fn(input, offset, weight, bias, stride, padding, dilation, mask):
        return deform_conv2d(input, offset, weight, bias, stride, padding, dilation, mask, backend=backend)

    return fn


def bench_one(shape: Shape, dtype_name: str, backend: str, device: torch.device, args, timer: Timer) -> dict:
    dtype = DTYPES[dtype_name]
    problem = make_problem(shape, dtype, device, args.mask)
    fn = backend_fn(backend)
    p = leaves(problem)
    row = {"shape": shape.label(), **asdict(shape), "dtype": dtype_name, "backend": backend}
    try:
        with torch.no_grad():
            row["fwd_ms"] = timer(lambda: fwd_bwd(fn, p, backward=False), args.warmup, args.repeats)
        row["fwd_bwd_ms"] = timer(lambda: fwd_bwd(fn, p), args.warmup, args.repeats)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
            base = torch.cuda.memory_allocated(device)
            torch.cuda.reset_peak_memory_stats(device)
            fwd_bwd(fn, p)
            torch.cuda.synchronize(device)
            row["peak_mem_mib"] = round((torch.cuda.max_memory_allocated(device) - base) / 2**20, 1)
    except torch.cuda.OutOfMemoryError as e:  # report, keep going with the other rows
        row["error"] = f"out of memory: {str(e).splitlines()[0]}"
        return row
    # accuracy against float64 on the first samples
    n_err = min(shape.n, args.err_samples)
    got = fwd_bwd(fn, leaves(problem, n=n_err))
    want = fwd_bwd(deform_conv2d_reference, leaves(problem, dtype=torch.float64, n=n_err))
    row["max_rel_err"] = {k: float(f"{rel_err(got[k].detach(), want[k].detach()):.3e}") for k in want}
    return row


def to_markdown(meta: dict, rows: list[dict], ratios: list[dict]) -> str:
    lines = [f"# deform_conv2d benchmark: {meta['device']}", ""]
    if meta["device_type"] == "cpu":
        lines += ["**CPU run: pure-PyTorch reference vs torchvision (CPU kernels). No CUDA kernel is timed "
                  "here; this is not a GPU result.**", ""]
    lines += [f"- command: `{meta['command']}`", f"- date (UTC): {meta['date']}",
              f"- torch {meta['torch']}, torchvision {meta['torchvision']}, CUDA {meta['cuda']}",
              f"- problem: input (N, C, H, W), C -> C channels, 3x3 kernel, stride 1, padding 1, one offset group, "
              f"no bias, {'with' if meta['mask'] else 'without'} modulation mask; grads for input, offset, weight"
              f"{', mask' if meta['mask'] else ''}",
              f"- timing: median of {meta['repeats']} repeats after {meta['warmup']} warm-up "
              f"({'CUDA events' if meta['device_type'] == 'cuda' else 'perf_counter'}); TF32 matmul "
              f"{'on' if meta['allow_tf32'] else 'off'}",
              f"- error: max |x - ref| / max |ref| against a float64 reference on the first {meta['err_samples']} "
              "samples (output and each gradient)"]
    if meta.get("note"):
        lines.append(f"- note: {meta['note']}")
    lines.append("")
    if ratios:
        ours = "ours (CUDA kernels)" if meta["ours"] == "cuda" else meta["ours"]
        lines += [f"## Speed ratio (torchvision time / {ours} time, forward+backward)", "",
                  f"| shape | dtype | {ours} fwd+bwd ms | torchvision fwd+bwd ms | ratio | target |",
                  "|---|---|---:|---:|---:|---|"]
        for r in ratios:
            lines.append(f"| {r['shape']} | {r['dtype']} | {r['ours_ms']:.3f} | {r['torchvision_ms']:.3f} | "
                         f"{r['ratio']:.2f}x | {r['target']} |")
        lines.append("")
    lines += ["## All rows", "", "| shape | dtype | backend | fwd ms | fwd+bwd ms | peak MiB | max rel err (out / in / off / w) |",
              "|---|---|---|---:|---:|---:|---|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['shape']} | {r['dtype']} | {r['backend']} | - | - | - | {r['error']} |")
            continue
        e = r["max_rel_err"]
        errs = " / ".join(f"{e[k]:.1e}" for k in ("output", "input", "offset", "weight"))
        lines.append(f"| {r['shape']} | {r['dtype']} | {r['backend']} | {r['fwd_ms']:.3f} | {r['fwd_bwd_ms']:.3f} | "
                     f"{r.get('peak_mem_mib', '-')} | {errs} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda", help="cuda (default) or cpu")
    parser.add_argument("--preset", choices=sorted(PRESETS), default=None,
                        help="shape set (default: evolve on cuda, small on cpu)")
    parser.add_argument("--dtypes", default=None, help="comma list of fp32,bf16,fp16 (default fp32,bf16 on cuda, fp32 on cpu)")
    parser.add_argument("--mask", action="store_true", help="modulated (DCNv2) instead of EVOLVE's DCNv1")
    parser.add_argument("--warmup", type=int, default=None, help="warm-up runs (default 5 cuda / 3 cpu)")
    parser.add_argument("--repeats", type=int, default=None, help="timed runs (default 20 cuda / 30 cpu)")
    parser.add_argument("--err-samples", type=int, default=2, help="samples used for the float64 error")
    parser.add_argument("--out-dir", default=str(ROOT / "benchmarks" / "results"))
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads for torch (cpu only; default 1)")
    parser.add_argument("--note", default="", help="a line added to the report (e.g. machine load)")
    args = parser.parse_args(argv)

    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("no CUDA GPU here; run with --device cpu for the reference-vs-torchvision CPU benchmark",
              file=sys.stderr)
        return 2
    on_gpu = device.type == "cuda"
    threads = torch.get_num_threads()
    if not on_gpu:
        torch.set_num_threads(args.threads)
    try:
        return _run(args, argv, device, on_gpu)
    finally:
        torch.set_num_threads(threads)


def _run(args, argv: list[str] | None, device: torch.device, on_gpu: bool) -> int:
    preset = args.preset or ("evolve" if on_gpu else "small")
    dtypes = (args.dtypes or ("fp32,bf16" if on_gpu else "fp32")).split(",")
    args.warmup = args.warmup if args.warmup is not None else (5 if on_gpu else 3)
    args.repeats = args.repeats if args.repeats is not None else (20 if on_gpu else 30)
    ours = "cuda" if on_gpu else "reference"
    if on_gpu:
        torch.backends.cuda.matmul.allow_tf32 = False  # torch's default; explicit for the record
        from evolve.ops.deform import resolve_backend

        resolve_backend("cuda", device)  # compile/load before timing
    import torchvision

    timer = Timer(device)
    rows = []
    for shape in PRESETS[preset]:
        for dt in dtypes:
            for backend in (ours, "torchvision"):
                row = bench_one(shape, dt, backend, device, args, timer)
                rows.append(row)
                print(json.dumps(row), flush=True)
                if on_gpu:
                    torch.cuda.empty_cache()
    ratios = []
    for shape in PRESETS[preset]:
        for dt in dtypes:
            pair = {r["backend"]: r for r in rows if r["shape"] == shape.label() and r["dtype"] == dt}
            a, b = pair.get(ours), pair.get("torchvision")
            if a and b and "fwd_bwd_ms" in a and "fwd_bwd_ms" in b:
                ratio = b["fwd_bwd_ms"] / a["fwd_bwd_ms"]
                target = ">= 2x" if dt in ("bf16", "fp16") else ">= 1x"
                met = ratio >= (2.0 if dt in ("bf16", "fp16") else 1.0)
                ratios.append({"shape": shape.label(), "dtype": dt, "ours_ms": a["fwd_bwd_ms"],
                               "torchvision_ms": b["fwd_bwd_ms"], "ratio": ratio,
                               "target": (target + (" met" if met else " NOT met")) if on_gpu else "n/a (CPU)"})
    meta = {
        "device": device_name(device), "device_type": device.type, "ours": ours,
        "command": "python scripts/bench_deform.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M"),
        "torch": torch.__version__, "torchvision": torchvision.__version__, "cuda": torch.version.cuda,
        "mask": args.mask, "warmup": args.warmup, "repeats": args.repeats, "err_samples": args.err_samples,
        "allow_tf32": bool(torch.backends.cuda.matmul.allow_tf32), "preset": preset, "note": args.note,
    }
    md = to_markdown(meta, rows, ratios)
    print(md)
    if not args.no_write:
        stem = f"deform_{slug(torch.cuda.get_device_name(device))}" if on_gpu else "deform_cpu"
        out_dir = Path(args.out_dir)
        with atomic_open(out_dir / f"{stem}.json", "w") as f:
            json.dump({"meta": meta, "ratios": ratios, "rows": rows}, f, indent=1)
        with atomic_open(out_dir / f"{stem}.md", "w") as f:
            f.write(md)
        print(f"wrote {out_dir / stem}.json and .md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
