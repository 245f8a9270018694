"""``evolve-eval-referring``: referring VOS on a split, scored with the Ref-DAVIS protocol (SgMg's
unsupervised-mode J&F averaged over expression sets) and per-expression J&F (docs/referring.md).

    evolve-eval-referring --root data/procedural/LLE_DAVIS --split val \\
        --sgmg-weights output/sgmg/sgmg_main_training_last.pth \\
        --evolve-weights output/evolve_proc/evolve_proc_main_training_last.pth --evolve-model small \\
        --out output/referring_val

Writes ``per_expression.csv``, ``ref_davis_sets.csv``, ``summary.json`` and ``summary.md`` into
``--out`` (and the masks with ``--save-masks``; a picture with ``--picture FILE``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Optional, Sequence

from evolve.apps.runner import console_entry, run_program
from evolve.utils.errors import InputError

METHOD_ORDER = ("propagate", "sgmg", "largest")


def _load(model: str, overrides: Sequence[str], weights: str, device, arch: str):
    from evolve.model import registry

    cfg = registry.load_model_config(model, list(overrides))
    if cfg.arch != arch:
        raise InputError(model, f"model config has arch {cfg.arch!r}, expected {arch!r}", f"pass a {arch} model config")
    if not Path(weights).is_file():
        raise InputError(weights, "weights file not found", "give the _last.pth file of the training run")
    return cfg, registry.load_network(cfg, weights, device)


def eval_referring_program(argv: Optional[Sequence[str]] = None) -> int:
    """Run the referring protocols; returns the exit code."""
    p = argparse.ArgumentParser(prog="evolve-eval-referring", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", required=True, help="dataset root (LLE-DAVIS layout by default) carrying the expressions")
    p.add_argument("--layout", default="lle_davis", help="lle_davis | lle_vos | davis (default lle_davis)")
    p.add_argument("--split", default="val", help="split name or split file (default val)")
    p.add_argument("--sgmg-weights", help="SgMg weights (evolve-train task=referring model=sgmg)")
    p.add_argument("--sgmg-model", default="sgmg", help="SgMg model config name or YAML (default sgmg)")
    p.add_argument("--sgmg-set", action="append", default=[], metavar="KEY=VALUE", help="SgMg config override (e.g. events=false)")
    p.add_argument("--evolve-weights", help="EVOLVE weights for the propagation memory")
    p.add_argument("--evolve-model", default="small", help="EVOLVE model config (default small)")
    p.add_argument("--evolve-set", action="append", default=[], metavar="KEY=VALUE", help="EVOLVE config override (e.g. events=false)")
    p.add_argument("--methods", default=None, help="comma list of sgmg, propagate, largest (default: all those the given weights allow)")
    p.add_argument("--out", required=True, help="output folder (CSVs, summary)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda")
    p.add_argument("--size", type=int, default=-1, help="shorter side the networks see (-1 native)")
    p.add_argument("--threshold", type=float, default=0.5, help="mask threshold (0.5)")
    p.add_argument("--clip-len", type=int, default=36, help="SgMg frames per clip at inference (36)")
    p.add_argument("--max-videos", type=int, default=0, help="only the first N videos (0 = all)")
    p.add_argument("--save-masks", action="store_true", help="write masks in the Ref-YouTube-VOS layout <out>/<method>/Annotations/<video>/<exp_id>/")
    p.add_argument("--picture", metavar="FILE", help="also draw the first video's expressions beside their predicted masks (PNG)")
    p.add_argument("--picture-gain", type=float, default=2.0, help="display brightening of the low-light frames in the picture (2)")
    p.add_argument("--picture-scale", type=int, default=2, help="integer upscaling of the frames in the picture (2)")
    p.add_argument("--overwrite", action="store_true", help="write into a folder that already holds a summary")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)

    import torch

    from evolve.data.layout import make_layout
    from evolve.eval.referring import METHODS, ReferringEvalConfig, format_summary, run_referring
    from evolve.utils.devices import resolve_device

    if args.methods:
        methods = tuple(m.strip() for m in args.methods.split(",") if m.strip())
    else:
        methods = tuple(m for m in METHODS if (m == "largest" or (args.sgmg_weights and (m == "sgmg" or args.evolve_weights))))
    bad = [m for m in methods if m not in METHODS]
    if bad or not methods:
        raise InputError(None, f"--methods {args.methods!r} names {bad or 'nothing'}", f"use a comma list of {list(METHODS)}")
    if ("sgmg" in methods or "propagate" in methods) and not args.sgmg_weights:
        raise InputError(None, "methods sgmg/propagate need --sgmg-weights", "pass the SgMg weights, or --methods largest")
    if "propagate" in methods and not args.evolve_weights:
        raise InputError(None, "method propagate needs --evolve-weights (the memory network)", "pass EVOLVE weights, or leave propagate out")
    root = Path(args.root)
    if not root.is_dir():
        raise InputError(root, "dataset root does not exist", "pass the folder holding trainval_480p/ (LLE-DAVIS)")
    out = Path(args.out)
    if (out / "summary.json").exists() and not args.overwrite:
        raise InputError(out, "the folder already holds a referring summary", "pass --overwrite or another --out")
    device = resolve_device(args.device)
    layout = make_layout(args.layout, root)
    sgmg = core = None
    bins = 5
    if args.sgmg_weights:
        scfg, sgmg = _load(args.sgmg_model, args.sgmg_set, args.sgmg_weights, device, "sgmg")
        bins = scfg.event_bins
        if sgmg.needs_vocabulary:
            raise InputError(args.sgmg_weights, "the SgMg weights carry no text vocabulary", "use weights written by evolve-train task=referring")
    if "propagate" in methods:
        from evolve.inference.inference_core import InferenceCore

        _, evolve_net = _load(args.evolve_model, args.evolve_set, args.evolve_weights, device, "evolve")
        core = InferenceCore(evolve_net, device=device)
    cfg = ReferringEvalConfig(methods=methods, threshold=args.threshold, clip_len=args.clip_len, size=args.size, num_bins=bins,
                              save_masks=args.save_masks or bool(args.picture), max_videos=args.max_videos)
    with torch.no_grad():
        summary = run_referring(layout, args.split, out, sgmg=sgmg, core=core, config=cfg, device=device, progress=not args.no_progress)
    print(format_summary(summary))
    print(json.dumps({m: s["per_expression_by_kind"] for m, s in summary["methods"].items()}, indent=1))
    print(f"results in {out}")
    if args.picture:
        method = next(m for m in METHOD_ORDER if m in methods)
        write_picture(layout, args.split, out, method, Path(args.picture), args.picture_gain, scale=args.picture_scale)
        print(f"picture ({method}) in {args.picture}")
    return 0


def write_picture(layout, split, out: Path, method: str, path: Path, gain: float, max_frames: int = 5, max_rows: int = 4, scale: int = 2) -> None:
    """The first video's expressions beside ``method``'s saved masks on its low-light frames."""
    import numpy as np

    from evolve.data.image_io import read_frame, read_mask
    from evolve.data.layout import index_sequence
    from evolve.data.referring_clips import load_expressions
    from evolve.utils.atomic import atomic_open
    from evolve.vis.referring import referring_grid

    sequences, exps = load_expressions(layout, split)
    video = next(s for s in sequences if any(e.video == s for e in exps))
    files = index_sequence(layout, video)
    picks = np.unique(np.linspace(0, len(files) - 1, min(max_frames, len(files))).round().astype(int)).tolist()
    frames = [read_frame(files.frame_files[i]) for i in picks]
    rows = []
    for e in [e for e in exps if e.video == video][:max_rows]:
        folder = out / method / "Annotations" / video / e.exp_id
        rows.append((e.text, [read_mask(folder / f"{files.frames[i]}.png")[0] > 0 for i in picks]))
    picture = referring_grid(frames, rows, gain=gain, scale=scale)
    import cv2

    ok, data = cv2.imencode(".png", picture[:, :, ::-1])
    if not ok:
        raise InputError(path, "could not encode the picture", "check the frames are readable images")
    with atomic_open(path, "wb") as fh:
        fh.write(data.tobytes())


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run :func:`eval_referring_program` under the project's runner; returns the exit code."""
    return run_program(eval_referring_program, argv)


console = console_entry(eval_referring_program)

if __name__ == "__main__":
    raise SystemExit(main())
