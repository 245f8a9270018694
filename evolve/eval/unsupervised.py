"""DAVIS 2017 unsupervised-mode J&F: predictions are proposals, assigned to the ground-truth
objects by the Hungarian method; every frame is scored; void pixels are ignored.

This is the scoring SgMg (Miao et al., ICCV 2023) uses for Ref-DAVIS17: each expression set's
predictions, combined into one id mask per frame, are evaluated with the ``davis2017-evaluation``
``unsupervised`` task (docs/referring.md "Protocols"):

- ground-truth objects: ids ``1..N``, N = the largest id of the first ground-truth frame (or
  the ids given); id 255 marks void pixels;
- proposals: ids ``1..K``, K = the largest predicted id over the frames; more than
  ``max_proposals`` (20) is refused; fewer than N are padded with empty proposals;
- for every (proposal, object) pair and frame, J and F with void pixels removed from both
  masks: J = |P ∩ G \\ V| / |P ∪ G \\ V| and F on the boundaries of ``P \\ V`` and ``G \\ V``
  (empty-empty gives 1, as in the semi-supervised measures of :mod:`evolve.eval.metrics`);
- the assignment maximises the sum over objects of the pair's mean over frames of (J + F) / 2
  (``scipy.optimize.linear_sum_assignment``), and each object keeps its assigned proposal's
  per-frame J and F. Statistics and the global means then follow the semi-supervised code
  (object-weighted means, :class:`~evolve.eval.results.EvaluationResult`).

One difference from the official output, which does not change any mean: the official code
lists the assigned pairs in proposal order under the names ``<seq>_1..N``; here object ``n``'s
row is the object with ground-truth id ``n``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

from evolve.eval.metrics import BOUND_TH, boundary_tolerance, object_frame_scores
from evolve.eval.results import SequenceScores
from evolve.utils.errors import InputError

VOID_ID = 255
MAX_PROPOSALS = 20


def void_frame_scores(gt: np.ndarray, pred: np.ndarray, void: Optional[np.ndarray], radius: int) -> tuple[float, float]:
    """J and F of one object in one frame with void pixels ignored (DAVIS ``db_eval_iou`` and
    ``f_measure`` with ``void_pixels``).

    Removing the void pixels from both masks gives exactly the official numbers: the
    intersection and union outside the void are those of the masks without it, and the
    official F takes the boundaries of ``mask * not void``.

    Args:
        gt, pred: bool (H, W) masks of the object and the proposal.
        void: bool (H, W) void pixels, or None.
        radius: boundary tolerance in pixels.
    Returns:
        ``(J, F)`` floats in [0, 1].
    """
    if void is not None:
        keep = ~void
        gt, pred = gt & keep, pred & keep
    return object_frame_scores(gt, pred, radius)


@dataclass(frozen=True)
class UnsupervisedScores:
    """The Hungarian assignment of one sequence and its per-frame scores.

    Attributes:
        scores: per-frame J and F of each ground-truth object under its assigned proposal
            (``SequenceScores.object_ids`` are the ground-truth ids, ``frames`` all frames).
        assignment: ground-truth id -> assigned proposal id (0 = a padding proposal, i.e. the
            object was matched to nothing).
        pair_jf: float64 (K', N) mean over frames of (J + F) / 2 for every proposal (rows,
            ids 1..K' after padding) and object (columns): the assignment's profit matrix.
    """

    scores: SequenceScores
    assignment: dict[int, int]
    pair_jf: np.ndarray


def unsupervised_sequence(
    name: str,
    gt: np.ndarray,
    pred: np.ndarray,
    frames: Optional[Sequence[str]] = None,
    object_ids: Optional[Sequence[int]] = None,
    max_proposals: int = MAX_PROPOSALS,
    bound_th: float = BOUND_TH,
    void_id: Optional[int] = VOID_ID,
) -> UnsupervisedScores:
    """Unsupervised-mode J and F of one sequence (module docstring).

    Args:
        name: sequence name.
        gt: integer (T, H, W) ground-truth ids (0 background, ``void_id`` void).
        pred: integer (T, H, W) proposal ids (0 background), every frame.
        frames: frame names (default ``"00000"``...).
        object_ids: ground-truth objects to score; None = ``1..max(gt[0])`` (DAVIS rule).
        max_proposals: the most proposals accepted (DAVIS: 20).
        bound_th: boundary tolerance (fraction of the diagonal, or pixels if >= 1).
        void_id: ground-truth id of void pixels, or None (no void).
    Returns:
        :class:`UnsupervisedScores`.
    Raises:
        InputError: shapes differ, no ground-truth object, or more than ``max_proposals`` proposals.
    """
    gt = np.asarray(gt)
    pred = np.asarray(pred)
    if gt.ndim != 3 or gt.shape != pred.shape:
        raise InputError(None, f"sequence {name!r}: ground truth {gt.shape} and prediction {pred.shape} must both be (T, H, W)",
                         "give one mask per frame at the ground-truth resolution")
    t, h, w = gt.shape
    void = (gt == void_id) if void_id is not None else np.zeros(gt.shape, dtype=bool)
    gt_clean = np.where(void, 0, gt)
    if object_ids is None:
        n = int(gt_clean[0].max(initial=0))
        object_ids = list(range(1, n + 1))
    object_ids = [int(o) for o in object_ids]
    if not object_ids:
        raise InputError(None, f"sequence {name!r}: no ground-truth object to score", "score sequences whose first frame has an object, or pass object_ids")
    k = int(pred.max(initial=0))
    if k > max_proposals:
        raise InputError(None, f"sequence {name!r}: {k} proposals, more than the {max_proposals} the unsupervised protocol allows",
                         f"write at most {max_proposals} object ids per frame")
    k_padded = max(k, len(object_ids))
    radius = boundary_tolerance(h, w, bound_th)
    j = np.empty((k_padded, len(object_ids), t))
    f = np.empty((k_padded, len(object_ids), t))
    for ti in range(t):
        v = void[ti]
        for ni, obj in enumerate(object_ids):
            g = gt_clean[ti] == obj
            for ki in range(k_padded):
                j[ki, ni, ti], f[ki, ni, ti] = void_frame_scores(g, pred[ti] == ki + 1, v, radius)
    pair = (j.mean(axis=2) + f.mean(axis=2)) / 2.0  # (K', N)
    rows, cols = linear_sum_assignment(-pair)
    proposal_of = {int(c): int(r) for r, c in zip(rows, cols)}
    j_out = np.stack([j[proposal_of[ni], ni] for ni in range(len(object_ids))])  # (N, T)
    f_out = np.stack([f[proposal_of[ni], ni] for ni in range(len(object_ids))])
    assignment = {obj: (proposal_of[ni] + 1 if proposal_of[ni] < k else 0) for ni, obj in enumerate(object_ids)}
    names = tuple(frames) if frames is not None else tuple(f"{i:05d}" for i in range(t))
    scores = SequenceScores(name, tuple(object_ids), names, j_out, f_out, (h, w), radius)
    return UnsupervisedScores(scores, assignment, pair)


def combine_expression_masks(probs: np.ndarray, threshold: float = 0.5, background: float = 0.1) -> np.ndarray:
    """One proposal-id mask per frame from the per-expression probabilities of one expression
    set (SgMg's Ref-DAVIS rule): probabilities below ``threshold`` are set to 0, a constant
    ``background`` channel is prepended, and each pixel takes the argmax.

    Args:
        probs: float (K, T, H, W) foreground probabilities of the K expressions.
    Returns:
        uint8 (T, H, W): 0 background, k + 1 where expression k wins.
    """
    p = np.where(probs >= threshold, probs, 0.0)
    bg = np.full((1,) + p.shape[1:], background, dtype=p.dtype)
    return np.argmax(np.concatenate([bg, p], axis=0), axis=0).astype(np.uint8)
