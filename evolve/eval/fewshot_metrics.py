"""Few-shot motion VOS metrics (MOVE protocol, Ying et al., ICCV 2025; docs/fewshot.md).

Per episode the prediction is one label map per query frame: 0 background, ``n + 1`` way ``n``.
For every way whose target is present in the query (some ground-truth pixel on some frame):

- ``J`` = mean over the query frames of the region similarity of the way's ground-truth mask
  and the pixels labelled ``n + 1``; ``F`` the same with the boundary measure. Both are the
  project's DAVIS J and F (:mod:`evolve.eval.metrics`; empty vs empty scores 1);
- fg IoU / bg IoU = mean over frames of the IoU of all-foreground (any way) / background of
  prediction and ground truth (the same episode value is added to each present way).

Scores are accumulated **per motion category** and the reported J, F, J&F, fg and bg IoU are
the means over the categories that occurred (class-balanced, MOVE's ``evaluate.py``), not over
objects as DAVIS does; the object-averaged J&F is reported next to it.

- **T-acc**: share of target-present episodes (some way present) whose prediction has any
  foreground (MOVE's definition); **T-acc per target**: share of present (episode, way) pairs
  whose way has any predicted pixel.
- **N-acc**: share of target-absent episodes (no way present) predicted entirely background.

MOVE's released evaluation writes way ``n`` as label ``n`` (so way 0 collides with background);
we score the intended labelling ``n + 1``.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import asdict, dataclass, field
from typing import Optional, Sequence

import numpy as np

from evolve.eval.metrics import BOUND_TH, boundary_tolerance, object_frame_scores


@dataclass
class WayScore:
    """Scores of one way of one episode.

    Attributes:
        episode: episode index. way: way index n. category: motion class name.
        present: the way's target is in the query. predicted: some pixel is labelled ``n + 1``.
        j, f: mean over frames (NaN when the way is absent: not scored).
        fg_iou, bg_iou: the episode's foreground / background IoU (mean over frames).
        presence_logit: the method's presence logit for the way (NaN when it has none).
    """

    episode: int
    way: int
    category: str
    present: bool
    predicted: bool
    j: float
    f: float
    fg_iou: float
    bg_iou: float
    presence_logit: float = math.nan


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.count_nonzero(a | b)
    return 1.0 if union == 0 else float(np.count_nonzero(a & b) / union)


def score_episode(pred_labels: np.ndarray, gt_masks: np.ndarray, categories: Sequence[str], episode: int = 0,
                  bound_th: float = BOUND_TH, presence_logits: Optional[Sequence[float]] = None) -> list[WayScore]:
    """Score one episode.

    Args:
        pred_labels: int (T, H, W) predicted label maps (0 background, ``n + 1`` way ``n``).
        gt_masks: bool (N, T, H, W) ground-truth masks of each way.
        categories: the N ways' motion class names.
        episode: index stored in the scores.
        bound_th: boundary tolerance (DAVIS ``bound_th``; radius from the frame diagonal).
        presence_logits: the method's N presence logits, stored with the scores (None: NaN).

    Returns:
        N :class:`WayScore` (one per way; absent ways have NaN J and F).

    Raises:
        ValueError: shapes that do not match, or labels above N.
    """
    pred = np.asarray(pred_labels)
    gt = np.asarray(gt_masks).astype(bool)
    if gt.ndim != 4 or pred.shape != gt.shape[1:] or len(categories) != gt.shape[0]:
        raise ValueError(f"pred {pred.shape}, gt {gt.shape} and {len(categories)} categories do not match (want (T,H,W), (N,T,H,W), N)")
    n_ways = gt.shape[0]
    if presence_logits is not None and len(presence_logits) != n_ways:
        raise ValueError(f"{len(presence_logits)} presence logits for {n_ways} ways")
    if pred.size and (pred.min() < 0 or pred.max() > n_ways):
        raise ValueError(f"labels must be in 0..{n_ways}, got {pred.min()}..{pred.max()}")
    T, H, W = pred.shape
    radius = boundary_tolerance(H, W, bound_th)
    gt_fg = gt.any(axis=0)
    pred_fg = pred > 0
    fg = float(np.mean([_iou(gt_fg[t], pred_fg[t]) for t in range(T)]))
    bg = float(np.mean([_iou(~gt_fg[t], ~pred_fg[t]) for t in range(T)]))
    out = []
    for n in range(n_ways):
        p = pred == n + 1
        present = bool(gt[n].any())
        j = f = math.nan
        if present:
            pairs = [object_frame_scores(gt[n, t], p[t], radius) for t in range(T)]
            j = float(np.mean([a for a, _ in pairs]))
            f = float(np.mean([b for _, b in pairs]))
        logit = math.nan if presence_logits is None else float(presence_logits[n])
        out.append(WayScore(episode, n, str(categories[n]), present, bool(p.any()), j, f, fg, bg, logit))
    return out


@dataclass
class FewShotSummary:
    """The protocol's numbers (fractions in [0, 1]; None where nothing was counted).

    Attributes:
        jf, j, f, fg_iou, bg_iou: class-balanced means (over motion categories).
        jf_object_mean: J&F averaged over present (episode, way) pairs instead.
        t_acc, n_acc, t_acc_target: see the module docstring.
        absent_way_predicted: share of absent (episode, way) pairs given some pixel (the per-way
            false-positive rate behind N-acc).
        presence_auc: area under the ROC curve of the presence logits, present vs absent ways
            (Mann-Whitney U / (n_present * n_absent), ties count 1/2); None without logits or
            without both kinds of ways.
        episodes, present_episodes, absent_episodes, scored_ways: counts.
        per_category: category -> {"J", "F", "J&F", "fg_iou", "bg_iou", "count"}.
    """

    jf: Optional[float]
    j: Optional[float]
    f: Optional[float]
    fg_iou: Optional[float]
    bg_iou: Optional[float]
    jf_object_mean: Optional[float]
    t_acc: Optional[float]
    n_acc: Optional[float]
    t_acc_target: Optional[float]
    episodes: int
    present_episodes: int
    absent_episodes: int
    scored_ways: int
    per_category: dict = field(default_factory=dict)
    absent_way_predicted: Optional[float] = None
    presence_auc: Optional[float] = None

    def to_dict(self) -> dict:
        """A JSON-ready dict."""
        return asdict(self)


def summarise(scores: Sequence[WayScore]) -> FewShotSummary:
    """Aggregate way scores of many episodes (see the module docstring)."""
    by_episode: dict[int, list[WayScore]] = {}
    for s in scores:
        by_episode.setdefault(s.episode, []).append(s)
    t_total = t_ok = n_total = n_ok = 0
    for ways in by_episode.values():
        if any(w.present for w in ways):
            t_total += 1
            t_ok += any(w.predicted for w in ways)
        else:
            n_total += 1
            n_ok += not any(w.predicted for w in ways)
    present = [s for s in scores if s.present]
    cats: dict[str, list[WayScore]] = {}
    for s in present:
        cats.setdefault(s.category, []).append(s)
    per_category = {}
    for c in sorted(cats):
        rows = cats[c]
        j = float(np.mean([r.j for r in rows]))
        f = float(np.mean([r.f for r in rows]))
        per_category[c] = {"J": j, "F": f, "J&F": (j + f) / 2, "fg_iou": float(np.mean([r.fg_iou for r in rows])),
                           "bg_iou": float(np.mean([r.bg_iou for r in rows])), "count": len(rows)}

    def cmean(key: str) -> Optional[float]:
        return float(np.mean([v[key] for v in per_category.values()])) if per_category else None

    j, f = cmean("J"), cmean("F")
    absent = [s for s in scores if not s.present]
    pos = [s.presence_logit for s in present if not math.isnan(s.presence_logit)]
    neg = [s.presence_logit for s in absent if not math.isnan(s.presence_logit)]
    auc = None
    if pos and neg:
        from scipy.stats import mannwhitneyu

        auc = float(mannwhitneyu(pos, neg).statistic / (len(pos) * len(neg)))
    return FewShotSummary(
        jf=None if j is None or f is None else (j + f) / 2, j=j, f=f, fg_iou=cmean("fg_iou"), bg_iou=cmean("bg_iou"),
        jf_object_mean=float(np.mean([(s.j + s.f) / 2 for s in present])) if present else None,
        t_acc=t_ok / t_total if t_total else None, n_acc=n_ok / n_total if n_total else None,
        t_acc_target=float(np.mean([s.predicted for s in present])) if present else None,
        episodes=len(by_episode), present_episodes=t_total, absent_episodes=n_total, scored_ways=len(present),
        per_category=per_category,
        absent_way_predicted=float(np.mean([s.predicted for s in absent])) if absent else None, presence_auc=auc,
    )


CSV_FIELDS = ("episode", "way", "category", "present", "predicted", "J", "F", "fg_iou", "bg_iou", "presence_logit")


def scores_csv_text(scores: Sequence[WayScore]) -> str:
    """One CSV row per (episode, way): ``episode, way, category, present, predicted, J, F,
    fg_iou, bg_iou, presence_logit`` (J and F empty for absent ways, the logit empty for
    methods without one)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_FIELDS)
    for s in scores:
        fmt = lambda v: "" if isinstance(v, float) and math.isnan(v) else f"{v:.6f}"
        w.writerow([s.episode, s.way, s.category, int(s.present), int(s.predicted), fmt(s.j), fmt(s.f), fmt(s.fg_iou), fmt(s.bg_iou), fmt(s.presence_logit)])
    return buf.getvalue()
