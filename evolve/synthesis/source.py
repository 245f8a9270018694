"""The source of a conversion: a normal-light video dataset in DAVIS-like folders.

Accepted layouts (the converter's ``--src``):

- DAVIS 2016 / 2017: ``JPEGImages/480p/<seq>/*.jpg`` and ``Annotations/480p/<seq>/*.png``
  (2016 masks are {0, 255}, read as id 1; 2017 masks are palette PNGs). Splits from
  ``ImageSets/2017/{train,val}.txt``, else ``ImageSets/480p/{train,val}.txt`` (one name per
  line, or the original DAVIS 2016 lines of frame/mask paths), else ``ImageSets/2016/``.
- YouTube-VOS / MOSE / any folder: ``JPEGImages/<seq>/*`` and ``Annotations/<seq>/*.png`` with
  masks on some frames only. No split files: every sequence goes to train.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from evolve.data.image_io import IMAGE_EXTENSIONS, list_images
from evolve.data.splits import read_split_file
from evolve.utils.errors import InputError

_SPLIT_DIRS = ("ImageSets/2017", "ImageSets/480p", "ImageSets/2016")


@dataclass(frozen=True)
class SourceSequence:
    """One source video.

    Attributes:
        name: sequence name (folder name).
        frames: frame files in temporal (name) order.
        masks: frame stem -> mask file, for the annotated frames.
    """

    name: str
    frames: tuple[Path, ...]
    masks: dict[str, Path] = field(default_factory=dict)

    @property
    def stems(self) -> list[str]:
        """Frame names without extension, in order."""
        return [p.stem for p in self.frames]


@dataclass(frozen=True)
class SourceDataset:
    """A DAVIS-like source dataset.

    Attributes:
        root: the folder given as ``--src``.
        image_root: folder holding ``<seq>/`` frame folders.
        mask_root: folder holding ``<seq>/`` mask folders (may not exist).
        kind: ``davis`` (``480p`` sub-folders) or ``flat`` (YouTube-VOS / MOSE style).
        sequences: all sequence names, sorted.
        splits: ``{"train": [...], "val": [...]}`` from the source's split files, or ``None``.
        split_file: the folder the splits were read from, or ``None``.
    """

    root: Path
    image_root: Path
    mask_root: Path
    kind: str
    sequences: tuple[str, ...]
    splits: dict[str, list[str]] | None
    split_file: Path | None

    def sequence(self, name: str) -> SourceSequence:
        """List the frames and masks of ``name``.

        Raises:
            InputError: unknown sequence, no frames, two frames with one stem, or a mask
                without a frame.
        """
        folder = self.image_root / name
        if not folder.is_dir():
            raise InputError(folder, f"sequence '{name}' has no frame folder", f"check the name; available: {', '.join(self.sequences[:10])}...")
        frames = list_images(folder)
        if not frames:
            raise InputError(folder, "no frames (.jpg/.png) in the sequence folder", "put the frames of the video there or remove the folder")
        stems = [p.stem for p in frames]
        if len(set(stems)) != len(stems):
            dup = sorted({s for s in stems if stems.count(s) > 1})
            raise InputError(folder, f"several files share the frame names {dup[:5]}", "keep one image per frame name")
        masks: dict[str, Path] = {}
        mfolder = self.mask_root / name
        if mfolder.is_dir():
            known = set(stems)
            for m in sorted(mfolder.iterdir()):
                if m.suffix.lower() != ".png" or not m.is_file():
                    continue
                if m.stem not in known:
                    raise InputError(m, "mask has no frame of the same name", f"add {folder / (m.stem + '.jpg')} or remove the mask")
                masks[m.stem] = m
        return SourceSequence(name, tuple(frames), masks)


def open_source(root: str | os.PathLike) -> SourceDataset:
    """Find the frame/mask folders and split files of a DAVIS-like dataset at ``root``.

    Raises:
        InputError: no ``JPEGImages`` folder, or no sequences in it.
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError(root, "source folder does not exist", "pass --src the folder that holds JPEGImages/ and Annotations/")
    if (root / "JPEGImages" / "480p").is_dir():
        kind, image_root, mask_root = "davis", root / "JPEGImages" / "480p", root / "Annotations" / "480p"
    elif (root / "JPEGImages").is_dir():
        kind, image_root, mask_root = "flat", root / "JPEGImages", root / "Annotations"
    else:
        raise InputError(
            root,
            "no JPEGImages/ folder",
            "pass --src a DAVIS (JPEGImages/480p/<seq>/) or YouTube-VOS/MOSE-style (JPEGImages/<seq>/) dataset root",
        )
    sequences = tuple(
        sorted(
            p.name
            for p in image_root.iterdir()
            if p.is_dir() and any(q.suffix.lower() in IMAGE_EXTENSIONS for q in p.iterdir())
        )
    )
    if not sequences:
        raise InputError(image_root, "no sequence folders with frames", "each sequence needs a folder of frames")
    splits = None
    split_dir = None
    for rel in _SPLIT_DIRS:
        d = root / rel
        if (d / "train.txt").is_file() or (d / "val.txt").is_file():
            splits = {s: (read_split_file(d / f"{s}.txt") if (d / f"{s}.txt").is_file() and (d / f"{s}.txt").read_text().strip() else []) for s in ("train", "val")}
            split_dir = d
            break
    return SourceDataset(root, image_root, mask_root, kind, sequences, splits, split_dir)
