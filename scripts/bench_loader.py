"""Benchmark the training data loader: clips/s as training would see them (DESIGN 7, "data").

Builds the main-training dataset and DataLoader exactly as ``evolve-train`` does (the same
composed config, the task's ``build_dataset`` and ``build_loader``), then times batches after a warm-up
(worker start-up, the first batches and the batches the workers prefetched are not counted). One row per worker count; the default
list includes the config's ``num_workers`` (4), the count training uses.

    python scripts/bench_loader.py data=lle_davis2016 data_root=data            # EVOLVE clip settings
    python scripts/bench_loader.py --workers 0 2 4 --batches 20 data=demo

Extra arguments are Hydra overrides of ``configs/train_config.yaml`` (``main_training.crop_size=..``).
Writes ``benchmarks/results/loader_<data>_<host kind>.json`` and ``.md`` (``--out`` to change).
Clips are decoded, augmented and collated on the CPU; no model runs, so the number is the ceiling
the loader puts on training speed, per process.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import statistics
import sys
import time
from pathlib import Path

import torch

from evolve.apps.hydra_app import HydraArgs, compose, resolve_or_error
from evolve.apps.train import APP
from evolve.model import registry
from evolve.training.distributed import DistInfo
from evolve.training.loader import build_loader
from evolve.training.task import get_task
from evolve.utils.atomic import atomic_open
from evolve.utils.machine import machine_info
from evolve.utils.seeding import stable_seed

ROOT = Path(__file__).resolve().parents[1]


def compose_config(overrides: list[str]):
    """The training config ``evolve-train`` would get for ``overrides``."""
    return resolve_or_error(compose(APP, HydraArgs(overrides=list(overrides))), APP.prog)


def time_loader(cfg, num_workers: int, warmup: int, batches: int) -> dict:
    """Clips/s of the main-training loader with ``num_workers`` workers.

    Returns:
        dict with ``clips_per_second`` (timed batches x batch size / wall seconds), the median and
        max seconds per batch, and the start-up time (loader creation to the first batch).
    """
    stage = "main_training"
    s, d = cfg.main_training, cfg.data.main_training
    info = DistInfo(rank=0, world_size=1, local_rank=0, device=torch.device("cpu"))
    task = get_task(cfg.task)
    dataset = task.build_dataset(stage, s, d, registry.model_config_from_node(cfg.model), seed=stable_seed(cfg.seed, stage, "data"))
    t0 = time.perf_counter()
    loader = build_loader(dataset, s.batch_size, info, seed=stable_seed(cfg.seed, stage, "order"), start_iteration=0,
                          num_workers=num_workers, collate=task.collate)
    it = iter(loader)
    next(it)
    startup = time.perf_counter() - t0
    # Workers prefetch 2 batches each (DataLoader's prefetch_factor); skip those too, so the timed
    # batches arrive at the rate they are produced, not from a full buffer.
    for _ in range(max(0, warmup - 1) + 2 * num_workers):
        next(it)
    per_batch = []
    t_all = time.perf_counter()
    for _ in range(batches):
        t = time.perf_counter()
        batch = next(it)
        per_batch.append(time.perf_counter() - t)
    wall = time.perf_counter() - t_all
    clips = batches * batch["rgb"].shape[0]  # collate_clips always stacks "rgb"
    del it, loader
    return {
        "num_workers": num_workers,
        "batch_size": int(s.batch_size),
        "batches": batches,
        "clips_per_second": clips / wall,
        "median_s_per_batch": statistics.median(per_batch),
        "max_s_per_batch": max(per_batch),
        "startup_s": startup,
        "shapes": {k: list(v.shape) for k, v in batch.items() if torch.is_tensor(v)},
    }


def write_results(rows: list[dict], cfg, overrides: list[str], argv: list[str], stem: Path) -> None:
    """``<stem>.json`` and ``<stem>.md``, each written atomically."""
    record = {
        "command": "python scripts/bench_loader.py " + " ".join(argv),
        "date_utc": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M"),
        "machine": machine_info(),
        "data": str(cfg.data.name),
        "overrides": overrides,
        "seq_length": int(cfg.main_training.seq_length),
        "crop_size": int(cfg.main_training.crop_size),
        "num_objects": int(cfg.main_training.num_objects),
        "rows": rows,
    }
    stem.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(stem.with_suffix(".json"), "w") as f:
        json.dump(record, f, indent=2)
    m = record["machine"]
    lines = [
        f"# Training data loader throughput: data={record['data']}",
        "",
        f"- command: `{record['command']}`",
        f"- date (UTC): {record['date_utc']}",
        f"- machine: {m['cpu']}, {m['logical_cpus']} logical CPUs, GPU {m['gpu'] or 'none'}, torch {m['torch']}; "
        f"load average at the end {m['load_average']}",
        f"- clips: {record['seq_length']} frames, {record['crop_size']}x{record['crop_size']} crops, up to "
        f"{record['num_objects']} objects; batch {rows[0]['batch_size'] if rows else '-'}; tensors per batch: "
        + (", ".join(f"{k} {tuple(v)}" for k, v in rows[0]["shapes"].items()) if rows else "-"),
        "- voxel grids: read from `EventVoxel` caches where a dataset has them (`python -m "
        "evolve.data.precompute_voxels`), else built from the event chunks in the workers",
        "- timed: batches after the warm-up and the prefetched batches, wall clock, one process "
        "(training runs one loader per process); nothing consumes the batches, so this is the loader's ceiling",
        "",
        "| workers | clips/s | median s/batch | max s/batch | start-up s (to first batch) |",
        "|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(f"| {r['num_workers']} | {r['clips_per_second']:.2f} | {r['median_s_per_batch']:.3f} | "
                     f"{r['max_s_per_batch']:.3f} | {r['startup_s']:.2f} |")
    with atomic_open(stem.with_suffix(".md"), "w") as f:
        f.write("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--workers", type=int, nargs="+", default=None, help="worker counts (default: 0 and the config's num_workers)")
    p.add_argument("--warmup", type=int, default=3, help="batches before timing starts (plus 2 per worker, the prefetched ones)")
    p.add_argument("--batches", type=int, default=10, help="timed batches per worker count")
    p.add_argument("--out", default=None, help="output stem (default benchmarks/results/loader_<data>_cpu)")
    args, overrides = p.parse_known_args(argv)
    cfg = compose_config(overrides)
    if cfg.data.demo_root:
        from evolve.synthesis.demo import ensure_demo_dataset

        ensure_demo_dataset(Path(cfg.data.demo_root), log=print)
    workers = args.workers if args.workers is not None else sorted({0, int(cfg.num_workers)})
    rows = []
    for n in workers:
        row = time_loader(cfg, n, args.warmup, args.batches)
        print(json.dumps({k: v for k, v in row.items() if k != "shapes"}), flush=True)
        rows.append(row)
    stem = Path(args.out) if args.out else ROOT / "benchmarks" / "results" / f"loader_{cfg.data.name}_cpu"
    write_results(rows, cfg, overrides, argv, stem)
    print(f"wrote {stem}.json and .md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
