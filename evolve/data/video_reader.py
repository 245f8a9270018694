"""Test-time reading of VOS sequences: frames, voxel grids and the given masks, frame by frame.

Contract: docs/architecture.md ("Test-time reader"). One :class:`VOSTestDataset` per
dataset split; each sequence is a :class:`VideoReader`, a ``torch.utils.data.Dataset`` of
:class:`FrameSample` in frame order. Reading is lazy (one frame at a time), so a reader can
feed a ``DataLoader`` with worker processes that decode frames and build voxel grids in
parallel while the network runs::

    for reader in VOSTestDataset(lle_davis(root), "val", size=480):
        for sample in reader.loader(num_workers=2):   # in frame order
            probs = core.step(sample.rgb.to(dev), sample.voxel.to(dev), sample.mask, sample.objects)

``loader`` uses ``batch_size=None`` (no collation: each item is one ``FrameSample``) and
keeps the frame order. Plain iteration (``for sample in reader``) reads in this process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from torchvision import tv_tensors
from torchvision.transforms import InterpolationMode
from torchvision.transforms.v2 import functional as TF

from evolve.data.image_io import davis_palette, read_frame, read_mask
from evolve.data.layout import DatasetLayout, SequenceFiles, index_sequence, list_sequences
from evolve.data.voxel import DEFAULT_NUM_BINS, frame_voxel_grid
from evolve.utils.errors import InputError


@dataclass
class FrameSample:
    """One frame of a test sequence.

    Attributes:
        index: position of the frame in the sequence (0-based).
        name: frame stem (``"00017"``), used to name the output mask.
        rgb: float32 (3, H, W) in [0, 1], the (low-light) frame, resized if asked.
        voxel: float32 (B, H, W) voxel grid of the frame's event chunk, same H, W as ``rgb``
            (zeros for frames-only datasets).
        mask: int64 (H, W) object ids on frames that carry a given mask, else ``None``.
        objects: sorted object ids present in ``mask`` (``None`` when ``mask`` is ``None``).
    """

    index: int
    name: str
    rgb: torch.Tensor
    voxel: torch.Tensor
    mask: torch.Tensor | None
    objects: list[int] | None


def resized_size(size: tuple[int, int], shorter_side: int) -> tuple[int, int]:
    """``(height, width)`` after scaling the shorter side to ``shorter_side`` pixels.

    Only shrinks: when ``shorter_side <= 0`` or the frame's shorter side is already at most
    ``shorter_side``, ``size`` is returned unchanged. The longer side is rounded to the
    nearest pixel (854x480 -> 480 at 480; 1920x1080 -> 853x480).
    """
    h, w = size
    if shorter_side <= 0 or min(h, w) <= shorter_side:
        return h, w
    scale = shorter_side / min(h, w)
    if h <= w:
        return shorter_side, int(round(w * scale))
    return int(round(h * scale)), shorter_side


class VideoReader(Dataset):
    """Frames of one sequence, with voxel grids and the given masks (a map-style Dataset).

    Args:
        layout: the dataset.
        seq: sequence name.
        size: shorter-side size in pixels (frames larger than that are shrunk; -1 = native).
        num_bins: B of the voxel grids.
        use_all_masks: give the mask of every annotated frame (objects that appear later,
            YouTube-VOS style), not only the first frame's.

    Attributes:
        name: sequence name.
        frame_names: frame stems in order.
        palette: 768-byte palette of the first mask (DAVIS palette for non-palette masks).
        original_size: ``(H, W)`` of the frames on disk.
        size_out: ``(H, W)`` of the tensors returned.
        has_events: False for frames-only sequences (voxel grids are zeros).

    Raises:
        InputError: pairing problems (see :func:`evolve.data.layout.index_sequence`), a missing
            first-frame mask, and, while reading, undecodable frames/masks/chunks, frames
            of another size than the first, a mask of the wrong size, an RGB mask, or a
            first-frame mask with no object (without ``use_all_masks``).
    """

    def __init__(
        self,
        layout: DatasetLayout,
        seq: str,
        size: int = -1,
        num_bins: int = DEFAULT_NUM_BINS,
        use_all_masks: bool = False,
    ) -> None:
        self.layout = layout
        self.files: SequenceFiles = index_sequence(layout, seq)
        self.name = seq
        self.frame_names: list[str] = list(self.files.frames)
        self.num_bins = num_bins
        self.use_all_masks = use_all_masks
        first = self.frame_names[0]
        if first not in self.files.mask_files:
            if not use_all_masks or not self.files.mask_files:
                raise InputError(
                    layout.mask_folder(seq) / f"{first}.png",
                    "the first frame has no mask (semi-supervised VOS needs it)",
                    "add the first frame's annotation, or use use_all_masks for masks given on later frames",
                )
        from PIL import Image  # header only: the size, not the pixels

        try:
            with Image.open(self.files.frame_files[0]) as im:
                w, h = im.size
        except OSError as e:
            raise InputError(self.files.frame_files[0], f"cannot open image ({e})", "re-export or re-download this file") from e
        self.original_size = (h, w)
        self.size_out = resized_size(self.original_size, size)
        self.has_events = self.files.has_events
        self._palette: bytes | None = None

    @property
    def palette(self) -> bytes:
        """768-byte palette of the first annotated mask (DAVIS palette when it has none)."""
        if self._palette is None:
            first_mask = next(iter(self.files.mask_files.values()), None)
            pal = read_mask(first_mask)[1] if first_mask is not None else None
            self._palette = pal if pal is not None else davis_palette()
        return self._palette

    def __len__(self) -> int:
        return len(self.frame_names)

    def _gives_mask(self, index: int) -> bool:
        stem = self.frame_names[index]
        if stem not in self.files.mask_files:
            return False
        return self.use_all_masks or index == 0

    def __getitem__(self, index: int) -> FrameSample:
        if not 0 <= index < len(self):
            raise IndexError(index)
        stem = self.frame_names[index]
        path = self.files.frame_files[index]
        rgb_u8 = read_frame(path)  # (H, W, 3) uint8
        if rgb_u8.shape[:2] != self.original_size:
            raise InputError(
                path,
                f"frame is {rgb_u8.shape[1]}x{rgb_u8.shape[0]} but the first frame of the sequence is "
                f"{self.original_size[1]}x{self.original_size[0]}",
                "all frames of a sequence must have one size; re-export the sequence",
            )
        rgb = torch.from_numpy(rgb_u8).permute(2, 0, 1).float().div_(255.0)  # (3, H, W)
        voxel = frame_voxel_grid(self.files, index, self.original_size, self.num_bins)  # (B, H, W)
        mask = objects = None
        if self._gives_mask(index):
            mpath = self.files.mask_files[stem]
            ids, _ = read_mask(mpath)  # (H, W) uint8
            if ids.shape != self.original_size:
                raise InputError(
                    mpath,
                    f"mask is {ids.shape[1]}x{ids.shape[0]} but the frame is {self.original_size[1]}x{self.original_size[0]}",
                    "masks must have the size of their frame",
                )
            objects = [int(v) for v in np.unique(ids) if v != 0]
            if index == 0 and not objects and not self.use_all_masks:
                raise InputError(mpath, "the first-frame mask has no object (all background)", "annotate at least one object on the first frame")
            mask = torch.from_numpy(ids.astype(np.int64))  # (H, W)
        if self.size_out != self.original_size:
            rgb = TF.resize(rgb, list(self.size_out), interpolation=InterpolationMode.BILINEAR, antialias=True).clamp_(0, 1)
            voxel = TF.resize(tv_tensors.Mask(voxel), list(self.size_out), interpolation=InterpolationMode.NEAREST).as_subclass(torch.Tensor)
            if mask is not None:
                mask = TF.resize(tv_tensors.Mask(mask[None]), list(self.size_out), interpolation=InterpolationMode.NEAREST)
                mask = mask.as_subclass(torch.Tensor)[0]
                objects = [int(v) for v in torch.unique(mask).tolist() if v != 0]
        return FrameSample(index=index, name=stem, rgb=rgb.contiguous(), voxel=voxel.contiguous(), mask=mask, objects=objects)

    def __iter__(self) -> Iterator[FrameSample]:
        for i in range(len(self)):
            yield self[i]

    def loader(self, num_workers: int = 2, pin_memory: bool = False) -> Iterator[FrameSample]:
        """The frames in order, decoded by ``num_workers`` DataLoader processes.

        A ``DataLoader(self, batch_size=None, ...)`` (each item is one :class:`FrameSample`,
        no collation). An :class:`InputError` raised in a worker is raised again here with
        its type, file and fix (a plain DataLoader would turn it into a RuntimeError).
        """
        dl = DataLoader(
            _ErrorsAsValues(self),
            batch_size=None,
            shuffle=False,
            num_workers=num_workers,
            pin_memory=pin_memory,
            prefetch_factor=4 if num_workers > 0 else None,
        )
        for item in dl:
            if isinstance(item, (tuple, list)):  # ("InputError", path, problem, fix) from a worker
                raise InputError(item[1], item[2], item[3])
            yield item


class _ErrorsAsValues(Dataset):
    """Wraps a reader so InputErrors cross the worker boundary as plain tuples."""

    def __init__(self, reader: VideoReader) -> None:
        self.reader = reader

    def __len__(self) -> int:
        return len(self.reader)

    def __getitem__(self, i: int):
        try:
            return self.reader[i]
        except InputError as e:
            return ("InputError", e.path, e.problem, e.fix)


class VOSTestDataset:
    """The sequences of one split, each read by a :class:`VideoReader`.

    Args:
        layout: the dataset (:mod:`evolve.data.layout` presets).
        split: split name (``"val"``), a split file path, or ``None`` (layout default).
        size: shorter side in pixels (-1 = native; LLE-DAVIS 480, LLE-VOS -1; DESIGN 5).
        num_bins: B of the voxel grids (EVOLVE: 5).
        use_all_masks: masks on every annotated frame (YouTube-VOS-like data).

    Raises:
        InputError: unknown split, missing split file, or a split naming a missing sequence.
    """

    def __init__(
        self,
        layout: DatasetLayout,
        split: str | os.PathLike | None = None,
        size: int = -1,
        num_bins: int = DEFAULT_NUM_BINS,
        use_all_masks: bool = False,
    ) -> None:
        self.layout = layout
        self.size = size
        self.num_bins = num_bins
        self.use_all_masks = use_all_masks
        self.sequences: list[str] = list_sequences(layout, split)

    def __len__(self) -> int:
        return len(self.sequences)

    def __getitem__(self, i: int) -> VideoReader:
        return VideoReader(self.layout, self.sequences[i], self.size, self.num_bins, self.use_all_masks)

    def __iter__(self) -> Iterator[VideoReader]:
        for i in range(len(self)):
            yield self[i]
