"""The semi-supervised protocol: the streaming core over every sequence of a dataset, palette
PNGs, then J&F (DESIGN 5). Used by ``evolve/eval_vos.py`` (:mod:`evolve.apps.eval_vos`) and by
training's ``eval_after_training``. Outputs in ``output_dir``:

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
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from evolve.data.image_io import write_frame, write_mask
from evolve.data.video_reader import VideoReader, VOSTestDataset
from evolve.eval.evaluator import evaluate_dataset
from evolve.eval.report import format_global_table, format_per_sequence_table
from evolve.eval.results import EvaluationResult
from evolve.inference.config import InferenceConfig
from evolve.inference.cores import StreamingCore, make_inference_core
from evolve.utils.atomic import atomic_open

log = logging.getLogger("evolve.eval")


def _peak_memory_mb(device: torch.device) -> tuple[float, str]:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20, "cuda max_memory_allocated"
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return (kb / 1024 if sys.platform != "darwin" else kb / 2**20), "process peak RSS"


def predict_sequence(
    core: StreamingCore, reader: VideoReader, out_dir: Path, num_workers: int, vis_dir: Path | None = None,
    overlays: bool = False, event_pictures: bool = False, mp4: bool = False,
) -> tuple[int, float]:
    """Segment one sequence; returns (frames, seconds spent in ``core.step``).

    The palette PNGs are written by a background thread while the next frame is segmented (the
    PNG encoder releases the GIL); every write has finished, and the first write error (if any)
    is raised, before this function returns.
    """
    from concurrent.futures import ThreadPoolExecutor

    from evolve.vis.overlay import overlay_mask, side_by_side, voxel_event_picture

    core.reset()
    device = core.device
    n = len(reader)
    seconds = 0.0
    rows = []
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="png-writer") as writer:
        writes = []
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
            writes.append(writer.submit(write_mask, out_dir / reader.name / f"{sample.name}.png", ids, reader.palette))
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
                    writes.append(writer.submit(write_frame, vis_dir / reader.name / f"{sample.name}.jpg", row))
                if mp4:
                    rows.append(row)
        for w in writes:
            w.result()  # raise the first write error here
    if mp4 and rows and vis_dir is not None:
        from evolve.vis.synthesis_pictures import write_mp4

        (vis_dir / reader.name).mkdir(parents=True, exist_ok=True)
        write_mp4(vis_dir / reader.name / f"{reader.name}.mp4", rows, fps=10.0)
    return n, seconds


def _resize_ids(ids: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    import cv2

    return cv2.resize(ids, (size[1], size[0]), interpolation=cv2.INTER_NEAREST)


@dataclass
class PictureOptions:
    """Pictures written next to the predictions, in ``<output_dir>-vis/<seq>/``.

    Attributes:
        overlays: the mask over the brightened frame, one JPEG per frame.
        event_pictures: the event picture beside each overlay.
        mp4: one MP4 per sequence of the rows.
    """

    overlays: bool = False
    event_pictures: bool = False
    mp4: bool = False

    @property
    def any(self) -> bool:
        """Whether anything is to be drawn."""
        return self.overlays or self.event_pictures or self.mp4


def has_predictions(out_dir: Path) -> bool:
    """Whether ``out_dir`` already holds ``<seq>/<frame>.png`` predictions."""
    return out_dir.is_dir() and any(p.suffix == ".png" for p in out_dir.glob("*/*.png"))


def run_semi_supervised(
    network: torch.nn.Module,
    dataset: VOSTestDataset,
    out_dir: Path,
    inference: InferenceConfig,
    device: torch.device,
    num_workers: int = 2,
    pictures: PictureOptions | None = None,
    evaluate: bool = True,
    eval_workers: int = 2,
    label: str = "eval",
    progress: bool = True,
) -> dict[str, Any]:
    """Segment every sequence of ``dataset`` from its given masks and (optionally) score it.

    Args:
        network: the network in eval mode on ``device``.
        dataset: the sequences (:class:`VOSTestDataset`; its ``num_bins`` must be the network's).
        out_dir: where ``<seq>/<frame>.png`` and ``inference_stats.json`` go.
        inference: memory policy (the streaming core of the network's arch reads what applies to it).
        device: where frames are processed.
        num_workers: frame-decoding processes.
        pictures: overlays / event pictures / MP4 in ``<out_dir>-vis`` (None = none).
        evaluate: J&F afterwards when ground truth covers every frame.
        eval_workers: J&F processes.
        label: name in the progress bar and the stats (the dataset key).
    Returns:
        ``{"out_dir", "stats": {...frames/s, peak memory...}, "jf": global row or None}``.
    Raises:
        InputError: data problems (the reader names the file).
    """
    pictures = pictures or PictureOptions()
    core = make_inference_core(network, inference, device)  # the core of the network's arch
    vis_dir = out_dir.parent / f"{out_dir.name}-vis" if pictures.any else None
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    from tqdm import tqdm

    frames, seconds = 0, 0.0
    for reader in tqdm(dataset, total=len(dataset), desc=label, dynamic_ncols=True, disable=not progress):
        n, s = predict_sequence(core, reader, out_dir, num_workers, vis_dir, pictures.overlays, pictures.event_pictures, pictures.mp4)
        frames, seconds = frames + n, seconds + s
    peak, peak_kind = _peak_memory_mb(device)
    config = getattr(network, "config", None)
    stats = {
        "dataset": label, "sequences": len(dataset), "frames": frames, "seconds_in_step": seconds,
        "frames_per_second": frames / seconds if seconds else None, "peak_memory_mb": peak, "peak_memory_kind": peak_kind,
        "device": str(device), "model": getattr(config, "name", None), "events": getattr(config, "events", None),
    }
    with atomic_open(out_dir / "inference_stats.json", "w") as f:
        json.dump(stats, f, indent=2)
    log.info("%d frames in %.1f s of step(): %.2f frames/s on %s; peak memory %.0f MB (%s); predictions in %s",
             frames, seconds, stats["frames_per_second"] or 0, device, peak, peak_kind, out_dir)
    summary: dict[str, Any] = {"out_dir": str(out_dir), "stats": stats, "jf": None, "tables": None}
    if evaluate:
        result = _score(dataset, out_dir, eval_workers)
        if result is not None:
            summary["jf"] = result.global_row()
            summary["tables"] = format_global_table(result) + "\n" + format_per_sequence_table(result)
    return summary


def _score(dataset: VOSTestDataset, out_dir: Path, workers: int) -> EvaluationResult | None:
    """J&F of the predictions (None when some frame has no ground truth)."""
    gt_dir = dataset.layout.mask_folder(dataset.sequences[0]).parent
    for seq in dataset.sequences:  # J&F needs a ground-truth mask on every frame
        reader = dataset[dataset.sequences.index(seq)]
        if len(reader.files.mask_files) < len(reader.frame_names):
            log.warning("%s has frames without ground truth: J&F skipped (predictions are in %s)", seq, out_dir)
            return None
    return evaluate_dataset(gt_dir, out_dir, sequences=dataset.sequences, workers=workers)
