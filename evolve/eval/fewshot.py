"""The few-shot motion VOS protocol (MOVE, ICCV 2025; docs/fewshot.md): draw ``num_episodes`` test
episodes of the held-out fold from a seed, predict each, score them with
:mod:`evolve.eval.fewshot_metrics`, and write ``scores.csv`` (one row per episode and way) and
``summary.json`` (class-balanced J&F, J, F, fg/bg IoU, T-acc, N-acc, counts, settings).

Methods:

- ``dma``: the DMA network (:func:`evolve.inference.fewshot.segment_episode`), optionally with
  EVOLVE propagation of the first chunk's prediction (``propagate``).
- ``proposal``: support-blind, trained: the same network's class-agnostic proposal
  (probability > 0.5), every foreground pixel given to one way drawn at random per episode.
- ``moving``: support-blind, oracle segmenter: every moving object of the query (ground truth
  of the generator's records, static distractors excluded), given to one random way.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
import torch

from evolve.data.episodes import EpisodeConfig, EpisodeSampler, load_episode
from evolve.data.motion import MotionSource
from evolve.eval.fewshot_metrics import WayScore, score_episode, scores_csv_text, summarise
from evolve.inference.fewshot import FewShotInferenceConfig, FewShotPrediction, segment_episode, support_blind_labels
from evolve.utils.atomic import atomic_open
from evolve.utils.errors import InputError
from evolve.utils.seeding import numpy_rng

log = logging.getLogger(__name__)

METHODS = ("dma", "proposal", "moving")


@dataclass
class FewShotRun:
    """What one evaluation ran (stored in ``summary.json``)."""

    method: str
    episodes: EpisodeConfig
    inference: FewShotInferenceConfig
    seed: int
    source: str
    extra: dict = field(default_factory=dict)


def run_fewshot(source: MotionSource, episodes: EpisodeConfig, method: str, out_dir: str | os.PathLike,
                network: Optional[torch.nn.Module] = None, inference: Optional[FewShotInferenceConfig] = None,
                seed: int = 0, device: torch.device | str = "cpu", propagator: Any = None,
                on_episode: Optional[Callable[[int, Any, np.ndarray], None]] = None, progress: bool = True,
                extra: Optional[dict] = None) -> dict:
    """Run the protocol and write its files.

    Args:
        source: the motion set (test split).
        episodes: the episode settings (``fold`` is the held-out fold; ``num_episodes``).
        method: ``dma`` | ``proposal`` | ``moving`` (module docstring).
        out_dir: where ``scores.csv`` and ``summary.json`` go (written atomically, last).
        network: a DMA (``dma`` and ``proposal``).
        inference: chunking / merge / propagation settings.
        seed: the episode seed (episode ``i`` is ``sampler.sample(seed, i)``).
        device: where the network runs.
        propagator: an InferenceCore with EVOLVE (``inference.propagate``).
        on_episode: called as ``on_episode(i, episode, labels)`` (pictures).
        progress: show a progress bar.
        extra: more fields for the summary (commands, weights).

    Returns:
        The summary dict (also in ``summary.json``).

    Raises:
        InputError: unknown method, a network missing for ``dma``/``proposal``, sampler and reader
            errors (see :class:`~evolve.data.episodes.EpisodeSampler`, :func:`~evolve.data.episodes.load_episode`).
    """
    if method not in METHODS:
        raise InputError(None, f"method={method!r}", f"use one of {list(METHODS)}")
    if method in ("dma", "proposal") and network is None:
        raise InputError(None, f"method={method} needs DMA weights", "pass weights=<a DMA weights file> or method=moving")
    inference = (inference or FewShotInferenceConfig()).validate()
    sampler = EpisodeSampler(source.catalogue, episodes, "test")
    out = Path(out_dir)
    device = torch.device(device)
    if network is not None:
        network = network.to(device).eval()
    scores: list[WayScore] = []
    from tqdm import tqdm

    t0 = time.perf_counter()
    for i in tqdm(range(episodes.num_episodes), desc=f"fewshot {method}", disable=not progress, dynamic_ncols=True):
        spec = sampler.sample(seed, i)
        ep = load_episode(source, spec, episodes)
        logits = None
        if method == "moving":
            labels = support_blind_labels(ep.moving_masks > 0.5, len(spec.ways), numpy_rng("support-blind", seed, i))
        else:
            pred: FewShotPrediction = segment_episode(network, ep, inference, device, propagator)  # type: ignore[arg-type]
            if method == "proposal":
                labels = support_blind_labels(pred.proposal > 0.5, len(spec.ways), numpy_rng("support-blind", seed, i))
            else:
                labels, logits = pred.labels, pred.cls_logits.tolist()
        lab = labels.numpy()
        scores += score_episode(lab, ep.query_masks.numpy() > 0.5, list(spec.ways), episode=i, presence_logits=logits)
        if on_episode is not None:
            on_episode(i, ep, lab)
    seconds = time.perf_counter() - t0
    summary = summarise(scores).to_dict()
    run = FewShotRun(method, episodes, inference, seed, source.catalogue.name, extra or {})
    summary["run"] = asdict(run)
    summary["seconds"] = round(seconds, 1)
    with atomic_open(out / "scores.csv", "w") as f:
        f.write(scores_csv_text(scores))
    with atomic_open(out / "summary.json", "w") as f:
        json.dump(summary, f, indent=2, default=str)
    return summary
