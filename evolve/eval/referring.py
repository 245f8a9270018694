"""Referring VOS protocols: Ref-DAVIS scoring as SgMg does it next to per-expression J&F
(docs/referring.md "Protocols").

For every video of a split and every expression of it, each method gives a foreground
probability per frame:

- ``sgmg``: SgMg per frame (:func:`evolve.inference.referring.sgmg_per_frame`);
- ``propagate``: SgMg's best key frame propagated by EVOLVE's memory
  (:func:`evolve.inference.referring.detect_then_propagate`);
- ``largest``: a prompt-blind baseline: the ground-truth mask of the video's largest object
  (largest mean area over the frames), whatever the expression says. Its segmentation is
  perfect, so it scores what ignoring the sentence is worth.

Two scores per method:

1. **Ref-DAVIS (unsupervised-mode J&F, averaged over expression sets)** - SgMg's protocol. The
   expressions of one set (Ref-DAVIS: one annotator file; procedural: see
   :func:`evolve.data.referring.procedural_expression_sets`) are combined into one id mask per
   frame (:func:`evolve.eval.unsupervised.combine_expression_masks`), scored with the DAVIS
   unsupervised protocol (:func:`evolve.eval.unsupervised.unsupervised_sequence`: Hungarian
   assignment, all frames, void ignored), and the sets' J&F are averaged. For Ref-DAVIS the
   ground-truth objects are the DAVIS rule's ``1..max(first frame)``; for the procedural set
   they are the objects the set refers to (a set need not mention every object).
2. **Per-expression J&F (semi-supervised style)** - each expression's thresholded mask against
   its object's ground truth, J and F on every frame (no mask is given, so no frame is
   skipped; void counts as background as in the semi-supervised code), Mean over frames,
   then the mean over expressions (all, held-out only, and per kind).

Outputs in ``out_dir``: ``per_expression.csv``, ``ref_davis_sets.csv``, ``summary.json`` and
``summary.md``; with ``save_masks``, ``<method>/Annotations/<video>/<exp_id>/<frame>.png``
(the Ref-YouTube-VOS submission layout).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from evolve.data.image_io import davis_palette, read_frame, read_mask, write_mask
from evolve.data.layout import DatasetLayout, index_sequence
from evolve.data.referring import ReferringExpression, find_expression_source
from evolve.data.referring_clips import load_expressions
from evolve.data.video_reader import resized_size
from evolve.data.voxel import DEFAULT_NUM_BINS, frame_voxel_grid
from evolve.eval.metrics import BOUND_TH, boundary_tolerance, frame_scores
from evolve.eval.results import EvaluationResult
from evolve.eval.statistics import statistics
from evolve.eval.unsupervised import combine_expression_masks, unsupervised_sequence
from evolve.inference.referring import FrameFeatureCache, ReferringVideo, choose_key_frame, propagate_from_key, sgmg_per_frame
from evolve.utils.atomic import atomic_open
from evolve.utils.errors import InputError

log = logging.getLogger("evolve.eval")

METHODS = ("sgmg", "propagate", "largest")
PER_EXPRESSION_CSV = "per_expression.csv"
SETS_CSV = "ref_davis_sets.csv"


@dataclass
class ReferringEvalConfig:
    """Protocol settings.

    Attributes:
        methods: which of :data:`METHODS` to run (``propagate`` needs an EVOLVE core).
        threshold: foreground threshold of the probabilities (SgMg 0.5).
        clip_len: SgMg clip length at inference (SgMg 36).
        size: shorter side the networks see (-1 = native); outputs are resized back.
        num_bins: voxel-grid bins of the data.
        save_masks: write every method's masks (Ref-YouTube-VOS layout).
        max_videos: evaluate only the first N videos (0 = all).
        bound_th: boundary tolerance of F.
    """

    methods: tuple[str, ...] = METHODS
    threshold: float = 0.5
    clip_len: int = 36
    size: int = -1
    num_bins: int = DEFAULT_NUM_BINS
    save_masks: bool = False
    max_videos: int = 0
    bound_th: float = BOUND_TH


@dataclass
class ExpressionScore:
    """Per-expression result of one method: J-Mean and F-Mean over all frames, key frame."""

    method: str
    expression: ReferringExpression
    j: float
    f: float
    key_frame: Optional[int] = None

    @property
    def jf(self) -> float:
        return (self.j + self.f) / 2.0


@dataclass
class ReferringVideoData:
    """One evaluation video: the network inputs and the ground truth at the original size."""

    name: str
    frame_names: list[str]
    video: ReferringVideo
    gt: np.ndarray  # (T, H, W) uint8 ids, 255 void
    original_size: tuple[int, int]


def read_referring_video(layout: DatasetLayout, seq: str, size: int = -1, num_bins: int = DEFAULT_NUM_BINS, with_reverse: bool = True) -> ReferringVideoData:
    """Frames, voxel grids of both playback directions and every frame's ground truth.

    Raises:
        InputError: frames of different sizes, a frame without a mask, unreadable files.
    """
    files = index_sequence(layout, seq)
    frames, fwd, bwd, gts = [], [], [], []
    size0 = None
    for i, stem in enumerate(files.frames):
        rgb = read_frame(files.frame_files[i])
        hw = rgb.shape[:2]
        if size0 is None:
            size0 = hw
        elif hw != size0:
            raise InputError(files.frame_files[i], f"frame is {hw[1]}x{hw[0]}, the sequence's first {size0[1]}x{size0[0]}", "give every frame one size")
        mpath = files.mask_files.get(stem)
        if mpath is None:
            raise InputError(layout.mask_folder(seq) / f"{stem}.png", "frame has no ground-truth mask",
                             "referring evaluation scores every frame: give every frame's mask")
        gt = read_mask(mpath)[0]
        if gt.shape != hw:
            raise InputError(mpath, f"mask is {gt.shape[1]}x{gt.shape[0]}, frame {hw[1]}x{hw[0]}", "masks must have the size of their frame")
        gts.append(gt)
        frames.append(torch.from_numpy(rgb).permute(2, 0, 1).float().div_(255.0))
        fwd.append(frame_voxel_grid(files, i, hw, num_bins))
        if with_reverse:
            bwd.append(frame_voxel_grid(files, i, hw, num_bins, reverse=True))
    assert size0 is not None
    rgb_t = torch.stack(frames)
    fwd_t = torch.stack(fwd)
    bwd_t = torch.stack(bwd) if with_reverse else None
    out_size = resized_size(size0, size)
    if out_size != size0:
        rgb_t = F.interpolate(rgb_t, size=out_size, mode="bilinear", align_corners=False, antialias=True).clamp_(0, 1)
        fwd_t = F.interpolate(fwd_t, size=out_size, mode="nearest")
        bwd_t = F.interpolate(bwd_t, size=out_size, mode="nearest") if bwd_t is not None else None
    video = ReferringVideo(rgb_t, fwd_t if files.has_events else None, bwd_t if files.has_events else None)
    return ReferringVideoData(seq, list(files.frames), video, np.stack(gts), size0)


def largest_object_prob(gt: np.ndarray) -> np.ndarray:
    """The prompt-blind baseline: float32 (T, H, W) mask of the object with the largest mean
    area over the frames (ties: the smaller id); zeros when there is none."""
    ids = [int(v) for v in np.unique(gt) if v not in (0, 255)]
    if not ids:
        return np.zeros(gt.shape, dtype=np.float32)
    areas = [(gt == k).sum() for k in ids]
    best = ids[int(np.argmax(areas))]
    return (gt == best).astype(np.float32)


def expression_jf(gt: np.ndarray, pred: np.ndarray, object_id: int, radius: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame J and F (T,) of one expression: ``pred`` bool (T, H, W) against ``gt == object_id``
    (void = background, the semi-supervised rule)."""
    t = gt.shape[0]
    j, f = np.empty(t), np.empty(t)
    for i in range(t):
        jj, ff = frame_scores((gt[i] == object_id).astype(np.uint8), pred[i].astype(np.uint8), [1], radius)
        j[i], f[i] = jj[0], ff[0]
    return j, f


def _to_original(prob: torch.Tensor, size: tuple[int, int]) -> np.ndarray:
    if tuple(prob.shape[-2:]) != size:
        prob = F.interpolate(prob[:, None].float(), size=size, mode="bilinear", align_corners=False)[:, 0]
    return prob.float().numpy()


def run_referring(
    layout: DatasetLayout,
    split: str | os.PathLike | None,
    out_dir: str | os.PathLike,
    sgmg: Optional[torch.nn.Module] = None,
    core: Any = None,
    config: ReferringEvalConfig | None = None,
    device: torch.device | str = "cpu",
    progress: bool = True,
) -> dict[str, Any]:
    """Run the methods on a split and score them (module docstring).

    Args:
        layout: the dataset (its root carries the expressions).
        split: split name or file.
        out_dir: where the CSVs, the summary and the masks go.
        sgmg: the SgMg network (eval mode, on ``device``), needed for ``sgmg`` and ``propagate``.
        core: an :class:`~evolve.inference.inference_core.InferenceCore` (``propagate``).
        config: :class:`ReferringEvalConfig`.
    Returns:
        The summary (also in ``summary.json``): per method the per-expression J&F (all,
        held-out, per kind) and the Ref-DAVIS J&F (mean over sets).
    Raises:
        InputError: a method without its network, bad data (see :func:`read_referring_video`).
    """
    from tqdm import tqdm

    cfg = config or ReferringEvalConfig()
    unknown = [m for m in cfg.methods if m not in METHODS]
    if unknown:
        raise InputError(None, f"unknown referring methods {unknown}", f"use some of {list(METHODS)}")
    if ("sgmg" in cfg.methods or "propagate" in cfg.methods) and sgmg is None:
        raise InputError(None, "methods sgmg/propagate need the SgMg network", "pass SgMg weights, or run only the 'largest' baseline")
    if "propagate" in cfg.methods and core is None:
        raise InputError(None, "method 'propagate' needs an EVOLVE network for the memory", "pass EVOLVE weights, or drop 'propagate'")
    out = Path(out_dir)
    sequences, exps = load_expressions(layout, split)
    exps = [e for e in exps if e.object_id is not None]
    by_video: dict[str, list[ReferringExpression]] = defaultdict(list)
    for e in exps:
        by_video[e.video].append(e)
    videos = [s for s in sequences if s in by_video]
    if cfg.max_videos > 0:
        videos = videos[: cfg.max_videos]
    ref_davis_rule = find_expression_source(layout.root) == "ref_davis"
    rows: list[ExpressionScore] = []
    set_scores: dict[str, dict[int, list]] = {m: defaultdict(list) for m in cfg.methods}
    seconds = defaultdict(float)
    palette = davis_palette()
    if core is not None:  # frame features shared by the expressions of a video
        from evolve.inference.inference_core import InferenceCore

        frame_cache = FrameFeatureCache(core.network)
        core = InferenceCore(frame_cache, core.config, core.device)
    for name in tqdm(videos, desc="referring", unit="video", disable=not progress):
        if core is not None:
            frame_cache.clear()
        data = read_referring_video(layout, name, cfg.size, cfg.num_bins, with_reverse="propagate" in cfg.methods)
        h, w = data.original_size
        radius = boundary_tolerance(h, w, cfg.bound_th)
        probs: dict[str, list[np.ndarray]] = {m: [] for m in cfg.methods}
        visual_cache: dict = {}  # backbone features of the video, shared by its expressions
        for e in by_video[name]:
            key = None
            sgmg_prob = None
            if "sgmg" in cfg.methods or "propagate" in cfg.methods:
                t0 = time.perf_counter()
                p, scores = sgmg_per_frame(sgmg, data.video, e.text, cfg.clip_len, device, visual_cache)
                seconds["sgmg"] += time.perf_counter() - t0
                key = choose_key_frame(p, scores, cfg.threshold)
                sgmg_prob = p
            for m in cfg.methods:
                if m == "sgmg":
                    prob = _to_original(sgmg_prob, (h, w))
                elif m == "propagate":
                    t0 = time.perf_counter()
                    if key is None:
                        prob = np.zeros((len(data.frame_names), h, w), dtype=np.float32)
                    else:
                        prop = propagate_from_key(core, data.video, key, sgmg_prob[key] >= cfg.threshold)
                        prob = _to_original(prop, (h, w))
                    seconds["propagate"] += time.perf_counter() - t0
                else:
                    prob = largest_object_prob(data.gt)
                probs[m].append(prob)
                j, f = expression_jf(data.gt, prob >= cfg.threshold, int(e.object_id), radius)
                rows.append(ExpressionScore(m, e, float(j.mean()), float(f.mean()), key if m != "largest" else None))
                if cfg.save_masks:
                    folder = out / m / "Annotations" / name / e.exp_id
                    for stem, frame in zip(data.frame_names, prob >= cfg.threshold):
                        write_mask(folder / f"{stem}.png", frame.astype(np.uint8), palette)
        # Ref-DAVIS protocol per expression set
        sets: dict[int, list[int]] = defaultdict(list)
        for k, e in enumerate(by_video[name]):
            sets[e.expression_set].append(k)
        for m in cfg.methods:
            for s, members in sorted(sets.items()):
                stack = np.stack([probs[m][k] for k in members])  # (K, T, H, W)
                pred = combine_expression_masks(stack, cfg.threshold)
                objects = None if ref_davis_rule else sorted({int(by_video[name][k].object_id) for k in members})
                result = unsupervised_sequence(name, data.gt, pred, data.frame_names, objects, bound_th=cfg.bound_th)
                set_scores[m][s].append(result.scores)
    summary = _summarise(rows, set_scores, cfg.methods, videos, seconds)
    _write_outputs(out, rows, set_scores, summary)
    return summary


def _mean_jf(items: Sequence[ExpressionScore]) -> dict[str, float] | None:
    if not items:
        return None
    j = float(np.mean([r.j for r in items]))
    f = float(np.mean([r.f for r in items]))
    return {"J&F": (j + f) / 2, "J": j, "F": f, "count": len(items)}


def _summarise(rows, set_scores, methods, videos, seconds) -> dict[str, Any]:
    summary: dict[str, Any] = {"videos": len(videos), "methods": {}}
    for m in methods:
        mine = [r for r in rows if r.method == m]
        kinds = sorted({r.expression.kind for r in mine})
        per_set = {}
        for s, seqs in sorted(set_scores[m].items()):
            res = EvaluationResult.from_sequences(seqs)
            per_set[str(s)] = {"J&F": res.jf_mean, "J": res.j.mean, "F": res.f.mean, "objects": len(res.objects)}
        ref = None
        if per_set:
            ref = {k: float(np.mean([v[k] for v in per_set.values()])) for k in ("J&F", "J", "F")}
            ref["sets"] = len(per_set)
        summary["methods"][m] = {
            "per_expression": _mean_jf(mine),
            "per_expression_held_out": _mean_jf([r for r in mine if r.expression.held_out]),
            "per_expression_by_kind": {k: _mean_jf([r for r in mine if r.expression.kind == k]) for k in kinds if k},
            "ref_davis": ref,
            "ref_davis_sets": per_set,
            "seconds": round(seconds.get(m, 0.0), 2),
        }
    return summary


def format_summary(summary: dict[str, Any]) -> str:
    """The summary as a Markdown table (J&F in percent)."""
    lines = ["| method | J&F per expression | held-out | Ref-DAVIS J&F (sets) |", "|---|---|---|---|"]
    for m, s in summary["methods"].items():
        pe = s["per_expression"]
        ho = s["per_expression_held_out"]
        rd = s["ref_davis"]
        lines.append(
            f"| {m} | {100 * pe['J&F']:.1f} ({pe['count']}) | " + (f"{100 * ho['J&F']:.1f} ({ho['count']})" if ho else "-")
            + " | " + (f"{100 * rd['J&F']:.1f} ({rd['sets']})" if rd else "-") + " |"
        )
    return "\n".join(lines) + "\n"


def _write_outputs(out: Path, rows, set_scores, summary) -> None:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["method", "video", "exp_id", "object_id", "kind", "held_out", "expression", "J-Mean", "F-Mean", "J&F-Mean", "key_frame"])
    for r in rows:
        e = r.expression
        w.writerow([r.method, e.video, e.exp_id, e.object_id, e.kind, int(e.held_out), e.text, f"{r.j:.4f}", f"{r.f:.4f}", f"{r.jf:.4f}",
                    "" if r.key_frame is None else r.key_frame])
    out.mkdir(parents=True, exist_ok=True)
    with atomic_open(out / PER_EXPRESSION_CSV, "w") as fh:
        fh.write(buf.getvalue())
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["method", "set", "objects", "J&F-Mean", "J-Mean", "F-Mean"])
    for m, sets in summary["methods"].items():
        for s, v in sets["ref_davis_sets"].items():
            w.writerow([m, s, v["objects"], f"{v['J&F']:.4f}", f"{v['J']:.4f}", f"{v['F']:.4f}"])
    with atomic_open(out / SETS_CSV, "w") as fh:
        fh.write(buf.getvalue())
    with atomic_open(out / "summary.json", "w") as fh:
        fh.write(json.dumps(summary, indent=2))
    with atomic_open(out / "summary.md", "w") as fh:
        fh.write(format_summary(summary))
