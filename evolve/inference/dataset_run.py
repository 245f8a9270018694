"""Run the inference core over every sequence of a dataset, write palette PNGs, then J&F (DESIGN 5).

Behind ``evolve/eval_vos.py``. Outputs in ``output_dir``:

- ``<seq>/<frame>.png``                 palette masks with the input palette, original resolution
- ``inference_stats.json``              frames, seconds in ``step()``, frames/s, peak memory
- ``global_results.csv``, ``per-sequence_results.csv``   J&F (when ground truth covers every frame)
- ``<output_dir>-vis/<seq>/...``         overlays / event pictures / MP4 when asked
"""

from __future__ import annotations

import json
import logging
import resource
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from omegaconf import DictConfig, OmegaConf

from evolve.data.image_io import write_frame, write_mask
from evolve.data.layout import make_layout
from evolve.data.test_reader import VideoReader, VOSTestDataset
from evolve.inference.config import InferenceConfig
from evolve.inference.inference_core import InferenceCore
from evolve.model import EVOLVE, load_weights
from evolve.model.config import model_config_from_dict
from evolve.model.weights import WeightsMismatchError
from evolve.training.checkpoint import extract_weights, load_file
from evolve.training.distributed import resolve_device
from evolve.utils.atomic import atomic_open
from evolve.utils.errors import InputError

log = logging.getLogger("evolve.eval")


def _peak_memory_mb(device: torch.device) -> tuple[float, str]:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20, "cuda max_memory_allocated"
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return (kb / 1024 if sys.platform != "darwin" else kb / 2**20), "process peak RSS"


def load_network(model_cfg: Any, weights: str, device: torch.device) -> EVOLVE:
    """Build the network of ``model_cfg`` on ``device`` in eval mode and load ``weights``.

    Raises:
        InputError: missing/unreadable weights, or weights of another model size/variant.
    """
    net = EVOLVE(model_config_from_dict(model_cfg)).to(device).eval()
    state = extract_weights(load_file(weights), weights)
    try:
        report = load_weights(net, state)
    except WeightsMismatchError as e:
        raise InputError(weights, f"weights do not fit model={net.config.name} events={net.config.events} ({e})",
                         "pass the model= (small/base) and events= the weights were trained with") from e
    if report.missing:
        raise InputError(weights, f"weights lack {len(report.missing)} tensors of the network ({report})",
                         "pass the model= (small/base) and events= the weights were trained with")
    log.info("weights %s: %s", weights, report)
    return net


def predict_sequence(
    core: InferenceCore, reader: VideoReader, out_dir: Path, num_workers: int, vis_dir: Path | None = None,
    overlays: bool = False, event_pictures: bool = False, mp4: bool = False,
) -> tuple[int, float]:
    """Segment one sequence; returns (frames, seconds spent in ``core.step``)."""
    from evolve.vis.overlay import overlay_mask, side_by_side, voxel_event_picture

    core.reset()
    device = core.device
    n = len(reader)
    seconds = 0.0
    rows = []
    for sample in reader.loader(num_workers=num_workers, pin_memory=device.type == "cuda"):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        prob = core.step(sample.rgb.to(device, non_blocking=True), sample.voxel.to(device, non_blocking=True),
                         mask=None if sample.mask is None else sample.mask.to(device),
                         objects=sample.objects, end=sample.index == n - 1)  # (1+N, h, w)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds += time.perf_counter() - t0
        if tuple(prob.shape[-2:]) != reader.original_size:
            prob = F.interpolate(prob[None], size=reader.original_size, mode="bilinear", align_corners=False)[0]
        channel = prob.argmax(0).cpu().numpy()  # (H, W) 0 = background, k = object_ids[k-1]
        lut = np.asarray([0] + list(core.object_ids), dtype=np.uint8)
        ids = lut[channel]
        write_mask(out_dir / reader.name / f"{sample.name}.png", ids, reader.palette)
        if vis_dir is not None and (overlays or event_pictures or mp4):
            from evolve.vis.events import brighten

            frame_u8 = (sample.rgb.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
            frame_u8, _ = brighten(frame_u8)
            small_ids = ids if frame_u8.shape[:2] == ids.shape else _resize_ids(ids, frame_u8.shape[:2])
            panels = [overlay_mask(frame_u8, small_ids, reader.palette)]
            if event_pictures:
                panels.append(voxel_event_picture(sample.voxel))
            row = side_by_side(*panels)
            if overlays or event_pictures:
                write_frame(vis_dir / reader.name / f"{sample.name}.jpg", row)
            if mp4:
                rows.append(row)
    if mp4 and rows and vis_dir is not None:
        from evolve.vis.synthesis_pictures import write_mp4

        (vis_dir / reader.name).mkdir(parents=True, exist_ok=True)
        write_mp4(vis_dir / reader.name / f"{reader.name}.mp4", rows, fps=10.0)
    return n, seconds


def _resize_ids(ids: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    import cv2

    return cv2.resize(ids, (size[1], size[0]), interpolation=cv2.INTER_NEAREST)


def _has_predictions(out_dir: Path) -> bool:
    return out_dir.is_dir() and any(p.suffix == ".png" for p in out_dir.glob("*/*.png"))


def run_evaluation(cfg: Any) -> dict[str, Any]:
    """Segment the configured dataset and (optionally) score it. Returns a summary dict.

    Raises:
        InputError: unknown dataset key, missing weights, missing data, or an output folder that
            already holds predictions (without ``overwrite=True``).
    """
    if cfg.dataset not in cfg.datasets:
        raise InputError(None, f"unknown dataset {cfg.dataset!r}", f"use one of {sorted(cfg.datasets)} or add it to configs/eval_config.yaml")
    ds = cfg.datasets[cfg.dataset]
    if not cfg.weights:
        raise InputError(None, "no weights given", "pass weights=<path to a .pth written by evolve/train.py>")
    if not ds.root or not Path(ds.root).is_dir():
        raise InputError(ds.root, f"dataset root of {cfg.dataset!r} does not exist",
                         f"set data_root=... or datasets.{cfg.dataset}.root=<folder>")
    out_dir = Path(cfg.output_dir) if cfg.output_dir else Path(cfg.output_root) / cfg.exp_id / cfg.dataset
    if _has_predictions(out_dir) and not cfg.overwrite:
        raise InputError(out_dir, "output folder already holds predictions", "pass overwrite=True, or another exp_id / output_dir")
    device = resolve_device(cfg.device, 0)
    opts = {k: getattr(ds, k) for k in ("image_dir", "mask_dir", "event_dir", "voxel_dir") if getattr(ds, k)} if ds.layout == "generic" else {}
    layout = make_layout(ds.layout, ds.root, **opts)
    dataset = VOSTestDataset(layout, ds.split, size=ds.size, use_all_masks=ds.use_all_masks)
    net = load_network(cfg.model, cfg.weights, device)
    icfg_dict = OmegaConf.to_container(cfg.inference, resolve=True) if isinstance(cfg.inference, DictConfig) else cfg.inference
    icfg = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(InferenceConfig), icfg_dict))
    if ds.long_term is not None:
        icfg.use_long_term = bool(ds.long_term)
    core = InferenceCore(net, icfg, device)
    vis_dir = out_dir.parent / f"{out_dir.name}-vis" if (cfg.save_overlays or cfg.save_mp4 or cfg.save_event_pictures) else None
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    from tqdm import tqdm

    frames, seconds = 0, 0.0
    for reader in tqdm(dataset, total=len(dataset), desc=f"{cfg.dataset}", dynamic_ncols=True):
        n, s = predict_sequence(core, reader, out_dir, cfg.num_workers, vis_dir, cfg.save_overlays, cfg.save_event_pictures, cfg.save_mp4)
        frames, seconds = frames + n, seconds + s
    peak, peak_kind = _peak_memory_mb(device)
    stats = {
        "dataset": cfg.dataset, "sequences": len(dataset), "frames": frames, "seconds_in_step": seconds,
        "frames_per_second": frames / seconds if seconds else None, "peak_memory_mb": peak, "peak_memory_kind": peak_kind,
        "device": str(device), "model": net.config.name, "events": net.config.events, "weights": str(cfg.weights),
    }
    with atomic_open(out_dir / "inference_stats.json", "w") as f:
        json.dump(stats, f, indent=2)
    log.info("%d frames in %.1f s of step(): %.2f frames/s on %s; peak memory %.0f MB (%s); predictions in %s",
             frames, seconds, stats["frames_per_second"] or 0, device, peak, peak_kind, out_dir)
    summary: dict[str, Any] = {"out_dir": str(out_dir), "stats": stats}
    if cfg.evaluate:
        summary["jf"] = _score(layout, dataset, out_dir, cfg.eval_workers)
    return summary


def _score(layout, dataset: VOSTestDataset, out_dir: Path, workers: int) -> dict[str, float] | None:
    from evolve.eval.evaluator import evaluate_dataset
    from evolve.eval.report import format_global_table, format_per_sequence_table

    gt_dir = layout.mask_folder(dataset.sequences[0]).parent
    for seq in dataset.sequences:  # J&F needs a ground-truth mask on every frame
        reader = dataset[dataset.sequences.index(seq)]
        if len(reader.files.mask_files) < len(reader.frame_names):
            log.warning("%s has frames without ground truth: J&F skipped (predictions are in %s)", seq, out_dir)
            return None
    result = evaluate_dataset(gt_dir, out_dir, sequences=dataset.sequences, workers=workers)
    print(format_global_table(result))
    print(format_per_sequence_table(result))
    return result.global_row()
