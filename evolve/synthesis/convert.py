"""Convert a normal-light DAVIS-like dataset into the LLE-DAVIS layout (DESIGN 2.2, 2.3, 2.5).

Output under ``<out>/trainval_480p/`` (``<out>`` is the LLE-DAVIS root the readers take)::

    JPEGImages/<seq>/<frame>.jpg        normal-light frames (JPEG copied, others re-encoded)
    Lowlight_Images/<seq>/<frame>.jpg   8-bit low-light frames
    Lowlight_event/<seq>/<frame>.npz    events (x, y, t, p) of the interval ENDING at <frame>;
                                        none for frame 0; interval i spans
                                        [(i-1) * 1e6/fps, i * 1e6/fps) microseconds
    EventVoxel/<seq>/<frame>.npy        optional float32 (B, H, W); frame 0 = voxel of frame 1
    Annotations/<seq>/<frame>.png       palette PNGs, object ids preserved
    ImageSets/2017/{train,val}.txt      from the source's split files, else all in train.txt
    Synthesis/<seq>/stats.json          densities, intensities and every parameter used
    Synthesis/<seq>/done.json           written last; a finished sequence is skipped on rerun
    Synthesis/synthesis.json            dataset-level record (config, calibrated C_mean, splits)

Frames keep their source names. Every file is written atomically (temporary name, rename).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from multiprocessing import get_context
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from evolve.data.events import EventChunk, save_event_chunk
from evolve.data.splits import write_split_file_text
from evolve.data.image_io import read_frame, read_mask, write_frame, write_mask
from evolve.synthesis.calibrate import CalibrationResult, calibrate_contrast_threshold
from evolve.synthesis.config import SynthesisConfig, config_to_dict
from evolve.synthesis.frames import prepare_frame
from evolve.synthesis.lowlight import LowLightSynthesizer
from evolve.utils.seeding import stable_seed
from evolve.synthesis.simulator import EventSimulator
from evolve.synthesis.source import SourceDataset, SourceSequence, open_source
from evolve.data.voxel import chunk_to_voxel_grid
from evolve.utils.atomic import atomic_open
from evolve.utils.errors import InputError

LLE_SUBDIR = "trainval_480p"
FOLDERS = {
    "normal": "JPEGImages",
    "lowlight": "Lowlight_Images",
    "events": "Lowlight_event",
    "voxels": "EventVoxel",
    "masks": "Annotations",
    "info": "Synthesis",
}
FORMAT_VERSION = 1


# ---------------------------------------------------------------------------- small helpers
def _write_json(path: Path, obj: dict, only_if_changed: bool = False) -> bool:
    text = json.dumps(obj, indent=2, sort_keys=True) + "\n"
    if only_if_changed and path.is_file() and path.read_text() == text:
        return False
    with atomic_open(path, "w") as f:
        f.write(text)
    return True


def _write_text(path: Path, text: str) -> bool:
    """Write ``text`` atomically unless the file already holds exactly it."""
    if path.is_file() and path.read_text() == text:
        return False
    with atomic_open(path, "w") as f:
        f.write(text)
    return True


def _copy_file(src: Path, dst: Path) -> None:
    with open(src, "rb") as fi, atomic_open(dst, "wb") as fo:
        shutil.copyfileobj(fi, fo)


def integer_time_chunk(chunk: EventChunk, t_start_us: float, t_end_us: float) -> EventChunk:
    """Round timestamps to whole microseconds inside ``[ceil(t_start), ceil(t_end) - 1]``.

    The simulator returns exact float times in ``[t_start, t_end]``; files hold int64
    microseconds and each chunk stays inside its half-open interval. Rounding is monotone, so
    the order is kept.
    """
    lo, hi = int(np.ceil(t_start_us)), int(np.ceil(t_end_us)) - 1
    t = np.clip(np.rint(chunk.t), lo, hi).astype(np.int64)
    return EventChunk(chunk.x, chunk.y, t, chunk.p)


def sequence_fingerprint(seq: SourceSequence, config: SynthesisConfig) -> str:
    """SHA-256 of everything that determines a sequence's output (config with the resolved
    C_mean, frame and mask names); the calibration settings and target density are not part."""
    cfg = config_to_dict(config)
    cfg.pop("calibration", None)
    cfg.pop("target_density", None)
    blob = json.dumps(
        {"version": FORMAT_VERSION, "config": cfg, "sequence": seq.name, "frames": seq.stems, "masks": sorted(seq.masks)},
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()


def _sequence_dirs(lle: Path, name: str) -> dict[str, Path]:
    return {k: lle / v / name for k, v in FOLDERS.items()}


# ---------------------------------------------------------------------------- one sequence
def convert_sequence(
    seq: SourceSequence,
    lle_root: str | os.PathLike,
    config: SynthesisConfig,
    device: torch.device | str = "cpu",
    progress: bool = False,
) -> dict:
    """Convert one video and write its ``stats.json`` and (last) its ``done.json``.

    Args:
        seq: the source video (frames in order, masks on some frames).
        lle_root: the ``trainval_480p`` folder.
        config: synthesis config with the final ``simulator.contrast_threshold``.
        device: where the event simulator runs.
        progress: show a per-frame tqdm bar.

    Returns:
        The stats dict (also written to ``Synthesis/<seq>/stats.json``).

    Raises:
        InputError: unreadable frame or mask, frames of different sizes, mask size mismatch.
    """
    from tqdm import tqdm

    lle = Path(lle_root)
    dirs = _sequence_dirs(lle, seq.name)
    stems = seq.stems
    first = read_frame(seq.frames[0])
    h, w = first.shape[:2]
    synth = LowLightSynthesizer(config.lowlight, config.seed, seq.name)
    event_seed = stable_seed(config.seed, seq.name, "events")
    sim = EventSimulator(config.simulator, h, w, seed=event_seed, device=device)
    dt = config.interval_us
    expected: dict[str, set[str]] = {k: set() for k in FOLDERS}
    densities: list[float] = []
    total_events = on_events = 0
    low_means: list[float] = []
    normal_means: list[float] = []
    bar = tqdm(total=len(stems), desc=seq.name, leave=False, disable=not progress, unit="frame")
    for i, (path, stem) in enumerate(zip(seq.frames, stems)):
        rgb = first if i == 0 else read_frame(path)
        if rgb.shape[:2] != (h, w):
            raise InputError(path, f"frame is {rgb.shape[1]}x{rgb.shape[0]} but the sequence's first frame is {w}x{h}", "resize every frame of a sequence to one size")
        # Normal-light frame: copy JPEG bytes, re-encode anything else.
        normal_out = dirs["normal"] / f"{stem}.jpg"
        if path.suffix.lower() in (".jpg", ".jpeg"):
            _copy_file(path, normal_out)
        else:
            write_frame(normal_out, rgb, quality=config.jpeg_quality)
        expected["normal"].add(normal_out.name)
        prepared = prepare_frame(rgb, i, synth, config)
        low_out = dirs["lowlight"] / f"{stem}.jpg"
        write_frame(low_out, prepared.lowlight, quality=config.jpeg_quality)
        expected["lowlight"].add(low_out.name)
        low_means.append(float(prepared.lowlight.mean()) / 255.0)
        normal_means.append(float(rgb.mean()) / 255.0)
        if i == 0:
            sim.reset(prepared.luma, prepared.flow_luma)
        else:
            t0, t1 = (i - 1) * dt, i * dt
            chunk = integer_time_chunk(sim.step(prepared.luma, t0, t1, prepared.flow_luma), t0, t1)
            save_event_chunk(dirs["events"] / f"{stem}.npz", chunk)
            expected["events"].add(f"{stem}.npz")
            n = len(chunk)
            densities.append(n / (h * w))
            total_events += n
            on_events += int((chunk.p > 0).sum())
            if config.voxels:
                voxel = chunk_to_voxel_grid(chunk, (h, w), config.num_bins).numpy()  # (B, H, W) float32
                names = [stem] if i > 1 else [stems[0], stem]  # frame 0 uses the voxel of frame 1
                for name in names:
                    with atomic_open(dirs["voxels"] / f"{name}.npy", "wb") as f:
                        np.save(f, voxel)
                    expected["voxels"].add(f"{name}.npy")
        bar.update(1)
    bar.close()
    for stem, mpath in sorted(seq.masks.items()):
        ids, palette = read_mask(mpath)
        if ids.shape != (h, w):
            raise InputError(mpath, f"mask is {ids.shape[1]}x{ids.shape[0]} but its frame is {w}x{h}", "masks must have the size of their frames")
        write_mask(dirs["masks"] / f"{stem}.png", ids, palette)
        expected["masks"].add(f"{stem}.png")
    # Remove files left by an earlier, different conversion of this sequence.
    for key in ("normal", "lowlight", "events", "voxels", "masks"):
        d = dirs[key]
        if d.is_dir():
            for p in d.iterdir():
                if p.is_file() and p.name not in expected[key]:
                    p.unlink()
    dens = np.asarray(densities, np.float64) if densities else np.zeros(1)
    stats = {
        "sequence": seq.name,
        "num_frames": len(stems),
        "num_intervals": len(densities),
        "num_annotated_frames": len(seq.masks),
        "height": h,
        "width": w,
        "fps": config.fps,
        "interval_us": dt,
        "events_per_pixel_per_interval": {"mean": float(dens.mean()), "min": float(dens.min()), "max": float(dens.max())},
        "total_events": int(total_events),
        "on_fraction": float(on_events / total_events) if total_events else 0.0,
        "mean_lowlight_intensity": float(np.mean(low_means)),
        "mean_normal_intensity": float(np.mean(normal_means)),
        "lowlight": {
            "alpha": synth.params.alpha,
            "beta": synth.params.beta,
            "gamma": synth.params.gamma,
            "lambda_shot": synth.params.lambda_shot,
            "lambda_read": synth.params.lambda_read,
            "noise": config.lowlight.noise,
            "noise_params_per": config.lowlight.noise_params_per,
        },
        "simulator": config_to_dict(config.simulator),
        "simulate_from": config.simulate_from,
        "seed": config.seed,
        "event_seed": event_seed,
        "voxels": config.voxels,
    }
    _write_json(dirs["info"] / "stats.json", stats)
    _write_json(dirs["info"] / "done.json", {"fingerprint": sequence_fingerprint(seq, config), "version": FORMAT_VERSION})
    return stats


def _worker(args: tuple) -> dict:
    seq, lle, config, device, threads = args
    torch.set_num_threads(threads)
    return convert_sequence(seq, lle, config, device, progress=False)


# ---------------------------------------------------------------------------- the dataset
@dataclass
class ConversionResult:
    """What :func:`convert_dataset` did.

    Attributes:
        root: the LLE-DAVIS root (the folder holding ``trainval_480p``).
        contrast_threshold: C_mean used (given or calibrated).
        converted: sequences converted in this call.
        skipped: sequences already finished with the same settings.
        calibration: the calibration outcome when it ran in this call, else ``None``.
        split_note: how the split files were made.
        stats: per-sequence stats of every finished selected sequence.
    """

    root: Path
    contrast_threshold: float
    converted: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    calibration: CalibrationResult | None = None
    split_note: str = ""
    stats: dict = field(default_factory=dict)


def _calibration_key(source: SourceDataset, config: SynthesisConfig) -> str:
    cfg = config_to_dict(config)
    cfg["simulator"].pop("contrast_threshold")
    cfg["simulator"].pop("contrast_threshold_neg")
    cfg.pop("voxels")
    cfg.pop("jpeg_quality")
    blob = json.dumps({"version": FORMAT_VERSION, "config": cfg, "sequences": list(source.sequences)}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def _is_done(info_dir: Path, fingerprint: str) -> bool | None:
    """True: finished with these settings; False: finished with other settings; None: not finished."""
    marker = info_dir / "done.json"
    if not marker.is_file():
        return None
    try:
        return json.loads(marker.read_text()).get("fingerprint") == fingerprint
    except (json.JSONDecodeError, OSError):
        return None


def held_out_split(names: list[str], val_fraction: float, seed: int) -> dict[str, list[str]]:
    """Split ``names`` into train and val: ``max(1, round(val_fraction * n))`` names (at most
    ``n - 1``) drawn with a generator seeded by ``(seed, "val split")``; both lists keep the input order.
    """
    k = min(len(names) - 1, max(1, round(val_fraction * len(names))))
    rng = np.random.default_rng(stable_seed(seed, "val split"))
    chosen = set(rng.choice(len(names), size=k, replace=False).tolist())
    return {"train": [n for i, n in enumerate(names) if i not in chosen], "val": [n for i, n in enumerate(names) if i in chosen]}


def convert_dataset(
    src: str | os.PathLike,
    out: str | os.PathLike,
    config: SynthesisConfig,
    sequences: list[str] | None = None,
    device: torch.device | str = "cpu",
    workers: int = 1,
    overwrite: bool = False,
    progress: bool = True,
    log: Callable[[str], None] | None = print,
    threads: int | None = None,
    val_fraction: float | None = None,
) -> ConversionResult:
    """Convert ``src`` (DAVIS 2016/2017, YouTube-VOS or MOSE layout) into LLE-DAVIS at ``out``.

    Resumable: a sequence whose ``done.json`` matches the current settings is skipped; a
    partly written one is redone. With ``config.target_density`` set, C_mean is calibrated
    on a subset of the whole source dataset (whatever ``sequences`` selects), and the result is
    reused from ``Synthesis/synthesis.json`` on a rerun with the same settings.

    Args:
        src: the source dataset root.
        out: the LLE-DAVIS root to write (``trainval_480p`` is created inside).
        config: synthesis config.
        sequences: names to convert (default: all).
        device: where the event simulator runs.
        workers: processes converting sequences in parallel (1 = in this process).
        overwrite: redo sequences finished with different settings instead of failing.
        progress: tqdm bars.
        log: where to print one-line messages (``None`` = silent).
        threads: torch intra-op threads of each worker process (``workers > 1`` only; default
            this process's count divided by ``workers``).
        val_fraction: for a source without split files, hold out this fraction of the sequences
            (at least one, chosen by a seeded draw) as ``val`` and train on the rest; ``None``
            lists every sequence in both ``train.txt`` and ``val.txt`` (your own videos: train and
            evaluate on all of them). Ignored when the source has split files.

    Returns:
        :class:`ConversionResult`.

    Raises:
        InputError: bad source, unknown sequence names, ``out`` inside the source, finished
            sequences with other settings (without ``overwrite``), ``val_fraction`` outside (0, 1).
    """
    from tqdm import tqdm

    if val_fraction is not None and not 0.0 < val_fraction < 1.0:
        raise InputError(None, f"val_fraction is {val_fraction}", "give a fraction between 0 and 1 (e.g. 0.2), or none to list every sequence in both splits")

    say = log or (lambda s: None)
    source = open_source(src)
    out = Path(out)
    lle = out / LLE_SUBDIR
    if lle.resolve() == source.root.resolve() or out.resolve() == source.root.resolve():
        raise InputError(out, "the output folder is the source folder", "pass --out a different, new folder")
    names = list(sequences) if sequences else list(source.sequences)
    unknown = [n for n in names if n not in source.sequences]
    if unknown:
        raise InputError(source.image_root, f"unknown sequences {unknown}", f"choose from {list(source.sequences)[:20]}")
    all_seqs = {n: source.sequence(n) for n in source.sequences} if config.target_density is not None else {}
    seqs = {n: (all_seqs.get(n) or source.sequence(n)) for n in names}
    info = lle / FOLDERS["info"]
    record_path = info / "synthesis.json"
    record = json.loads(record_path.read_text()) if record_path.is_file() else {}

    calibration = None
    if config.target_density is None:
        c_mean = config.simulator.contrast_threshold
    else:
        key = _calibration_key(source, config)
        prev = record.get("calibration") or {}
        if prev.get("key") == key and prev.get("target_density") == config.target_density:
            c_mean = float(prev["contrast_threshold"])
            say(f"calibration: reusing C_mean {c_mean:.4f} from {record_path}")
        else:
            say(f"calibration: searching C_mean for {config.target_density} events/pixel/interval")
            calibration = calibrate_contrast_threshold(list(all_seqs.values()), config, config.target_density, device, say)
            c_mean = calibration.contrast_threshold
            say(
                f"calibration: C_mean {c_mean:.4f} gives {calibration.density:.4f} events/pixel/interval "
                f"on {calibration.num_intervals} intervals of {calibration.num_sequences} sequences"
                + ("" if calibration.converged else " (NOT within tolerance: target outside [c_low, c_high])")
            )
    resolved = replace(config, simulator=config.simulator.with_threshold(c_mean))

    pending: list[SourceSequence] = []
    result = ConversionResult(out, c_mean)
    for n in names:
        state = _is_done(info / n, sequence_fingerprint(seqs[n], resolved))
        if state is True:
            result.skipped.append(n)
        elif state is False and not overwrite:
            raise InputError(
                info / n / "done.json",
                f"sequence '{n}' was converted with different settings",
                "use a new --out, the same settings as before, or --overwrite to redo it",
            )
        else:
            pending.append(seqs[n])
    if result.skipped:
        say(f"skipping {len(result.skipped)} finished sequence(s)")

    # The dataset record first (without the done list), so a crash keeps the calibration.
    if calibration is not None:
        record["calibration"] = {
            "key": _calibration_key(source, config),
            "target_density": config.target_density,
            "contrast_threshold": c_mean,
            "density": calibration.density,
            "converged": calibration.converged,
            "num_sequences": calibration.num_sequences,
            "num_intervals": calibration.num_intervals,
            "history": [[c, d] for c, d in calibration.history],
        }
        _write_json(record_path, record)

    bar = tqdm(total=len(pending), desc="sequences", disable=not progress or not pending, unit="seq")
    if workers <= 1 or len(pending) <= 1:
        for seq in pending:
            result.stats[seq.name] = convert_sequence(seq, lle, resolved, device, progress)
            result.converted.append(seq.name)
            bar.update(1)
    else:
        threads = threads or max(1, torch.get_num_threads() // workers)
        with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
            futures = {pool.submit(_worker, (s, lle, resolved, str(device), threads)): s.name for s in pending}
            for fut in as_completed(futures):
                result.stats[futures[fut]] = fut.result()
                result.converted.append(futures[fut])
                bar.update(1)
    bar.close()
    result.calibration = calibration
    for n in result.skipped:
        result.stats[n] = json.loads((info / n / "stats.json").read_text())

    # Split files from every finished sequence of the output (this call and earlier ones).
    done = [n for n in source.sequences if _is_done(info / n, sequence_fingerprint(source.sequence(n), resolved)) is True]
    if source.splits is not None:
        splits = {s: [n for n in source.splits[s] if n in done] for s in ("train", "val")}
        listed = set(splits["train"]) | set(splits["val"])
        extra = [n for n in done if n not in listed]
        splits["train"] += extra
        result.split_note = f"splits from {source.split_file}" + (f"; {len(extra)} unlisted sequence(s) added to train" if extra else "")
    elif val_fraction is None or len(done) < 2:
        splits = {"train": list(done), "val": list(done)}
        result.split_note = (f"the source has no split files: all {len(done)} sequences are listed in both train.txt and val.txt "
                             "(pass --val-fraction F to hold some out)")
    else:
        splits = held_out_split(done, val_fraction, resolved.seed)
        result.split_note = (f"the source has no split files: {len(splits['val'])} of {len(done)} sequences held out as val "
                             f"(--val-fraction {val_fraction}, seed {resolved.seed})")
    for s, lst in splits.items():
        _write_text(lle / "ImageSets" / "2017" / f"{s}.txt", write_split_file_text(lst))
    record.update(
        {
            "format_version": FORMAT_VERSION,
            "source": str(source.root.resolve()),
            "source_kind": source.kind,
            "contrast_threshold": c_mean,
            "config": config_to_dict(resolved),
            "splits": result.split_note,
            "sequences_done": done,
        }
    )
    _write_json(record_path, record, only_if_changed=True)
    say(f"{len(result.converted)} converted, {len(result.skipped)} skipped; C_mean {c_mean:.4f}; {result.split_note}")
    return result
