"""``evolve-eval-interactive``: the DAVIS interactive protocol over a dataset (docs/interactive.md).

    evolve-eval-interactive dataset=lle_davis2016 model=small weights=<evolve.pth> interaction_weights=<interaction.pth>
    evolve-eval-interactive dataset=lle_davis2016 model=gltm weights=<gltm.pth>

Writes ``rounds.csv`` (per sequence, scribble set, object and round), ``summary.json`` (AUC,
J&F@60s, the curve, the per-round J&F, the machine), ``jf_vs_round.png``, ``jf_vs_time.png``
and, with ``save_rounds``, each round's scribbles and annotated-frame mask, to
``output/<exp_id>/<dataset>/`` (or ``output_dir=``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Optional, Sequence

from omegaconf import OmegaConf

from evolve.apps.eval_interactive_config import EvalInteractiveConfig
from evolve.apps.hydra_app import HydraApp, compose, parse_hydra_args, print_help, resolve_or_error
from evolve.apps.runner import console_entry, run_program
from evolve.utils.errors import InputError

log = logging.getLogger("evolve.eval")

HELP = """\
usage: {prog} dataset=NAME model=small|base|gltm weights=FILE [interaction_weights=FILE] [KEY=VALUE ...] [--cfg job]

Run the DAVIS interactive protocol (robot scribbles on the worst frame, 8 rounds, AUC of J&F
over time and J&F@60s) with the interaction network + EVOLVE memory propagation
(model=small|base, interaction_weights=) or GLTM's own networks (model=gltm).

Choices:
{groups}
  dataset=   lle_davis2016 | lle_davis | lle_vos | demo | generic

Main keys:
  dataset=NAME                       which set (ground truth on every frame is needed)
  model=small|base|gltm              the propagation network (model.events=false: frames only)
  weights=FILE                       its weights
  interaction_model.events=false     the interaction network's config (model=interaction by default)
  interaction_weights=FILE           its weights (with EVOLVE propagation)
  size=N                             working size (shorter side; default: the dataset entry's)
  protocol.max_interactions=8 protocol.max_time_per_object=240 protocol.stop_at_timeout=false
  protocol.min_nb_nodes=4 protocol.scribbles_root=DIR (Scribbles/<seq>/*.json first rounds)
  exp_id=NAME / output_dir=DIR       outputs in output/NAME/<dataset>/ or DIR; overwrite=true
  device=auto|cpu|cuda

Examples:
  {prog} dataset=lle_davis2016 data_root=data size=240 model=small weights=evolve.pth interaction_weights=interaction.pth
  {prog} dataset=lle_davis2016 data_root=data size=240 model=gltm weights=gltm.pth

Every key with its value: {prog} [overrides] --cfg job
"""

APP = HydraApp(prog="evolve-eval-interactive", config_name="eval_interactive_config", schema_name="eval_interactive_schema",
               schema=EvalInteractiveConfig, help_text=HELP)


def run_interactive_evaluation(cfg: Any) -> dict[str, Any]:
    """Run the protocol as configured.

    Everything is checked before the first round: the dataset key and root, the weights files
    and that they fit their configs, the output folder.

    Returns:
        the summary dict (also in ``summary.json``).
    Raises:
        InputError: unknown dataset, missing data or weights, weights of another network, an
            interaction network given with GLTM, or an output folder with results (without
            ``overwrite=true``).
    """

    from evolve.data.layout import make_layout
    from evolve.data.video_reader import VOSTestDataset
    from evolve.data.voxel import DEFAULT_NUM_BINS
    from evolve.eval.interactive.protocol import ProtocolConfig, run_protocol
    from evolve.inference.config import inference_config_from_dict
    from evolve.inference.interactive import EvolvePropagator, GLTMPropagator, InteractiveSession, Interactor, VideoFrames
    from evolve.model import registry
    from evolve.utils.devices import resolve_device
    from evolve.utils.machine import machine_info

    key = str(cfg.dataset).replace("-", "_")
    if key not in cfg.datasets:
        raise InputError(None, f"unknown dataset {cfg.dataset!r}", f"use one of {sorted(cfg.datasets)} or add it under datasets:")
    ds = cfg.datasets[key]
    if not ds.root or not Path(ds.root).is_dir():
        raise InputError(ds.root, f"dataset root of {key!r} does not exist", f"set data_root=... or datasets.{key}.root=<folder>")
    model_cfg = registry.model_config_from_node(cfg.model)
    if not cfg.weights:
        raise InputError(None, "no weights given", "pass weights=<the propagation network's .pth>")
    gltm = model_cfg.arch == "gltm"
    if model_cfg.arch not in ("evolve", "gltm"):
        raise InputError(None, f"model arch {model_cfg.arch!r} cannot propagate", "use model=small|base (EVOLVE) or model=gltm")
    if gltm and cfg.interaction_weights:
        raise InputError(None, "interaction_weights given with model=gltm", "GLTM uses its own A-Net: drop interaction_weights")
    if not gltm and not cfg.interaction_weights:
        raise InputError(None, "no interaction_weights given", "pass interaction_weights=<an arch: interaction .pth> (task=interactive)")
    out_dir = Path(cfg.output_dir) if cfg.output_dir else Path(cfg.output_root) / cfg.exp_id / key
    if (out_dir / "summary.json").exists() and not cfg.overwrite:
        raise InputError(out_dir, "output folder already holds a protocol run", "pass overwrite=true, or another exp_id / output_dir")
    device = resolve_device(cfg.device)
    net = registry.load_network(model_cfg, cfg.weights, device)
    if gltm:
        interactor, events = Interactor(net.anet, device), model_cfg.events
        make_prop = lambda: GLTMPropagator(net, device)  # noqa: E731
        inter_name = "gltm.anet"
    else:
        icfg = registry.model_config_from_node(cfg.interaction_model)
        if icfg.arch != "interaction":
            raise InputError(None, f"interaction_model has arch {icfg.arch!r}", "use the interaction network config (arch: interaction)")
        inet = registry.load_network(icfg, cfg.interaction_weights, device)
        interactor, events = Interactor(inet, device), model_cfg.events or icfg.events
        memory = inference_config_from_dict(OmegaConf.to_container(cfg.inference, resolve=True) if OmegaConf.is_config(cfg.inference) else cfg.inference)
        make_prop = lambda: EvolvePropagator(net, memory, device)  # noqa: E731
        inter_name = f"interaction (events={icfg.events})"
    opts = {k: getattr(ds, k) for k in ("image_dir", "mask_dir", "event_dir", "voxel_dir") if getattr(ds, k)} if ds.layout == "generic" else {}
    layout = make_layout(ds.layout, ds.root, **opts)
    size = ds.size if cfg.size is None else int(cfg.size)
    bins = registry.event_bins(model_cfg) or DEFAULT_NUM_BINS
    dataset = VOSTestDataset(layout, ds.split, size=size, num_bins=bins)
    pcfg = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(ProtocolConfig), cfg.protocol))

    def make_session(reader, object_ids):
        frames = VideoFrames.from_reader(reader, events=events, num_workers=cfg.num_workers)
        return InteractiveSession(frames, interactor, make_prop(), object_ids=object_ids)

    extra = {
        "method": f"{model_cfg.name} ({'GLTM transfer' if gltm else 'EVOLVE memory'}, events={model_cfg.events})",
        "propagation_weights": str(cfg.weights), "interaction": inter_name, "interaction_weights": cfg.interaction_weights,
        "working_size": size, "machine": machine_info(), "device": str(device),
    }
    summary = run_protocol(dataset, make_session, out_dir, pcfg, extra)
    summary["out_dir"] = str(out_dir)
    return summary


def eval_interactive_program(argv: Optional[Sequence[str]] = None) -> int:
    """Parse the command line, compose and check the config, run the protocol; returns the exit code."""
    args = parse_hydra_args(list(argv or []), APP.prog)
    if args.help:
        print_help(APP, args.config_dirs)
        return 0
    cfg = compose(APP, args)
    if args.cfg:
        print(OmegaConf.to_yaml(cfg))
        return 0
    resolve_or_error(cfg, APP.prog)
    s = run_interactive_evaluation(cfg)
    per_round = " ".join(f"{v:.3f}" for v in s["per_round"]["J_AND_F"])
    log.info("J&F per round: %s; AUC %.4f; J&F@%gs %.4f; outputs in %s", per_round, s["auc"], s["metric_at_threshold"]["threshold"],
             s["metric_at_threshold"]["J_AND_F"], s["out_dir"])
    print(f"J&F per round: {per_round}\nAUC {s['auc']:.4f}  J&F@{s['metric_at_threshold']['threshold']:g}s {s['metric_at_threshold']['J_AND_F']:.4f}")
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run :func:`eval_interactive_program` under the project's runner; returns the exit code."""
    return run_program(eval_interactive_program, argv)


console = console_entry(eval_interactive_program)

if __name__ == "__main__":
    raise SystemExit(main())
