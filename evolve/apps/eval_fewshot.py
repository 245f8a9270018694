"""``evolve-eval-fewshot <root> <out_dir>``: the few-shot motion VOS protocol (docs/fewshot.md).

Draws ``--episodes`` N-way K-shot test episodes of the held-out ``--fold`` from ``--seed``,
predicts them with DMA (``--method dma``, weights from ``evolve-train task=few_shot``) or a
support-blind baseline (``proposal``: the network's class-agnostic proposal; ``moving``: every
moving object of the records), and writes ``scores.csv`` (per episode and way) and
``summary.json`` (class-balanced J&F, J, F, fg/bg IoU, T-acc, N-acc). ``--propagate`` lets
EVOLVE's memory propagate DMA's first-chunk prediction (``--evolve-weights``). Exit status 2
on bad input, with nothing written.

    evolve-eval-fewshot data/procedural/LLE_DAVIS out/fs --weights output/dma/dma_main_training_last.pth \\
        --fold 0 --ways 2 --shots 1 --episodes 500 --seed 0
"""

from __future__ import annotations

import argparse
import json
import logging
from typing import Optional, Sequence

from evolve.apps.runner import console_entry, run_program

log = logging.getLogger("evolve.fewshot")


def eval_fewshot_program(argv: Optional[Sequence[str]] = None) -> int:
    """Run the protocol; returns the exit code."""
    p = argparse.ArgumentParser(prog="evolve-eval-fewshot", description="Few-shot motion VOS: N-way K-shot episodes, J&F per motion category, T-acc, N-acc.")
    p.add_argument("root", help="the motion set: an LLE-DAVIS root with Procedural/ records, or MOVE's release folder (--layout move)")
    p.add_argument("out_dir", help="where scores.csv, summary.json (and pictures) go")
    p.add_argument("--layout", default="procedural_motion", choices=["procedural_motion", "move"])
    p.add_argument("--split", default=None, help="procedural: the split (default val); move: the grouping default|challenging")
    p.add_argument("--fold", type=int, default=0, help="held-out fold whose classes are tested (0-3)")
    p.add_argument("--ways", type=int, default=2, help="N")
    p.add_argument("--shots", type=int, default=1, help="K")
    p.add_argument("--episodes", type=int, default=500, help="number of test episodes (MOVE: 2500)")
    p.add_argument("--seed", type=int, default=0, help="episode seed")
    p.add_argument("--support-frames", type=int, default=5)
    p.add_argument("--absent-probability", type=float, default=None, help="share of target-absent episodes (default 1/(N+1))")
    p.add_argument("--fine-grained-probability", type=float, default=0.0)
    p.add_argument("--size", type=int, nargs=2, default=None, metavar=("H", "W"), help="resize frames to H W pixels (default native)")
    p.add_argument("--method", default="dma", choices=["dma", "proposal", "moving"])
    p.add_argument("--weights", default=None, help="DMA weights file (dma, proposal)")
    p.add_argument("--model", default="dma", help="model config name or YAML (the one the weights were trained with)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="model config override, e.g. events=false (repeatable)")
    p.add_argument("--chunk", type=int, default=5, help="query frames per DMA pass")
    p.add_argument("--chunk-mode", default="interleaved", choices=["interleaved", "consecutive"])
    p.add_argument("--background", type=float, default=0.5, help="background score of the merge")
    p.add_argument("--presence", default=None, choices=["proposal", "way_masks"],
                   help="presence score from the query pooled under the class-agnostic proposal (paper) or under each way's predicted mask "
                        "(ours); default: `presence` of the model config (--model / --set presence=...)")
    p.add_argument("--propagate", action="store_true", help="seed EVOLVE's memory with the first chunk and propagate the rest")
    p.add_argument("--evolve-weights", default=None, help="EVOLVE weights for --propagate")
    p.add_argument("--evolve-model", default="small", help="EVOLVE model config of --evolve-weights")
    p.add_argument("--pictures", type=int, default=1, help="episode pictures to write (the first episodes), 0 = none")
    p.add_argument("--device", default="cpu", help="cpu | cuda | auto")
    args = p.parse_args(argv)

    from evolve.data.episodes import EpisodeConfig
    from evolve.eval.fewshot import run_fewshot
    from evolve.inference.fewshot import FewShotInferenceConfig
    from evolve.model import registry
    from evolve.training.tasks.few_shot import open_source
    from evolve.utils.devices import resolve_device
    from evolve.utils.errors import InputError

    device = resolve_device(args.device)
    split = args.split if args.split is not None else ("val" if args.layout == "procedural_motion" else "default")
    network = None
    bins = 5
    if args.method in ("dma", "proposal"):
        if not args.weights:
            raise InputError(None, f"--method {args.method} needs --weights", "pass the DMA weights file written by evolve-train task=few_shot, or --method moving")
        model_cfg = registry.load_model_config(args.model, args.overrides)
        if model_cfg.arch != "dma":
            raise InputError(args.model, f"model config is of arch {model_cfg.arch!r}", "pass a DMA config (--model dma)")
        network = registry.load_network(model_cfg, args.weights, device)
        bins = model_cfg.event_bins
    episodes = EpisodeConfig(fold=args.fold, ways=args.ways, shots=args.shots, support_frames=args.support_frames, query_frames=0,
                             absent_probability=args.absent_probability, fine_grained_probability=args.fine_grained_probability,
                             height=args.size[0] if args.size else 0, width=args.size[1] if args.size else 0, num_bins=bins,
                             num_episodes=args.episodes).validate("evolve-eval-fewshot")
    inference = FewShotInferenceConfig(chunk=args.chunk, chunk_mode=args.chunk_mode, background=args.background,
                                       propagate=args.propagate,
                                       presence=args.presence or (model_cfg.presence if network is not None else None)).validate()
    propagator = None
    if args.propagate:
        if args.method != "dma" or not args.evolve_weights:
            raise InputError(None, "--propagate needs --method dma and --evolve-weights", "pass EVOLVE weights (evolve-train task=semi_supervised)")
        from evolve.inference.inference_core import InferenceCore

        evo_cfg = registry.load_model_config(args.evolve_model)
        propagator = InferenceCore(registry.load_network(evo_cfg, args.evolve_weights, device), device=device)
    source = open_source(args.layout, args.root, split)

    pictures: list[tuple[int, object, object]] = []

    def keep(i: int, ep, labels) -> None:
        if i < args.pictures:
            pictures.append((i, ep, labels))

    extra = {"command": "evolve-eval-fewshot " + " ".join(argv or []), "weights": args.weights, "model": args.model, "overrides": args.overrides}
    summary = run_fewshot(source, episodes, args.method, args.out_dir, network=network, inference=inference, seed=args.seed, device=device,
                          propagator=propagator, on_episode=keep, extra=extra)
    if pictures:
        from pathlib import Path

        from evolve.vis.fewshot import episode_picture, write_picture

        for i, ep, labels in pictures:
            write_picture(Path(args.out_dir) / f"episode_{i:04d}.png", episode_picture(ep, labels, title=args.method))
    keys = ("jf", "j", "f", "t_acc", "n_acc", "t_acc_target", "fg_iou", "bg_iou", "jf_object_mean", "absent_way_predicted", "presence_auc", "episodes", "present_episodes", "absent_episodes")
    print(json.dumps({k: summary[k] for k in keys}, indent=1))
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run :func:`eval_fewshot_program` under the project's runner; returns the exit code."""
    return run_program(eval_fewshot_program, argv)


console = console_entry(eval_fewshot_program)

if __name__ == "__main__":
    raise SystemExit(main())
