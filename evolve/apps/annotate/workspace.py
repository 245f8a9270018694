"""What ``evolve-annotate --data`` opens, reading a sequence into memory, and path confinement.

Three kinds of input:

- a **dataset root** in any layout evolve reads (:mod:`evolve.data.layout`: ``lle_vos``,
  ``lle_davis``, ``davis``, detected from the sub-folders, or ``generic`` with explicit folders):
  every sequence of it can be annotated;
- a **sequence folder**: the frame folder of one sequence. When it sits inside a dataset of a
  known layout (``.../trainval_480p/Lowlight_Images/bear``) that dataset is opened restricted to
  the sequence (so its events and masks are found); otherwise it is a bare folder of frames
  with optional ``events/`` (chunks named like the frames, :mod:`evolve.data.layout` pairing
  rules) and ``masks/`` sub-folders;
- a **video file** (anything OpenCV decodes): frames decoded with OpenCV; it has no events until
  they are synthesised on request (:mod:`evolve.apps.annotate.events`).

Confinement: every path built from a request (a sequence name, a weights file, an export
target) goes through :func:`confine`, which refuses anything that resolves outside the opened
folders (``..``, absolute paths, symbolic links leading out). Sequence names are only accepted
when they are one of the names the workspace lists.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch
from torchvision import tv_tensors
from torchvision.transforms import InterpolationMode
from torchvision.transforms.v2 import functional as TF

from evolve.data.events import EVENT_EXTENSIONS
from evolve.data.image_io import IMAGE_EXTENSIONS, davis_palette, read_frame, read_mask
from evolve.data.layout import (
    DatasetLayout,
    SequenceFiles,
    detect_layout,
    index_sequence,
    list_all_sequences,
    make_layout,
    pair_event_chunks,
)
from evolve.data.splits import natural_key
from evolve.data.video_reader import resized_size
from evolve.data.voxel import frame_voxel_grid
from evolve.inference.interactive import VideoFrames
from evolve.utils.errors import InputError

#: File suffixes opened as video files.
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg")

#: ``progress(done, total)`` while a sequence is read.
LoadProgress = Callable[[int, int], None]


class PathRefused(Exception):
    """A request named a path outside the opened folders (the server answers 403)."""


def confine(root: str | os.PathLike, relative: str | os.PathLike) -> Path:
    """``root / relative``, resolved, refused when it leaves ``root``.

    Args:
        root: an opened folder.
        relative: a path from a request, relative to ``root``.
    Returns:
        The resolved absolute path (it may not exist).
    Raises:
        PathRefused: ``relative`` is absolute, empty, contains a NUL byte, or resolves outside
            ``root`` (``..`` components, symbolic links leading out).
    """
    text = os.fspath(relative)
    if not text or "\x00" in text or os.path.isabs(text) or text.startswith("~"):
        raise PathRefused(f"{text!r} is not a path relative to the opened folder")
    base = Path(root).resolve()
    target = (base / text).resolve()
    if target != base and base not in target.parents:
        raise PathRefused(f"{text!r} leads outside the opened folder {base}")
    return target


@dataclass
class LoadedSequence:
    """One sequence in memory at the working size.

    Attributes:
        name: sequence name (output folder name).
        frames: the frames at the working size (uint8 RGB; float16 voxel grids when the
            sequence has events, recorded or synthesised, else none).
        stems: frame stems (output file names), in order.
        original_size: (H, W) of the frames on disk; exported masks have this size.
        palette: 768-byte palette of the input masks (the DAVIS palette when there are none).
        has_events: the sequence has real (recorded or converted) events.
        events_synthetic: the events were synthesised here from the frames.
        gain: brightening gain of the "bright" view (one per sequence, so it does not flicker).
        fps: frame rate (video files; 25 otherwise) used to synthesise events.
        normal_frames: per frame, the normal-light frame file (LLE layouts), else None.
        warnings: problems that did not stop loading (shown in the page).
    """

    name: str
    frames: VideoFrames
    stems: list[str]
    original_size: tuple[int, int]
    palette: bytes
    has_events: bool
    events_synthetic: bool = False
    gain: float = 1.0
    fps: float = 25.0
    normal_frames: Optional[list[Optional[Path]]] = None
    warnings: list[str] = field(default_factory=list)

    @property
    def num_frames(self) -> int:
        """T."""
        return self.frames.num_frames

    @property
    def size(self) -> tuple[int, int]:
        """(H, W) working size."""
        return self.frames.size

    def rgb_u8(self, t: int) -> np.ndarray:
        """Frame ``t`` at the working size as uint8 (H, W, 3)."""
        rgb, _ = self.frames.frame(t)
        return (rgb.permute(1, 2, 0).numpy() * 255.0 + 0.5).astype(np.uint8)

    def voxel(self, t: int) -> Optional[torch.Tensor]:
        """float32 (B, H, W) voxel grid of frame ``t`` (None for a frames-only session)."""
        return self.frames.frame(t)[1]


def sequence_gain(samples: list[np.ndarray], percentile: float = 99.0) -> float:
    """Brightening gain of a sequence from sampled uint8 (H, W, 3) frames: 255 over the
    ``percentile`` of their values (one gain for the whole video, so the bright view does not
    flicker; :func:`evolve.vis.events.brighten` computes the same for one image). 1.0 without samples."""
    if not samples:
        return 1.0
    return 255.0 / max(float(np.percentile(np.stack(samples), percentile)), 1.0)


def _resize_rgb(rgb: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(3, H, W) float -> (3, h, w), bilinear with antialiasing (as the test-time reader)."""
    if tuple(rgb.shape[-2:]) == tuple(size):
        return rgb
    return TF.resize(rgb, list(size), interpolation=InterpolationMode.BILINEAR, antialias=True).clamp_(0, 1)


def _resize_voxel(voxel: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(B, H, W) voxel grid -> (B, h, w), nearest (as the test-time reader)."""
    if tuple(voxel.shape[-2:]) == tuple(size):
        return voxel
    return TF.resize(tv_tensors.Mask(voxel), list(size), interpolation=InterpolationMode.NEAREST).as_subclass(torch.Tensor)


def load_sequence_files(
    files: SequenceFiles, size: int, num_bins: int, progress: Optional[LoadProgress] = None,
    cancel: Optional[Callable[[], bool]] = None, normal_folder: Optional[Path] = None,
) -> Optional[LoadedSequence]:
    """Read every frame (and voxel grid) of an indexed sequence at the working size.

    Args:
        files: the paired files (:func:`evolve.data.layout.index_sequence`).
        size: shorter side of the working size in pixels (-1 = native; frames are only shrunk).
        num_bins: B of the voxel grids.
        progress: ``progress(done, total)`` after each frame.
        cancel: returns True to stop (the function then returns None).
        normal_folder: folder of the normal-light frames (LLE layouts), or None.
    Returns:
        The :class:`LoadedSequence`, or None when cancelled.
    Raises:
        InputError: an unreadable frame, frames of different sizes, an unreadable event chunk
            or voxel cache file (the message names the file).
    """
    n = len(files.frames)
    rgbs: list[torch.Tensor] = []
    voxels: list[torch.Tensor] = []
    thumbs: list[np.ndarray] = []
    original: Optional[tuple[int, int]] = None
    work: tuple[int, int] = (0, 0)
    for i, path in enumerate(files.frame_files):
        if cancel is not None and cancel():
            return None
        rgb_u8 = read_frame(path)  # (H, W, 3) uint8
        if original is None:
            original = (int(rgb_u8.shape[0]), int(rgb_u8.shape[1]))
            work = resized_size(original, size)
        elif rgb_u8.shape[:2] != original:
            raise InputError(path, f"frame is {rgb_u8.shape[1]}x{rgb_u8.shape[0]} but the first frame is {original[1]}x{original[0]}",
                             "all frames of a sequence must have one size; re-export the sequence")
        rgb = _resize_rgb(torch.from_numpy(rgb_u8).permute(2, 0, 1).float().div_(255.0), work)  # (3, h, w)
        rgbs.append(rgb)
        if i % 8 == 0:
            thumbs.append((rgb.permute(1, 2, 0).numpy() * 255.0).astype(np.uint8))
        if files.has_events:
            voxels.append(_resize_voxel(frame_voxel_grid(files, i, original, num_bins), work).to(torch.float16))  # (B, h, w)
        if progress is not None:
            progress(i + 1, n)
    assert original is not None
    mask_path = next(iter(files.mask_files.values()), None)
    palette = davis_palette()
    warnings: list[str] = []
    if mask_path is not None:
        try:
            palette = read_mask(mask_path)[1] or palette
        except InputError as exc:
            warnings.append(f"the palette of {mask_path} could not be read ({exc}); the DAVIS palette is used")
    normal = None
    if normal_folder is not None and normal_folder.is_dir():
        normal = [_find_image(normal_folder, stem) for stem in files.frames]
    frames = VideoFrames(rgbs, voxels if voxels else None, list(files.frames))
    return LoadedSequence(files.name, frames, list(files.frames), original, palette, files.has_events,
                          gain=sequence_gain(thumbs), normal_frames=normal, warnings=warnings)


def _find_image(folder: Path, stem: str) -> Optional[Path]:
    for ext in IMAGE_EXTENSIONS:
        p = folder / f"{stem}{ext}"
        if p.is_file():
            return p
    return None


class Workspace:
    """What ``--data`` opened (module docstring).

    Attributes:
        root: the opened folder (resolved); every request-derived path stays inside it.
        kind: ``"dataset"``, ``"sequence"`` or ``"video"``.
        description: one line for the page and the console.
    """

    root: Path
    kind: str
    description: str

    def sequences(self) -> list[str]:
        """Names of the sequences that can be annotated."""
        raise NotImplementedError

    def check_sequence(self, name: str) -> str:
        """``name`` when it is one of :meth:`sequences`.

        Raises:
            PathRefused: any other name (never turned into a path).
        """
        if not isinstance(name, str) or name not in self.sequences():
            raise PathRefused(f"{name!r} is not a sequence of {self.root}")
        return name

    def load(self, name: str, size: int, num_bins: int, progress: Optional[LoadProgress] = None,
             cancel: Optional[Callable[[], bool]] = None) -> Optional[LoadedSequence]:
        """Read sequence ``name`` (see :func:`load_sequence_files`)."""
        raise NotImplementedError

    def default_output(self) -> Path:
        """Where exports go unless ``--out`` says otherwise: ``<root>/evolve_annotate``."""
        return self.root / "evolve_annotate"


class DatasetWorkspace(Workspace):
    """A dataset in a layout of :mod:`evolve.data.layout`, optionally restricted to one sequence.

    Args:
        layout: the dataset.
        only: the one sequence to offer (a sequence folder was opened), or None for all.
    Raises:
        InputError: the frame folder has no sequence (or ``only`` is not one).
    """

    kind = "dataset"

    def __init__(self, layout: DatasetLayout, only: Optional[str] = None) -> None:
        self.layout = layout
        self.root = Path(layout.root).resolve()
        names = list_all_sequences(layout)
        if only is not None:
            if only not in names:
                raise InputError(layout.image_folder(only), "is not a sequence folder of the dataset", "open the dataset root or a sequence folder")
            names = [only]
            self.kind = "sequence"
        self._names = names
        self.description = f"{layout.name} dataset {self.root} ({len(names)} sequence{'s' if len(names) != 1 else ''})"

    def sequences(self) -> list[str]:
        """See :class:`Workspace`."""
        return list(self._names)

    def load(self, name, size, num_bins, progress=None, cancel=None):
        """See :class:`Workspace`; pairing problems (a missing event chunk) are InputErrors."""
        self.check_sequence(name)
        files = index_sequence(self.layout, name)
        normal = self.root / self.layout.normal_image_dir / name if self.layout.normal_image_dir else None
        return load_sequence_files(files, size, num_bins, progress, cancel, normal)


class FolderWorkspace(Workspace):
    """A bare folder of frames, with optional ``events/`` and ``masks/`` sub-folders.

    Raises:
        InputError: no frame in the folder, two files for one frame, or event chunks that do not
            pair with the frames (:func:`evolve.data.layout.pair_event_chunks`).
    """

    kind = "sequence"

    def __init__(self, folder: str | os.PathLike) -> None:
        self.root = Path(folder).resolve()
        self.name = self.root.name
        frames = _by_stem(self.root, IMAGE_EXTENSIONS)
        if not frames:
            raise InputError(self.root, "no frames (.jpg/.png/.bmp) and no dataset layout found",
                             "point --data at a dataset root, a folder of frames or a video file")
        self.stems = sorted(frames, key=natural_key)
        self.frame_files = tuple(frames[s] for s in self.stems)
        ev_dir = self.root / "events"
        chunks = _by_stem(ev_dir, EVENT_EXTENSIONS) if ev_dir.is_dir() else {}
        self.has_events = bool(chunks)
        self.chunk_files: tuple = (None,) * len(self.stems)
        if chunks:
            problems = pair_event_chunks(self.stems, chunks, ev_dir)
            if problems:
                path, problem, fix = problems[0]
                raise InputError(path, problem, fix)
            first = chunks.get(self.stems[0], chunks[self.stems[1]] if len(self.stems) > 1 else None)
            self.chunk_files = (first,) + tuple(chunks[s] for s in self.stems[1:])
        masks = _by_stem(self.root / "masks", (".png",))
        self.mask_files = {s: masks[s] for s in self.stems if s in masks}
        extra = ", events" if self.has_events else ""
        self.description = f"sequence folder {self.root} ({len(self.stems)} frames{extra})"

    def sequences(self) -> list[str]:
        """See :class:`Workspace`."""
        return [self.name]

    def load(self, name, size, num_bins, progress=None, cancel=None):
        """See :class:`Workspace`."""
        self.check_sequence(name)
        files = SequenceFiles(name=self.name, frames=tuple(self.stems), frame_files=self.frame_files, mask_files=self.mask_files,
                              chunk_files=self.chunk_files, voxel_files=(None,) * len(self.stems), has_events=self.has_events)
        return load_sequence_files(files, size, num_bins, progress, cancel)


class VideoWorkspace(Workspace):
    """A video file decoded with OpenCV (no events until synthesised on request).

    Args:
        path: the video file; its folder is the opened folder.
        max_frames: frames kept (memory bound).
    Raises:
        InputError: OpenCV cannot open the file.
    """

    kind = "video"

    def __init__(self, path: str | os.PathLike, max_frames: int = 3000) -> None:
        import cv2

        self.path = Path(path).resolve()
        self.root = self.path.parent
        self.name = self.path.stem
        self.max_frames = int(max_frames)
        cap = cv2.VideoCapture(str(self.path))
        try:
            if not cap.isOpened():
                raise InputError(self.path, "OpenCV cannot open the video", "convert it to an MP4 (H.264) or extract the frames into a folder")
            self.fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0) or 25.0
            count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        finally:
            cap.release()
        self.description = f"video {self.path} (~{count} frames at {self.fps:.3g} fps; events can be synthesised)"

    def sequences(self) -> list[str]:
        """See :class:`Workspace`."""
        return [self.name]

    def default_output(self) -> Path:
        """``<video folder>/<video stem>_annotate``."""
        return self.root / f"{self.name}_annotate"

    def load(self, name, size, num_bins, progress=None, cancel=None):
        """Decode the video (see :class:`Workspace`).

        Raises:
            InputError: the video has no decodable frame.
        """
        import cv2

        self.check_sequence(name)
        cap = cv2.VideoCapture(str(self.path))
        rgbs: list[torch.Tensor] = []
        thumbs: list[np.ndarray] = []
        original = work = None
        total = max(int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0), 1)
        try:
            while len(rgbs) < self.max_frames:
                if cancel is not None and cancel():
                    return None
                ok, bgr = cap.read()
                if not ok:
                    break
                rgb_u8 = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
                if original is None:
                    original = (int(rgb_u8.shape[0]), int(rgb_u8.shape[1]))
                    work = resized_size(original, size)
                rgb = _resize_rgb(torch.from_numpy(rgb_u8).permute(2, 0, 1).float().div_(255.0), work)
                rgbs.append(rgb)
                if len(rgbs) % 8 == 1:
                    thumbs.append((rgb.permute(1, 2, 0).numpy() * 255.0).astype(np.uint8))
                if progress is not None:
                    progress(len(rgbs), max(total, len(rgbs)))
        finally:
            cap.release()
        if not rgbs or original is None or work is None:
            raise InputError(self.path, "no frame could be decoded", "check the file plays, or extract the frames into a folder")
        warnings = [] if len(rgbs) < self.max_frames else [f"only the first {self.max_frames} frames were read (--max-frames)"]
        stems = [f"{i:05d}" for i in range(len(rgbs))]
        frames = VideoFrames(rgbs, None, stems)
        return LoadedSequence(self.name, frames, stems, original, davis_palette(), has_events=False,
                              gain=sequence_gain(thumbs), fps=self.fps, warnings=warnings)


def _by_stem(folder: Path, extensions: tuple[str, ...]) -> dict[str, Path]:
    """``{stem: file}`` of the files with one of ``extensions`` directly in ``folder``.

    Raises:
        InputError: two files for one stem.
    """
    out: dict[str, Path] = {}
    if not folder.is_dir():
        return out
    for p in folder.iterdir():
        if p.is_file() and p.suffix.lower() in extensions and not p.name.startswith("."):
            if p.stem in out:
                raise InputError(p, f"two files for frame {p.stem!r} ({out[p.stem].name} and {p.name})", "keep one file per frame")
            out[p.stem] = p
    return out


def _dataset_of_sequence_folder(folder: Path) -> Optional[tuple[DatasetLayout, str]]:
    """The (layout, sequence) a sequence folder belongs to, found by trying its ancestors."""
    for up in list(folder.parents)[:4]:
        try:
            layout = detect_layout(up)
        except InputError:
            continue
        if layout.image_folder(folder.name).resolve() == folder.resolve():
            return layout, folder.name
    return None


def open_workspace(data: str | os.PathLike, layout: str = "auto", max_frames: int = 3000, **generic: Optional[str]) -> Workspace:
    """Open what ``--data`` names.

    Args:
        data: a dataset root, a sequence folder or a video file.
        layout: ``auto`` (detect), or a preset of :func:`evolve.data.layout.make_layout`
            (``generic`` takes ``image_dir``, ``mask_dir``, ``event_dir``, ``voxel_dir``).
        max_frames: frames read from a video file.
        **generic: the generic layout's folders.
    Raises:
        InputError: a path that does not exist, an undecodable video, a folder that is neither a
            dataset of a known layout nor a folder of frames, bad generic options.
    """
    path = Path(data).expanduser()
    if not path.exists():
        raise InputError(path, "does not exist", "point --data at a dataset root, a sequence folder or a video file")
    if path.is_file():
        if path.suffix.lower() not in VIDEO_EXTENSIONS:
            raise InputError(path, f"is a file but not a video ({'/'.join(VIDEO_EXTENSIONS)})", "pass a video file or a folder")
        return VideoWorkspace(path, max_frames)
    if layout != "auto":
        opts = {k: v for k, v in generic.items() if v} if layout == "generic" else {}
        if layout == "generic" and not (opts.get("image_dir") and opts.get("mask_dir")):
            raise InputError(path, "--layout generic needs --image-dir and --mask-dir", "name the frame and mask folders")
        return DatasetWorkspace(make_layout(layout, path, **opts))
    try:
        return DatasetWorkspace(detect_layout(path))
    except InputError:
        pass
    found = _dataset_of_sequence_folder(path)
    if found is not None:
        return DatasetWorkspace(found[0], only=found[1])
    return FolderWorkspace(path)
