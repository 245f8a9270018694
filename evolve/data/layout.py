"""Where the files of a VOS dataset live, and how frames, masks and event chunks pair up.

A :class:`DatasetLayout` is a root folder plus relative sub-folders (DESIGN 2.1-2.2,
docs/architecture.md "Dataset layouts"). Presets: :func:`lle_vos`, :func:`lle_davis`,
:func:`davis` (plain DAVIS 2016/2017, no events) and :func:`generic`.

Pairing rules (DESIGN 2.3):

- frames, masks, event chunks and cached voxel grids pair by file stem (``00017.jpg`` <->
  ``00017.png`` <-> ``00017.npz``), never by position in a sorted list;
- the chunk named after frame ``k`` holds the events between frame ``k-1`` and frame ``k``;
- the first frame of a sequence has no chunk and uses the chunk of the second frame
  (the EVOLVE authors' rule). If a chunk named after the first frame does exist (events
  recorded before it), that chunk is used instead;
- a missing chunk for any later frame, or a chunk with no frame, is an
  :class:`~evolve.utils.errors.InputError` naming the file.

A layout without events (``event_dir`` and ``voxel_dir`` both ``None``, e.g. plain DAVIS)
has ``has_events == False``; readers then give all-zero voxel grids (frames-only baselines).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from evolve.data.events import EVENT_EXTENSIONS
from evolve.data.image_io import IMAGE_EXTENSIONS
from evolve.data.splits import list_sequence_folders, natural_key, read_split_file
from evolve.utils.errors import InputError

MASK_EXTENSIONS = (".png",)
VOXEL_EXTENSION = ".npy"

@dataclass(frozen=True)
class DatasetLayout:
    """Folders of one dataset, relative to ``root``.

    Every folder holds one sub-folder per sequence (``<folder>/<seq>/<frame>.<ext>``).

    Attributes:
        root: dataset root folder.
        image_dir: frames (the low-light frames for LLE datasets), ``.jpg``/``.png``/``.bmp``.
        mask_dir: object-id masks, palette (or grayscale) ``.png``.
        event_dir: raw event chunks ``.npz``/``.npy`` (one per frame interval), or ``None``.
        voxel_dir: cached voxel grids ``.npy`` float32 ``(B, H, W)`` (optional), or ``None``.
        normal_image_dir: normal-light frames (LLE datasets), or ``None``.
        splits: split name -> split file relative to ``root`` (one sequence name per line).
        default_split: split used when none is asked for; ``None`` = every sequence folder.
        name: preset name (for messages and the checker).
    """

    root: Path
    image_dir: str
    mask_dir: str
    event_dir: str | None = None
    voxel_dir: str | None = None
    normal_image_dir: str | None = None
    splits: dict[str, str] = field(default_factory=dict)
    default_split: str | None = None
    name: str = "generic"

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    # -- folders -------------------------------------------------------------------------
    @property
    def has_events(self) -> bool:
        """True when the layout declares event chunks or a voxel cache."""
        return self.event_dir is not None or self.voxel_dir is not None

    def image_folder(self, seq: str) -> Path:
        """Folder of the frames of sequence ``seq``."""
        return self.root / self.image_dir / seq

    def mask_folder(self, seq: str) -> Path:
        """Folder of the masks of sequence ``seq``."""
        return self.root / self.mask_dir / seq

    def event_folder(self, seq: str) -> Path | None:
        """Folder of the event chunks of ``seq`` (``None`` when the layout has no events)."""
        return None if self.event_dir is None else self.root / self.event_dir / seq

    def voxel_folder(self, seq: str) -> Path | None:
        """Folder of the cached voxel grids of ``seq`` (``None`` when the layout has no cache)."""
        return None if self.voxel_dir is None else self.root / self.voxel_dir / seq

    def voxel_path(self, seq: str, stem: str) -> Path | None:
        """Cache file ``<voxel_dir>/<seq>/<stem>.npy`` of a frame (it may not exist yet)."""
        folder = self.voxel_folder(seq)
        return None if folder is None else folder / f"{stem}{VOXEL_EXTENSION}"

    def split_path(self, split: str) -> Path:
        """The file of a named split.

        Raises:
            InputError: unknown split name.
        """
        if split not in self.splits:
            raise InputError(
                self.root,
                f"unknown split {split!r} for the {self.name} layout (known: {sorted(self.splits)})",
                "pass one of the known split names, or a path to a file with one sequence per line",
            )
        return self.root / self.splits[split]


# -- presets ------------------------------------------------------------------------------
def lle_vos(root: str | os.PathLike) -> DatasetLayout:
    """LLE-VOS (Li et al., CVPR 2024; DESIGN 2.1): ``root`` is the ``LLE_VOS`` folder.

    Frames ``Lowlight_Images/<seq>/<frame>.png``, masks ``Annotations``, events
    ``Lowlight_event/<seq>/<frame>.npy`` ((N, 4) x, y, t, p), cache ``EventVoxel``, splits
    ``{train,val,val_indoor,val_outdoor}.txt``.
    """
    return DatasetLayout(
        root=Path(root),
        image_dir="Lowlight_Images",
        mask_dir="Annotations",
        event_dir="Lowlight_event",
        voxel_dir="EventVoxel",
        normal_image_dir="Normallight_Images",
        splits={s: f"{s}.txt" for s in ("train", "val", "val_indoor", "val_outdoor")},
        name="lle_vos",
    )


def lle_davis(root: str | os.PathLike) -> DatasetLayout:
    """LLE-DAVIS (DESIGN 2.2): ``root`` is the ``LLE_DAVIS`` folder (holding ``trainval_480p``).

    Frames ``trainval_480p/Lowlight_Images/<seq>/<frame>.jpg``, normal light ``JPEGImages``,
    masks ``Annotations``, events ``Lowlight_event/<seq>/<frame>.npz`` (keys x, y, t, p), cache
    ``EventVoxel``, splits ``ImageSets/2017/{train,val}.txt``.
    """
    base = "trainval_480p"
    return DatasetLayout(
        root=Path(root),
        image_dir=f"{base}/Lowlight_Images",
        mask_dir=f"{base}/Annotations",
        event_dir=f"{base}/Lowlight_event",
        voxel_dir=f"{base}/EventVoxel",
        normal_image_dir=f"{base}/JPEGImages",
        splits={s: f"{base}/ImageSets/2017/{s}.txt" for s in ("train", "val")},
        name="lle_davis",
    )


def davis(root: str | os.PathLike, resolution: str = "480p") -> DatasetLayout:
    """Plain DAVIS 2016/2017 (normal light, no events): ``JPEGImages/<res>``, ``Annotations/<res>``.

    Splits ``train``/``val`` come from ``ImageSets/<res>/`` (DAVIS 2016) or, when that folder
    is absent, ``ImageSets/2017/`` (DAVIS 2017); ``test-dev``/``test-challenge`` are added
    for DAVIS 2017 when present. Voxel grids are zeros (``has_events`` is False).
    """
    root = Path(root)
    split_dir = f"ImageSets/{resolution}"
    if not (root / split_dir).is_dir() and (root / "ImageSets/2017").is_dir():
        split_dir = "ImageSets/2017"
    names = ["train", "val"] + [s for s in ("test-dev", "test-challenge") if (root / split_dir / f"{s}.txt").is_file()]
    return DatasetLayout(
        root=root,
        image_dir=f"JPEGImages/{resolution}",
        mask_dir=f"Annotations/{resolution}",
        splits={s: f"{split_dir}/{s}.txt" for s in names},
        name="davis",
    )


def generic(
    root: str | os.PathLike,
    image_dir: str,
    mask_dir: str,
    event_dir: str | None = None,
    voxel_dir: str | None = None,
    split_file: str | None = None,
) -> DatasetLayout:
    """Any ``<folder>/<seq>/<frame>`` dataset (YouTube-VOS, MOSE, a converted folder).

    Args:
        root: dataset root; the other folders are relative to it.
        image_dir, mask_dir: frame and mask folders.
        event_dir: event chunk folder (``.npz``/``.npy``), or ``None`` for frames only.
        voxel_dir: voxel cache folder, or ``None``.
        split_file: file (relative to ``root``) listing the sequences to use; it becomes the
            default split, named after the file stem. ``None`` = every sequence folder.
    """
    splits, default = {}, None
    if split_file is not None:
        default = Path(split_file).stem
        splits[default] = split_file
    return DatasetLayout(
        root=Path(root),
        image_dir=image_dir,
        mask_dir=mask_dir,
        event_dir=event_dir,
        voxel_dir=voxel_dir,
        splits=splits,
        default_split=default,
        name="generic",
    )


PRESETS = {"lle_vos": lle_vos, "lle_davis": lle_davis, "davis": davis}


def make_layout(preset: str, root: str | os.PathLike, **options) -> DatasetLayout:
    """A layout by preset name, for configs: ``make_layout("lle_davis", "/data/LLE_DAVIS")``.

    Args:
        preset: ``lle_vos``, ``lle_davis``, ``davis`` or ``generic``.
        root: dataset root.
        **options: ``resolution`` for ``davis``; ``image_dir``, ``mask_dir``, ``event_dir``,
            ``voxel_dir``, ``split_file`` for ``generic``.

    Raises:
        InputError: unknown preset, or options the preset does not take.
    """
    makers = {**PRESETS, "generic": generic}
    if preset not in makers:
        raise InputError(None, f"unknown dataset layout {preset!r}", f"use one of {sorted(makers)}")
    try:
        return makers[preset](root, **options)
    except TypeError as e:
        raise InputError(root, f"bad options for the {preset} layout ({e})", "see evolve.data.layout." + preset) from e


def detect_layout(root: str | os.PathLike) -> DatasetLayout:
    """Guess the preset of a dataset folder from its sub-folders.

    ``trainval_480p/Lowlight_Images`` -> :func:`lle_davis` (also when ``root`` is the
    ``trainval_480p`` folder itself); ``Lowlight_Images`` + ``Annotations`` -> :func:`lle_vos`;
    ``JPEGImages/480p`` -> :func:`davis`.

    Raises:
        InputError: the folder does not exist or matches no preset.
    """
    r = Path(root)
    if not r.is_dir():
        raise InputError(r, "dataset folder does not exist", "check the path")
    if (r / "Lowlight_Images").is_dir() and r.name == "trainval_480p":
        return lle_davis(r.parent)
    if (r / "trainval_480p" / "Lowlight_Images").is_dir():
        return lle_davis(r)
    if (r / "Lowlight_Images").is_dir() and (r / "Annotations").is_dir():
        return lle_vos(r)
    if (r / "JPEGImages" / "480p").is_dir():
        return davis(r)
    raise InputError(
        r,
        "cannot tell the dataset layout (no Lowlight_Images/, trainval_480p/ or JPEGImages/480p/)",
        "pass --layout lle_vos|lle_davis|davis, or --layout generic with --image-dir and --mask-dir",
    )


# -- listing ------------------------------------------------------------------------------
def list_all_sequences(layout: DatasetLayout) -> list[str]:
    """Every sequence folder under ``image_dir``, naturally sorted.

    Raises:
        InputError: ``image_dir`` does not exist or has no sequence folder.
    """
    return list_sequence_folders(layout.root / layout.image_dir, f"frame folder of the {layout.name} layout")


def list_sequences(layout: DatasetLayout, split: str | os.PathLike | None = None) -> list[str]:
    """Sequences of a split, in split-file order.

    Args:
        layout: the dataset.
        split: a split name of the layout (``"train"``, ``"val"`` ...), a path to a split file,
            or ``None`` for the layout's default split (every sequence folder when it has none).

    Raises:
        InputError: unknown split, missing split file, or a split naming a sequence with no
            frame folder.
    """
    if split is None:
        split = layout.default_split
    if split is None:
        return list_all_sequences(layout)
    split_s = os.fspath(split)
    if split_s in layout.splits:
        path = layout.split_path(split_s)
    elif Path(split_s).is_file() or (layout.root / split_s).is_file():
        path = Path(split_s) if Path(split_s).is_file() else layout.root / split_s
    else:
        layout.split_path(split_s)  # raises the "unknown split" error
        raise AssertionError  # pragma: no cover
    seqs = read_split_file(path)
    for s in seqs:
        if not layout.image_folder(s).is_dir():
            raise InputError(
                path, f"names sequence {s!r} but {layout.image_folder(s)} does not exist", "remove the line or add the sequence"
            )
    return seqs


def _files_by_stem(folder: Path, extensions: tuple[str, ...]) -> dict[str, Path]:
    """``{stem: path}`` of files with one of ``extensions``; two files with one stem is an error."""
    out: dict[str, Path] = {}
    if not folder.is_dir():
        return out
    for p in folder.iterdir():
        if p.suffix.lower() not in extensions or not p.is_file() or p.name.startswith("."):
            continue
        if p.stem in out:
            raise InputError(
                p, f"two files for frame {p.stem!r} ({out[p.stem].name} and {p.name})", "keep one file per frame and delete the other"
            )
        out[p.stem] = p
    return out


def list_frames(layout: DatasetLayout, seq: str) -> list[str]:
    """Frame stems of a sequence, naturally sorted (``["00000", "00001", ...]``).

    Raises:
        InputError: the sequence folder is missing or holds no frames, or two files share a stem.
    """
    folder = layout.image_folder(seq)
    if not folder.is_dir():
        raise InputError(folder, "sequence folder does not exist", "check the sequence name and the dataset root")
    frames = _files_by_stem(folder, IMAGE_EXTENSIONS)
    if not frames:
        raise InputError(folder, f"no frames ({'/'.join(IMAGE_EXTENSIONS)}) in the sequence folder", "add the frames or remove the sequence")
    return sorted(frames, key=natural_key)


@dataclass(frozen=True)
class SequenceFiles:
    """The files of one sequence, paired by frame stem.

    Attributes:
        name: sequence name.
        frames: frame stems in order.
        frame_files: frame image of each frame.
        mask_files: ``{stem: mask}`` for frames that have a mask (all frames for DAVIS; the
            annotated ones for sparse datasets).
        chunk_files: per frame, the event chunk whose voxel grid goes with it (the first
            frame gets the second frame's chunk unless it has its own); ``None`` when the
            sequence has no raw events.
        voxel_files: per frame, the cache file path (may not exist yet); ``None`` without cache.
        has_events: False for frames-only sequences (voxel grids are zeros).
    """

    name: str
    frames: tuple[str, ...]
    frame_files: tuple[Path, ...]
    mask_files: dict[str, Path]
    chunk_files: tuple[Path | None, ...]
    voxel_files: tuple[Path | None, ...]
    has_events: bool

    def __len__(self) -> int:
        return len(self.frames)

    def _pos(self, stem: str) -> int:
        try:
            return self.frames.index(stem)
        except ValueError:
            raise KeyError(f"sequence {self.name!r} has no frame {stem!r}") from None

    def frame_of(self, stem: str) -> Path:
        """Frame image of frame ``stem``. Raises KeyError for an unknown stem."""
        return self.frame_files[self._pos(stem)]

    def mask_of(self, stem: str) -> Path | None:
        """Mask of frame ``stem``, or ``None`` when that frame is not annotated."""
        self._pos(stem)
        return self.mask_files.get(stem)

    def chunk_of(self, stem: str) -> Path | None:
        """Event chunk that goes with frame ``stem`` (frame-0 rule applied); ``None`` without events."""
        return self.chunk_files[self._pos(stem)]

    def voxel_of(self, stem: str) -> Path | None:
        """Voxel cache file of frame ``stem`` (may not exist yet); ``None`` without a cache folder."""
        return self.voxel_files[self._pos(stem)]

    def chunk_for_reversed(self, i: int) -> Path | None:
        """The chunk whose time-reversed voxel grid goes with frame ``i`` in a reversed clip.

        In reverse playback the events that end at frame ``i`` are those between frame
        ``i+1`` and frame ``i``: the chunk named after frame ``i+1``. The last frame (first
        of the reversed video) has none and uses the same chunk as the frame before it,
        mirroring the frame-0 rule. ``None`` for frames-only sequences.
        """
        if not self.has_events or len(self.frames) < 2:
            return None
        return self.chunk_files[min(i + 1, len(self.frames) - 1)]


def _stem_hint(stem: str, others: dict[str, Path]) -> str:
    if stem.isdigit():
        for o in others:
            if o.isdigit() and int(o) == int(stem):
                return f" (it looks like {others[o].name} with different zero padding)"
    return ""


def pair_event_chunks(frames: list[str], chunks: dict[str, Path], folder: Path) -> list[tuple[Path, str, str]]:
    """Problems of pairing frames with event chunks by name, as ``(file, problem, fix)``.

    A chunk is needed for every frame but the first; a chunk named after no frame is extra.
    Empty list = the pairing is complete.
    """
    out: list[tuple[Path, str, str]] = []
    frame_set = set(frames)
    for stem in frames[1:]:
        if stem not in chunks:
            ext = next(iter(chunks.values())).suffix if chunks else ".npz"
            out.append((
                folder / f"{stem}{ext}",
                "missing event chunk for frame " + repr(stem) + _stem_hint(stem, chunks),
                "every frame after the first needs the chunk of events that ends at it, named like the frame",
            ))
    for stem, p in sorted(chunks.items(), key=lambda kv: natural_key(kv[0])):
        if stem not in frame_set:
            out.append((
                p,
                "event chunk with no frame of the same name" + _stem_hint(stem, {f: folder / f for f in frames}),
                "rename it to the stem of the frame that ends its interval, or delete it",
            ))
    return out


def index_sequence(layout: DatasetLayout, seq: str) -> SequenceFiles:
    """List and pair the files of one sequence (no file is opened).

    Raises:
        InputError: no frames; a layout with events whose sequence has neither an event folder
            nor a voxel cache folder; a missing chunk for a frame after the first; a chunk
            with no frame (the message names the file); with only a voxel cache, a missing
            voxel file.
    """
    frames = list_frames(layout, seq)
    image_files = _files_by_stem(layout.image_folder(seq), IMAGE_EXTENSIONS)
    masks = _files_by_stem(layout.mask_folder(seq), MASK_EXTENSIONS)
    mask_files = {s: masks[s] for s in frames if s in masks}
    n = len(frames)
    chunk_files: list[Path | None] = [None] * n
    voxel_files: list[Path | None] = [None] * n
    has_events = False
    if layout.has_events:
        ev_folder = layout.event_folder(seq)
        vx_folder = layout.voxel_folder(seq)
        have_events = ev_folder is not None and ev_folder.is_dir()
        have_cache = vx_folder is not None and vx_folder.is_dir()
        if not have_events and not have_cache:
            missing = ev_folder if ev_folder is not None else vx_folder
            raise InputError(
                missing,
                "event folder of the sequence does not exist",
                "add the events (or precomputed EventVoxel files), or use a frames-only layout "
                "(davis / generic without event_dir) to train or evaluate without events",
            )
        has_events = True
        if have_events:
            chunks = _files_by_stem(ev_folder, EVENT_EXTENSIONS)
            problems = pair_event_chunks(frames, chunks, ev_folder)
            if problems:
                path, problem, fix = problems[0]
                more = f" ({len(problems) - 1} more pairing problem(s) in this folder)" if len(problems) > 1 else ""
                raise InputError(path, problem + more, fix + "; run evolve-check for the full list")
            if n >= 2:
                chunk_files = [chunks.get(frames[0], chunks[frames[1]])] + [chunks[s] for s in frames[1:]]
            else:
                chunk_files = [chunks.get(frames[0])]
        if vx_folder is not None:
            voxel_files = [vx_folder / f"{s}{VOXEL_EXTENSION}" for s in frames]
            if not have_events:
                for v in voxel_files:
                    if not v.is_file():
                        raise InputError(
                            v, "voxel grid file missing and there are no raw events to build it from",
                            f"add the events under {layout.event_dir} or rerun evolve-voxels",
                        )
    return SequenceFiles(
        name=seq,
        frames=tuple(frames),
        frame_files=tuple(image_files[s] for s in frames),
        mask_files=mask_files,
        chunk_files=tuple(chunk_files),
        voxel_files=tuple(voxel_files),
        has_events=has_events,
    )
