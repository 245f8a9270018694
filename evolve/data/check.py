"""Validate a dataset folder and report every problem: ``evolve-check <root>``.

Checks (DESIGN 8): split files naming missing sequences; frame/mask/chunk/voxel files that
are missing or have no partner (paired by name); two files for one frame; truncated or
undecodable frames and masks; frames of different sizes within a sequence; masks whose size
differs from their frame; RGB (non-id) masks; first-frame masks with no object; event chunks
that are unreadable, have coordinates outside the frame, NaN/inf, negative or unsorted
timestamps, or bad polarity; cached voxel grids of the wrong shape or dtype.

Unlike the readers, which stop at the first problem, the checker collects all of them,
prints them with the file and the fix, prints a summary (sequences, frames, masks, events,
objects) and exits with status 1 when it found problems (0 otherwise).

``--quick`` checks names, image headers, masks and the completeness of event files (headers
only, no event contents): fast on big datasets (training runs it before the first iteration),
but misses truncated frames and bad event values.
"""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from evolve.data.events import EVENT_EXTENSIONS, event_file_problem, find_event_problems, read_event_arrays
from evolve.data.image_io import IMAGE_EXTENSIONS, read_frame, read_mask
from evolve.data.layout import (
    MASK_EXTENSIONS,
    VOXEL_EXTENSION,
    DatasetLayout,
    list_all_sequences,
    pair_event_chunks,
)
from evolve.data.splits import natural_key, read_split_file
from evolve.data.voxel import DEFAULT_NUM_BINS
from evolve.utils.errors import InputError


@dataclass(frozen=True)
class Problem:
    """One problem: the file, what is wrong, how to fix it."""

    path: str
    problem: str
    fix: str

    def __str__(self) -> str:
        return f"{self.path}: {self.problem}. Fix: {self.fix}"


@dataclass
class CheckReport:
    """What :func:`check_dataset` found.

    Attributes:
        problems: every problem (empty = the dataset is usable).
        notes: things worth knowing that are not errors (e.g. a partial voxel cache).
        sequences, frames, masks, events: counts over the checked sequences (``events`` is
            0 with ``quick``).
        objects: distinct object ids summed over sequences.
        has_events: whether the layout has events.
    """

    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    sequences: int = 0
    frames: int = 0
    masks: int = 0
    events: int = 0
    objects: int = 0
    has_events: bool = False

    def add(self, other: "CheckReport") -> None:
        """Accumulate another (per-sequence) report into this one."""
        self.problems += other.problems
        self.notes += other.notes
        for k in ("sequences", "frames", "masks", "events", "objects"):
            setattr(self, k, getattr(self, k) + getattr(other, k))

    def summary(self) -> str:
        """A few lines: counts, then the number of problems."""
        per = self.objects / self.sequences if self.sequences else 0.0
        lines = [
            f"sequences: {self.sequences}",
            f"frames:    {self.frames}",
            f"masks:     {self.masks}",
            f"events:    {self.events:,}" if self.has_events else "events:    none (frames-only layout: zero voxel grids)",
            f"objects:   {self.objects} ({per:.2f} per sequence)",
            f"problems:  {len(self.problems)}",
        ]
        return "\n".join(lines)


def _scan(folder: Path, extensions: tuple[str, ...], report: CheckReport) -> dict[str, Path]:
    """``{stem: file}`` of a folder; duplicate stems become problems."""
    out: dict[str, Path] = {}
    if not folder.is_dir():
        return out
    for p in sorted(folder.iterdir()):
        if p.name.startswith(".") or not p.is_file() or p.suffix.lower() not in extensions:
            continue
        if p.stem in out:
            report.problems.append(Problem(str(p), f"two files for frame {p.stem!r} ({out[p.stem].name} and {p.name})",
                                           "keep one file per frame"))
            continue
        out[p.stem] = p
    return out


def _image_size(path: Path, quick: bool, report: CheckReport) -> tuple[int, int] | None:
    """(H, W) of a frame, decoding it fully unless ``quick``; problems are recorded."""
    try:
        if quick:
            with Image.open(path) as im:
                return im.size[1], im.size[0]
        return read_frame(path).shape[:2]
    except InputError as e:
        report.problems.append(Problem(str(path), e.problem, e.fix))
    except OSError as e:
        report.problems.append(Problem(str(path), f"cannot open image ({e})", "re-export or re-download this file"))
    return None


def check_sequence(
    layout: DatasetLayout, seq: str, quick: bool = False, sparse_masks: bool = False, num_bins: int = DEFAULT_NUM_BINS
) -> CheckReport:
    """Check one sequence; returns its problems and counts (never raises for bad data).

    Args:
        layout: the dataset.
        seq: sequence name.
        quick: names and image headers only.
        sparse_masks: only the first frame needs a mask (YouTube-VOS-like validation sets).
        num_bins: expected B of cached voxel grids.
    """
    rep = CheckReport(sequences=1, has_events=layout.has_events)
    frames_map = _scan(layout.image_folder(seq), IMAGE_EXTENSIONS, rep)
    if not frames_map:
        rep.problems.append(Problem(str(layout.image_folder(seq)), "no frames in the sequence folder", "add the frames or remove the sequence"))
        return rep
    frames = sorted(frames_map, key=natural_key)
    rep.frames = len(frames)
    if len(frames) > 2 and all(s.isdigit() for s in frames):
        numbers = [int(s) for s in frames]
        steps = np.diff(numbers)
        step = int(np.bincount(steps).argmax())  # the usual spacing (1 for DAVIS, 5 for YouTube-VOS)
        for a, b, d in zip(frames, frames[1:], steps):
            if d != step:
                rep.problems.append(Problem(
                    str(frames_map[a]),
                    f"frame numbers jump from {a} to {b} (the sequence steps by {step}): frame(s) missing?",
                    "restore the missing frames; the event chunk of the next frame would span the gap",
                ))
    sizes: dict[str, tuple[int, int]] = {}
    ref_size = None
    for stem in frames:
        size = _image_size(frames_map[stem], quick, rep)
        if size is None:
            continue
        sizes[stem] = size
        if ref_size is None:
            ref_size = size
        elif size != ref_size:
            rep.problems.append(Problem(str(frames_map[stem]), f"frame is {size[1]}x{size[0]}, the sequence's first frame "
                                        f"{ref_size[1]}x{ref_size[0]}", "all frames of a sequence must have one size"))

    # masks
    masks = _scan(layout.mask_folder(seq), MASK_EXTENSIONS, rep)
    rep.masks = len(masks)
    if not layout.mask_folder(seq).is_dir():
        rep.problems.append(Problem(str(layout.mask_folder(seq)), "mask folder of the sequence does not exist", "add the annotations"))
    else:
        required = frames[:1] if sparse_masks else frames
        missing = [s for s in required if s not in masks]
        for s in missing:
            rep.problems.append(Problem(str(layout.mask_folder(seq) / f"{s}.png"), f"missing mask for frame {s!r}",
                                        "add it (or pass --sparse-masks if only some frames are annotated)"))
    for stem, p in sorted(masks.items(), key=lambda kv: natural_key(kv[0])):
        if stem not in frames_map:
            rep.problems.append(Problem(str(p), "mask with no frame of the same name", "rename or delete it"))
    objects: set[int] = set()
    for stem in frames:
        if stem not in masks:
            continue
        try:
            ids, _ = read_mask(masks[stem])  # (H, W) uint8
        except InputError as e:
            rep.problems.append(Problem(str(masks[stem]), e.problem, e.fix))
            continue
        if stem in sizes and ids.shape != sizes[stem]:
            rep.problems.append(Problem(str(masks[stem]), f"mask is {ids.shape[1]}x{ids.shape[0]} but its frame is "
                                        f"{sizes[stem][1]}x{sizes[stem][0]}", "masks must have the size of their frame"))
        present = set(np.unique(ids).tolist()) - {0}
        if stem == frames[0] and not present:
            rep.problems.append(Problem(str(masks[stem]), "the first-frame mask has no object (all background)",
                                        "annotate at least one object on the first frame"))
        objects |= present
    rep.objects = len(objects)

    if layout.has_events:
        _check_events(layout, seq, frames, sizes, quick, num_bins, rep)
    return rep


def _check_events(layout, seq, frames, sizes, quick, num_bins, rep: CheckReport) -> None:
    ev_folder, vx_folder = layout.event_folder(seq), layout.voxel_folder(seq)
    have_ev = ev_folder is not None and ev_folder.is_dir()
    have_vx = vx_folder is not None and vx_folder.is_dir()
    if not have_ev and not have_vx:
        rep.problems.append(Problem(str(ev_folder or vx_folder), "event folder of the sequence does not exist",
                                    "add the event chunks (or EventVoxel files), or check with a frames-only layout"))
        return
    if have_ev:
        chunks = _scan(ev_folder, EVENT_EXTENSIONS, rep)
        for path, problem, fix in pair_event_chunks(frames, chunks, ev_folder):
            rep.problems.append(Problem(str(path), problem, fix))
        if quick:
            for stem, path in sorted(chunks.items(), key=lambda kv: natural_key(kv[0])):
                problem = event_file_problem(path)
                if problem:
                    rep.problems.append(Problem(str(path), f"event chunk {problem}", "the file is truncated or corrupt; regenerate or re-copy it"))
        else:
            for stem, path in sorted(chunks.items(), key=lambda kv: natural_key(kv[0])):
                try:
                    arrays = read_event_arrays(path)
                except InputError as e:
                    rep.problems.append(Problem(str(path), e.problem, e.fix))
                    continue
                for problem, fix in find_event_problems(*arrays, sensor_size=sizes.get(stem)):
                    rep.problems.append(Problem(str(path), problem, fix))
                rep.events += int(np.asarray(arrays[0]).size)
    if have_vx:
        voxels = _scan(vx_folder, (VOXEL_EXTENSION,), rep)
        for stem, p in sorted(voxels.items(), key=lambda kv: natural_key(kv[0])):
            if stem not in frames:
                rep.problems.append(Problem(str(p), "voxel grid file with no frame of the same name", "delete it"))
                continue
            try:
                arr = np.load(p, mmap_mode="r", allow_pickle=False)
            except (ValueError, OSError, EOFError) as e:
                rep.problems.append(Problem(str(p), f"cannot read voxel grid ({type(e).__name__}: {e})",
                                            "delete it and rerun evolve-voxels"))
                continue
            expected = (num_bins, *sizes[stem]) if stem in sizes else None
            if arr.ndim != 3 or (expected is not None and arr.shape != expected) or arr.dtype != np.float32:
                rep.problems.append(Problem(
                    str(p), f"voxel grid is {arr.dtype} {arr.shape}, expected float32 {expected or '(B, H, W)'}",
                    "delete it and rerun evolve-voxels",
                ))
        missing = [s for s in frames if s not in voxels]
        if missing:
            msg = f"{vx_folder}: {len(missing)} of {len(frames)} frames have no cached voxel grid (first: {missing[0]})"
            if have_ev:
                rep.notes.append(msg + "; they are built from the events on the fly")
            else:
                rep.problems.append(Problem(str(vx_folder / f"{missing[0]}{VOXEL_EXTENSION}"),
                                            f"{len(missing)} voxel grid file(s) missing and no raw events to build them",
                                            "add the event chunks or the missing EventVoxel files"))


def _check_sequence_args(args):
    return check_sequence(*args)


def check_dataset(
    layout: DatasetLayout,
    split: str | None = None,
    quick: bool = False,
    sparse_masks: bool = False,
    num_bins: int = DEFAULT_NUM_BINS,
    workers: int = 0,
    progress: bool = False,
) -> CheckReport:
    """Check a whole dataset (or one split) and collect every problem.

    Args:
        layout: the dataset.
        split: check only this split's sequences (``None``: every sequence folder, and every
            split file of the layout for names of missing sequences).
        quick: names and image headers only.
        sparse_masks: only first frames need masks.
        num_bins: expected B of cached voxel grids.
        workers: processes checking sequences in parallel (0 = this process).
        progress: show a tqdm bar.

    Returns:
        The :class:`CheckReport`. Never raises for bad data, except a missing root folder.
    """
    rep = CheckReport(has_events=layout.has_events)
    try:
        all_seqs = list_all_sequences(layout)
    except InputError as e:
        rep.problems.append(Problem(str(e.path), e.problem, e.fix))
        return rep
    existing = set(all_seqs)
    split_names = [split] if split is not None else sorted(layout.splits)
    in_splits: set[str] = set()
    chosen: list[str] = []
    for name in split_names:
        path = layout.root / layout.splits[name] if name in layout.splits else Path(name)
        if not path.is_file():
            rep.problems.append(Problem(str(path), f"split file {name!r} does not exist",
                                        "create it with one sequence name per line"))
            continue
        try:
            names = read_split_file(path)
        except InputError as e:
            rep.problems.append(Problem(str(path), e.problem, e.fix))
            continue
        for s in names:
            if s not in existing:
                rep.problems.append(Problem(str(path), f"names sequence {s!r} but {layout.image_folder(s)} does not exist",
                                            "remove the line or add the sequence"))
            elif s not in in_splits:
                chosen.append(s)
            in_splits.add(s)
    if split is None:
        chosen = all_seqs
        if layout.splits:
            unlisted = [s for s in all_seqs if s not in in_splits]
            if unlisted:
                rep.notes.append(f"{len(unlisted)} sequence(s) are in no split file (e.g. {unlisted[0]})")
        for d in (layout.mask_dir, layout.event_dir, layout.voxel_dir):
            folder = layout.root / d if d else None
            if folder is not None and folder.is_dir():
                for sub in sorted(folder.iterdir()):
                    if sub.is_dir() and sub.name not in existing:
                        rep.problems.append(Problem(str(sub), "folder of a sequence that has no frames", "add its frames or delete it"))
    jobs = [(layout, s, quick, sparse_masks, num_bins) for s in chosen]
    if workers > 0 and len(jobs) > 1:
        with ProcessPoolExecutor(max_workers=workers) as ex:
            results = ex.map(_check_sequence_args, jobs)
            for r in tqdm(results, total=len(jobs), desc="checking", unit="seq", disable=not progress):
                rep.add(r)
    else:
        for job in tqdm(jobs, desc="checking", unit="seq", disable=not progress):
            rep.add(check_sequence(*job))
    return rep
