"""``evolve-eval`` / ``evolve/eval_vos.py``: semi-supervised evaluation (DESIGN 5).

    evolve-eval dataset=<lle_vos|lle_davis|demo|generic|...> weights=<path> model=<small|base>

Runs the streaming inference core over every sequence, writes palette PNGs to
``output/<exp_id>/<dataset>/<seq>/<frame>.png`` (or ``output_dir=``), reports frames/s and peak
memory, then J&F (:mod:`evolve.eval.semi_supervised`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Optional, Sequence

from omegaconf import OmegaConf

from evolve.apps.eval_config import EvalConfig
from evolve.apps.hydra_app import HydraApp, compose, parse_hydra_args, print_help, resolve_or_error
from evolve.apps.runner import console_entry, run_program
from evolve.utils.errors import InputError

log = logging.getLogger("evolve.eval")

HELP = """\
usage: {prog} dataset=NAME weights=FILE model=small|base [KEY=VALUE ...] [--cfg job]

Segment every sequence of a dataset from its first-frame masks with the streaming memory
core, write palette PNGs (input palette kept), report frames/s and peak memory, then J&F with
the official DAVIS 2017 semi-supervised semantics.

Choices:
{groups}
  dataset=   lle_vos | lle_vos_indoor | lle_vos_outdoor | lle_davis | lle_davis2016 | demo | generic

Main keys:
  dataset=NAME                    which set (spelled like the training data= names)
  weights=FILE                    network weights (a _last.pth or _ckpt_last.pth of evolve-train)
  model=small|base                the config the weights were trained with (and model.events=false ...)
  data_root=DIR                   where dataset roots are (default ./data)
  exp_id=NAME / output_dir=DIR    predictions go to output/NAME/<dataset>/ or DIR
  overwrite=true                  write into a folder that already holds predictions
  device=auto|cpu|cuda
  inference.max_internal_size=N   process frames with shorter side N (outputs at full size)
  inference.mem_every=5 inference.top_k=30 inference.use_long_term=true inference.amp=true
  save_overlays=true save_event_pictures=true save_mp4=true     pictures in <output_dir>-vis/
  copy_baseline=true              also score copying the first mask, printed beside the model
  datasets.generic.root=DIR       your own data (image_dir, mask_dir, event_dir name its folders)

Examples:
  {prog} dataset=demo model=small weights=output/demo/demo_main_training_last.pth
  {prog} dataset=lle_davis model=base weights=evolve_base.pth data_root=/data save_overlays=true

Every key with its value: {prog} [overrides] --cfg job
"""

APP = HydraApp(prog="evolve-eval", config_name="eval_config", schema_name="eval_schema", schema=EvalConfig, help_text=HELP, groups=("model",))


def run_evaluation(cfg: Any) -> dict[str, Any]:
    """Segment the configured dataset and (optionally) score it.

    Everything is checked before the first prediction is written: the dataset key, its root
    and split, the weights file and that it fits the model config, the output folder.

    Returns:
        ``{"out_dir", "stats", "jf", "tables"}``.
    Raises:
        InputError: unknown dataset key, missing weights or data, an empty split, weights of
            another network, or an output folder that already holds predictions (without
            ``overwrite=True``).
    """
    from evolve.data.layout import make_layout
    from evolve.data.video_reader import VOSTestDataset
    from evolve.data.voxel import DEFAULT_NUM_BINS
    from evolve.eval.semi_supervised import PictureOptions, has_predictions, run_semi_supervised
    from evolve.inference.config import inference_config_from_dict
    from evolve.model import registry
    from evolve.utils.devices import resolve_device

    key = str(cfg.dataset).replace("-", "_")
    if key not in cfg.datasets:
        raise InputError(None, f"unknown dataset {cfg.dataset!r}", f"use one of {sorted(cfg.datasets)} or add it under datasets: in configs/eval_config.yaml")
    ds = cfg.datasets[key]
    model_cfg = registry.model_config_from_node(cfg.model)
    if not cfg.weights:
        raise InputError(None, "no weights given", "pass weights=<path to a .pth written by evolve-train>")
    if not ds.root or not Path(ds.root).is_dir():
        raise InputError(ds.root, f"dataset root of {key!r} does not exist", f"set data_root=... or datasets.{key}.root=<folder>")
    out_dir = Path(cfg.output_dir) if cfg.output_dir else Path(cfg.output_root) / cfg.exp_id / key
    if has_predictions(out_dir) and not cfg.overwrite:
        raise InputError(out_dir, "output folder already holds predictions", "pass overwrite=true, or another exp_id / output_dir")
    device = resolve_device(cfg.device)
    opts = {k: getattr(ds, k) for k in ("image_dir", "mask_dir", "event_dir", "voxel_dir") if getattr(ds, k)} if ds.layout == "generic" else {}
    layout = make_layout(ds.layout, ds.root, **opts)
    bins = registry.event_bins(model_cfg) or DEFAULT_NUM_BINS
    dataset = VOSTestDataset(layout, ds.split, size=ds.size, num_bins=bins, use_all_masks=ds.use_all_masks)
    net = registry.load_network(model_cfg, cfg.weights, device)
    icfg = inference_config_from_dict(OmegaConf.to_container(cfg.inference, resolve=True) if OmegaConf.is_config(cfg.inference) else cfg.inference)
    if ds.long_term is not None:
        icfg.use_long_term = bool(ds.long_term)
    pictures = PictureOptions(overlays=cfg.save_overlays, event_pictures=cfg.save_event_pictures, mp4=cfg.save_mp4)
    summary = run_semi_supervised(net, dataset, out_dir, icfg, device, cfg.num_workers, pictures, cfg.evaluate, cfg.eval_workers, label=key)
    if cfg.copy_baseline and summary.get("jf"):
        from evolve.eval.baselines import copy_first_mask

        gt_dir = layout.mask_folder(dataset.sequences[0]).parent
        copied = copy_first_mask(gt_dir, out_dir.parent / f"{out_dir.name}-copy_first_mask", dataset.sequences, workers=cfg.eval_workers)
        summary["copy_first_mask"] = copied.global_row()
    return summary


def side_by_side_table(rows: dict[str, dict[str, float]]) -> str:
    """A fixed-width table of global J&F rows, one line per method (model vs baseline)."""
    cols = ["J&F-Mean", "J-Mean", "J-Recall", "J-Decay", "F-Mean", "F-Recall", "F-Decay"]
    width = max(len(name) for name in rows)
    lines = [f"{'method':<{width}}  " + "  ".join(f"{c:>8}" for c in cols)]
    for name, row in rows.items():
        lines.append(f"{name:<{width}}  " + "  ".join(f"{row[c]:>8.3f}" for c in cols))
    return "\n".join(lines)


def eval_program(argv: Optional[Sequence[str]] = None) -> int:
    """Parse the command line, compose and check the config, evaluate; returns the exit code."""
    args = parse_hydra_args(list(argv or []), APP.prog)
    if args.help:
        print_help(APP, args.config_dirs)
        return 0
    cfg = compose(APP, args)
    if args.cfg:
        print(OmegaConf.to_yaml(cfg))
        return 0
    resolve_or_error(cfg, APP.prog)
    summary = run_evaluation(cfg)
    jf = summary.get("jf")
    if summary.get("tables"):
        print(summary["tables"])
    if jf:
        log.info("J&F %.4f (J %.4f, F %.4f); predictions and CSVs in %s", jf["J&F-Mean"], jf["J-Mean"], jf["F-Mean"], summary["out_dir"])
    if jf and summary.get("copy_first_mask"):
        name = f"model ({cfg.model.get('name', 'model')})"
        print("\n" + side_by_side_table({name: jf, "copy first mask": summary["copy_first_mask"]}))
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run :func:`eval_program` under the project's runner; returns the exit code."""
    return run_program(eval_program, argv)


console = console_entry(eval_program)

if __name__ == "__main__":
    raise SystemExit(main())
