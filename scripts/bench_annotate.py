"""Benchmark evolve-annotate's interactive latency: the interaction network on one frame, propagation
frames/s, reading a sequence, and the pictures the page fetches per frame.

One sequence of the converted DAVIS 2016 set (854x480, recorded-style events from the conversion)
is read by the app's own workspace code; the networks are the app's default pair (interaction
network + EVOLVE-small, events on). Without ``--weights`` both are random-initialised (seeded):
their speed does not depend on the weights' values. Every timing is the wall time of the step
as the server runs it (``Interactor.run``, ``InteractiveSession.propagate`` with progress), next
to the process CPU time; the load average is recorded because the development machine is shared.

    OMP_NUM_THREADS=1 python scripts/bench_annotate.py                 # 480p and 240p working sizes
    OMP_NUM_THREADS=1 python scripts/bench_annotate.py --sizes 480 --frames 6 --repeats 3

Writes ``benchmarks/results/annotate_cpu.{json,md}``. Results name the machine; they are not
targets checked by tests.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from evolve.apps.annotate.networks import Networks, load_networks  # noqa: E402
from evolve.apps.annotate.state import AnnotateState, StateConfig  # noqa: E402
from evolve.apps.annotate.workspace import open_workspace  # noqa: E402
from evolve.data.image_io import read_mask  # noqa: E402
from evolve.data.scribbles import Stroke  # noqa: E402
from evolve.inference.config import InferenceConfig  # noqa: E402
from evolve.inference.interactive import EvolvePropagator, Interactor  # noqa: E402
from evolve.model import registry  # noqa: E402
from evolve.utils.atomic import atomic_open  # noqa: E402
from evolve.utils.machine import machine_info  # noqa: E402


def random_networks(device: torch.device) -> Networks:
    """Interaction network + EVOLVE-small, events on, random weights (seeded)."""
    torch.manual_seed(0)
    inet = registry.build_model(registry.load_model_config("interaction")).to(device).eval()
    enet = registry.build_model(registry.load_model_config("small")).to(device).eval()
    return Networks(Interactor(inet, device), lambda: EvolvePropagator(enet, InferenceConfig(), device), True, 5,
                    "interaction network (events) + EVOLVE small (events), random weights")


def timed(fn):
    """(result, wall seconds, process CPU seconds) of ``fn()``."""
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w0, time.process_time() - c0


def gt_stroke(root: Path, seq: str, stem: str) -> Stroke:
    """A positive scribble along the middle row of the object in the ground truth of one frame."""
    gt = read_mask(root / "trainval_480p" / "Annotations" / seq / f"{stem}.png")[0]
    ys, xs = np.nonzero(gt > 0)
    row = int(np.median(ys))
    cols = xs[ys == row]
    h, w = gt.shape
    return Stroke(tuple(((c + 0.5) / w, (row + 0.5) / h) for c in np.linspace(cols.min() + 1, cols.max() - 1, 8)), 1)


def bench_size(args, size: int, nets: Networks) -> dict:
    from fastapi.testclient import TestClient

    from evolve.apps.annotate.server import create_app

    ws = open_workspace(args.data)
    state = AnnotateState(ws, Path("/tmp/bench_annotate_out"), StateConfig(size=size), nets)
    _, load_wall, load_cpu = timed(lambda: (state.open_sequence(args.sequence), state.wait(3600)))
    assert state.job is not None and state.job.status == "done", state.job
    st = state.sequences[args.sequence]
    loaded = st.loaded
    session = state.session(args.sequence)
    obj = session.add_object()
    stroke = gt_stroke(Path(args.data), args.sequence, loaded.stems[0])
    # interaction network on one frame (one object), as the server's interact job runs it
    rgb, voxel = session.frames.frame(0)
    inter = []
    for r in range(args.repeats + 1):
        _, wall, cpu = timed(lambda: nets.interactor.run(rgb, voxel, [Stroke(stroke.points, obj)], [obj], None))
        if r > 0:  # the first run warms up
            inter.append((wall, cpu))
    # propagation forward over --frames frames
    session.add_strokes(0, [stroke])
    session.interact()
    count = [0]
    result, prop_wall, prop_cpu = timed(lambda: session.propagate(
        "forward", progress=lambda d, n, f: count.__setitem__(0, d), cancel=lambda: count[0] >= args.frames))
    done = result.frames_done
    # the pictures the page fetches for a frame
    client = TestClient(create_app(state))
    pics = {}
    for name, url in (("frame JPEG", f"/api/seq/{args.sequence}/frame/1?view=frame"), ("events PNG", f"/api/seq/{args.sequence}/frame/1?view=events"),
                      ("mask PNG", f"/api/seq/{args.sequence}/mask/1")):
        walls = []
        for _ in range(args.repeats):
            r, wall, _ = timed(lambda: client.get(url))
            assert r.status_code == 200
            walls.append(wall)
        pics[name] = round(1000 * statistics.median(walls), 1)
    return {
        "working_size": f"{loaded.size[1]}x{loaded.size[0]}", "frames_in_sequence": loaded.num_frames,
        "load_s": round(load_wall, 2), "load_cpu_s": round(load_cpu, 2),
        "interaction_ms_median": round(1000 * statistics.median(w for w, _ in inter), 1),
        "interaction_cpu_ms_median": round(1000 * statistics.median(c for _, c in inter), 1),
        "interaction_runs": len(inter),
        "propagation_frames": done, "propagation_s": round(prop_wall, 2), "propagation_cpu_s": round(prop_cpu, 2),
        "propagation_frames_per_s": round(done / prop_wall, 3), "page_picture_ms_median": pics,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default="/work/data/lle_davis2016", help="converted DAVIS 2016 (LLE-DAVIS layout)")
    ap.add_argument("--sequence", default="blackswan")
    ap.add_argument("--sizes", type=int, nargs="+", default=[480, 240], help="working sizes (shorter side)")
    ap.add_argument("--frames", type=int, default=8, help="frames to propagate")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--weights", help="EVOLVE weights (default: random); with --interaction-weights")
    ap.add_argument("--interaction-weights")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "annotate_cpu")
    ap.add_argument("--render", action="store_true", help="only rewrite the .md from the .json of an earlier run")
    args = ap.parse_args()
    if args.render:
        write_markdown(json.loads(args.out.with_suffix(".json").read_text()), args.out.with_suffix(".md"), args.repeats)
        return
    device = torch.device("cpu")
    load_before = os.getloadavg()
    nets = load_networks(args.weights, args.interaction_weights, device=device) if args.weights else random_networks(device)
    rows = [bench_size(args, s, nets) for s in args.sizes]
    load_after = os.getloadavg()
    out = {
        "command": "OMP_NUM_THREADS=%s python scripts/bench_annotate.py %s" % (os.environ.get("OMP_NUM_THREADS", "unset"), " ".join(sys.argv[1:])),
        "machine": machine_info(), "torch_threads": torch.get_num_threads(),
        "load_average_before": [round(x, 2) for x in load_before], "load_average_after": [round(x, 2) for x in load_after],
        "networks": nets.description, "data": f"{args.data} / {args.sequence}", "rows": rows,
        "commit": _commit(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(args.out.with_suffix(".json"), "w") as f:
        json.dump(out, f, indent=2)
    write_markdown(out, args.out.with_suffix(".md"), args.repeats)


def _commit() -> str:
    """The checkout's commit (``git rev-parse --short HEAD``; "unknown" outside a git checkout)."""
    import subprocess

    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def write_markdown(out: dict, path: Path, repeats: int) -> None:
    """The result table (also ``--render``: from the JSON of an earlier run, no measurement)."""
    m = out["machine"]
    lines = [
        "# evolve-annotate latency (CPU)", "",
        f"Command: `{out['command']}`, commit `{out.get('commit', 'not recorded')}`  ",
        f"Machine: {m['cpu']}, {m['logical_cpus']} logical CPUs, torch {m['torch']}, Python {m['python']}; torch threads {out['torch_threads']}.  ",
        f"**Load average** (1, 5, 15 min) before: {out['load_average_before']}, after: {out['load_average_after']}. "
        + ("Nothing else ran: wall and CPU time agree.  " if out["load_average_before"][0] < 1.0 else
           "The 2 cores are shared with other jobs, so **wall times are inflated** by the load; the process's CPU time (one "
           "thread) is what the same step costs on an idle core.  "),
        f"Networks: {out['networks']}. Data: {out['data']} (854x480, 1 object).", "",
        "| working size | interaction network, one frame, 1 object: wall / CPU (ms, median) | propagation: frames/s wall / frames per CPU-second | "
        "propagated frames: wall / CPU (s) | reading the sequence: wall / CPU (s) | page pictures per frame, wall (ms: frame JPEG / events PNG / mask PNG) |",
        "|---|---|---|---|---|---|",
    ]
    for r in out["rows"]:
        p = r["page_picture_ms_median"]
        per_cpu = r["propagation_frames"] / r["propagation_cpu_s"] if r["propagation_cpu_s"] else float("nan")
        lines.append(f"| {r['working_size']} | {r['interaction_ms_median']} / {r['interaction_cpu_ms_median']} | "
                     f"{r['propagation_frames_per_s']} / {per_cpu:.2f} | {r['propagation_frames']} frames in {r['propagation_s']} / {r['propagation_cpu_s']} | "
                     f"{r['load_s']} / {r['load_cpu_s']} ({r['frames_in_sequence']} frames) | {p['frame JPEG']} / {p['events PNG']} / {p['mask PNG']} |")
    lines += ["", "Interaction: `Interactor.run` on frame 0 with a positive scribble from the ground truth (first of "
              f"{repeats + 1} runs dropped as warm-up). Propagation: `InteractiveSession.propagate('forward')` from frame 0 "
              "(EVOLVE memory, every annotated frame permanent), stopped after the frames counted. Reading: frames + event chunks -> "
              "voxel grids at the working size (the server's load job). Page pictures: one request each through the FastAPI app."]
    with atomic_open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
