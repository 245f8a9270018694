"""Per-query scores and IoUs of a trained SgMg on one video's expressions (a diagnostic).

For each expression: every query's mean score over the video and the IoU of its MSO mask
(threshold 0.5) with the referred object on every frame pooled. If the scores do not change
with the sentence while different queries cover different objects, the class head has not
learned to ground, and choosing the query by score (SgMg's inference rule) is a guess.

    python scripts/sgmg_query_scores.py --root data/procedural_referring/LLE_DAVIS \\
        --weights output/sgmg_ev/sgmg_ev_main_training_last.pth --video proc-r-val-001 [--set num_queries=5]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--root", required=True)
    p.add_argument("--weights", required=True)
    p.add_argument("--video", required=True)
    p.add_argument("--split", default="val")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="SgMg config override")
    p.add_argument("--max-expressions", type=int, default=12)
    args = p.parse_args()

    from evolve.data.layout import lle_davis
    from evolve.data.referring_clips import load_expressions
    from evolve.eval.referring import read_referring_video
    from evolve.model import registry

    cfg = registry.load_model_config("sgmg", args.set)
    net = registry.load_network(cfg, args.weights)
    layout = lle_davis(args.root)
    _, exps = load_expressions(layout, args.split)
    data = read_referring_video(layout, args.video, with_reverse=False)
    h, w = data.original_size
    x, v = net.pad_clip(data.video.frames, data.video.voxels)
    with torch.no_grad():
        visual = net.encode_visual(x, v)
        for e in [e for e in exps if e.video == args.video][: args.max_expressions]:
            out = net(x[None], None if v is None else v[None], [e.text], visual)
            last = out["layers"][-1]
            scores = torch.sigmoid(last["logits"][0].float()).mean(0)  # (Q,)
            gt = data.gt == e.object_id
            ious = []
            for q in range(scores.numel()):
                pred = (torch.sigmoid(net.refine(last["patch"][0, :, q], out["f8"], out["f4"]))[:, :h, :w] > 0.5).numpy()
                ious.append((pred & gt).sum() / max((pred | gt).sum(), 1))
            print(f"{e.text[:44]:44s} scores " + " ".join(f"{float(c):.2f}" for c in scores) + "   IoU " + " ".join(f"{float(i):.2f}" for i in ious))


if __name__ == "__main__":
    main()
