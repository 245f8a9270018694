"""Pre-training clips from static images (DESIGN 4; Cutie's static stage, with events).

Cutie pre-trains on static image + mask sets (DUTS, ECSSD, FSS-1000, HRSOD, BIG) turned into
3-frame clips by random affine motion. EVOLVE skipped that stage because static images have
no events; here each synthetic clip is darkened with the low-light recipe and given events by
the event simulator, so the event branch is pre-trained too:

1. pick one object of the image's mask (binary saliency masks have one);
2. draw a smooth affine motion (per-frame rotation, scale, translation and shear that
   accumulate over the clip) and warp image and mask with OpenCV into a ``crop x crop`` window
   around the object (image: bilinear, reflected border; mask: nearest, zero border);
3. colour-jitter the clip (torchvision), darken it (``beta * (alpha * I) ** gamma`` + noise per
   frame, :mod:`evolve.synthesis.lowlight`);
4. simulate events between consecutive low-light frames (:mod:`evolve.synthesis.simulator`,
   frames 1/fps apart) and build voxel grids; frame 0 uses the grid of frame 1 (DESIGN 2.3).

Items follow docs/architecture.md "Training clips" with ``N_max = 1``. All randomness comes
from the global Python/NumPy/torch generators; asking for item ``(idx, seed)`` draws it under
:func:`evolve.utils.seeding.seeded_rng` so every item is a function of its seed.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset
from torchvision.transforms import v2

from evolve.data.image_io import IMAGE_EXTENSIONS, read_frame, read_mask
from evolve.synthesis.config import LowLightConfig, SimulatorConfig
from evolve.synthesis.lowlight import LowLightSynthesizer
from evolve.synthesis.simulator import rgb_to_luma, simulate_frames
from evolve.data.voxel import DEFAULT_NUM_BINS, chunk_to_voxel_grid
from evolve.utils.seeding import seeded_rng
from evolve.utils.errors import InputError


@dataclass
class MotionConfig:
    """Per-frame affine motion, accumulated over the clip (frame t gets t steps).

    Attributes:
        rotation_deg: max |rotation| per frame, degrees.
        scale_step: per-frame scale factor range (multiplied t times).
        translate: max |translation| per frame as a fraction of the crop size.
        shear_deg: max |shear| per frame, degrees.
        context: the crop covers ``context`` times the object's bounding box (at least), so
            some background stays in view.
    """

    rotation_deg: float = 10.0
    scale_step: tuple[float, float] = (0.92, 1.08)
    translate: float = 0.06
    shear_deg: float = 5.0
    context: float = 2.0


@dataclass
class StaticClipConfig:
    """Synthetic clips from static images.

    Attributes:
        seq_length: frames per clip (Cutie pre-training: 3).
        crop_size: output side in pixels (384 in Cutie's pre-training).
        num_bins: voxel-grid bins (5).
        fps: frame rate assumed for event timestamps (LLE-DAVIS: 25).
        lowlight: darkening + noise (None = keep normal light).
        simulator: the event simulator (None = zero voxel grids).
        motion: the affine motion.
        colour_jitter: (brightness, contrast, saturation, hue) drawn once per clip.
        retries: new motions tried when the first frame loses the object.
    """

    seq_length: int = 3
    crop_size: int = 384
    num_bins: int = DEFAULT_NUM_BINS
    fps: float = 25.0
    lowlight: LowLightConfig | None = field(default_factory=LowLightConfig)
    simulator: SimulatorConfig | None = field(default_factory=SimulatorConfig)
    motion: MotionConfig = field(default_factory=MotionConfig)
    colour_jitter: tuple[float, float, float, float] = (0.1, 0.05, 0.05, 0.0)
    retries: int = 5


def find_image_mask_pairs(
    image_dir: str | os.PathLike, mask_dir: str | os.PathLike | None = None, folders: Sequence[str] | None = None
) -> list[tuple[Path, Path]]:
    """Image / mask pairs of a static dataset.

    Two layouts: ``mask_dir`` None -> every image under ``image_dir`` (recursively) with a
    same-stem ``.png`` mask beside it (Cutie's static layout; FSS-1000); otherwise the mask of
    ``image_dir/rel/x.jpg`` is ``mask_dir/rel/x.png`` (DUTS/ECSSD, or the frames of a DAVIS-format
    video set). Images without a mask are skipped. ``folders`` keeps only those top-level
    sub-folders (e.g. the training sequences of a video set).

    Raises:
        InputError: a folder does not exist, or no pair is found.
    """
    image_dir = Path(image_dir)
    if not image_dir.is_dir():
        raise InputError(image_dir, "image folder does not exist", "check the static dataset's root / image_dir")
    if mask_dir is not None and not Path(mask_dir).is_dir():
        raise InputError(mask_dir, "mask folder does not exist", "check the static dataset's mask_dir")
    keep = None if folders is None else set(folders)
    pairs = []
    for img in sorted(image_dir.rglob("*")):
        if img.suffix.lower() not in IMAGE_EXTENSIONS or not img.is_file():
            continue
        rel = img.relative_to(image_dir)
        if keep is not None and (len(rel.parts) < 2 or rel.parts[0] not in keep):
            continue
        if mask_dir is None:
            if img.suffix.lower() == ".png":
                continue  # a .png beside a same-stem image is the mask, not an image
            mask = img.with_suffix(".png")
        else:
            mask = Path(mask_dir) / rel.with_suffix(".png")
        if mask.is_file():
            pairs.append((img, mask))
    if not pairs:
        raise InputError(image_dir, "no image with a mask found", "put x.png masks beside x.jpg images, or set mask_dir")
    return pairs


def _affine(center: tuple[float, float], out_size: int, box: float, t: int, step: dict[str, float]) -> np.ndarray:
    """2x3 matrix mapping source pixels to the output crop at frame t of the motion."""
    cx, cy = center
    zoom = out_size / box  # source pixels -> output pixels
    angle = step["rotation"] * t
    scale = zoom * step["scale"] ** t
    m = cv2.getRotationMatrix2D((cx, cy), angle, scale)  # rotate/scale about the object centre
    shear = math.tan(math.radians(step["shear"] * t))
    m = np.array([[1.0, shear, -shear * cy], [0.0, 1.0, 0.0]]) @ np.vstack([m, [0, 0, 1]])  # x-shear about cy
    m[:, 2] += np.array([out_size / 2 - cx, out_size / 2 - cy]) + np.array([step["dx"], step["dy"]]) * t * out_size
    return m.astype(np.float64)


class StaticClipDataset(Dataset):
    """Synthetic low-light event clips from static image + mask pairs (see the module docstring).

    Args:
        pairs: (image, mask) paths, e.g. from :func:`find_image_mask_pairs`.
        config: clip synthesis parameters.

    Items: ``rgb`` float32 (T, 3, S, S) low-light frames in [0, 1]; ``voxel`` float32 (T, B, S, S);
    ``cls_gt`` int64 (T, 1, S, S) in {0, 1}; ``first_frame_gt`` float32 (1, 1, S, S);
    ``selector`` float32 (1,); ``info`` {name, frames, num_objects}. S = ``config.crop_size``.

    Raises:
        InputError: empty pair list; per item, unreadable files or mask/image size mismatch.
    """

    def __init__(self, pairs: Sequence[tuple[Path, Path]], config: StaticClipConfig | None = None) -> None:
        if not pairs:
            raise InputError(None, "no static image/mask pairs", "check the pre-training datasets")
        self.pairs = list(pairs)
        self.config = config or StaticClipConfig()
        self._jitter = v2.ColorJitter(*self.config.colour_jitter)

    def __len__(self) -> int:
        return len(self.pairs)

    def _load(self, idx: int) -> tuple[np.ndarray, np.ndarray, str]:
        img_path, mask_path = self.pairs[idx]
        rgb = read_frame(img_path)  # (H, W, 3) uint8
        ids, _ = read_mask(mask_path)  # (H, W) uint8
        if ids.shape != rgb.shape[:2]:
            raise InputError(mask_path, f"mask is {ids.shape[1]}x{ids.shape[0]} but the image is {rgb.shape[1]}x{rgb.shape[0]}",
                             "masks must have the size of their image")
        present = np.unique(ids)
        present = present[present != 0]
        if present.size == 0:
            return rgb, np.zeros_like(ids), str(img_path)
        chosen = int(present[np.random.randint(present.size)])
        return rgb, (ids == chosen).astype(np.uint8), str(img_path)

    def _motion(self) -> dict[str, float]:
        m = self.config.motion
        u = np.random.uniform
        return {
            "rotation": u(-m.rotation_deg, m.rotation_deg),
            "scale": u(*m.scale_step),
            "dx": u(-m.translate, m.translate),
            "dy": u(-m.translate, m.translate),
            "shear": u(-m.shear_deg, m.shear_deg),
        }

    def _warp(self, rgb: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """(T, S, S, 3) uint8 frames and (T, S, S) masks, or None if frame 0 has no object."""
        c, s = self.config, self.config.crop_size
        ys, xs = np.nonzero(mask)
        h, w = mask.shape
        if ys.size:
            center = ((xs.min() + xs.max()) / 2.0, (ys.min() + ys.max()) / 2.0)
            extent = max(xs.max() - xs.min() + 1, ys.max() - ys.min() + 1) * c.motion.context
        else:
            center, extent = (w / 2.0, h / 2.0), float(min(h, w))
        box = float(np.clip(extent * np.random.uniform(0.8, 1.25), 16.0, max(h, w)))
        center = (center[0] + np.random.uniform(-0.1, 0.1) * box, center[1] + np.random.uniform(-0.1, 0.1) * box)
        step = self._motion()
        frames, masks = [], []
        for t in range(c.seq_length):
            m = _affine(center, s, box, t, step)
            frames.append(cv2.warpAffine(rgb, m, (s, s), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101))
            masks.append(cv2.warpAffine(mask, m, (s, s), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=0))
        if not masks[0].any():
            return None
        return np.stack(frames), np.stack(masks)

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Any]:
        """Item ``idx``, or ``(idx, seed)``: drawn under ``seeded_rng(seed)`` (same seed, same clip)."""
        if isinstance(key, tuple):
            idx, seed = key
            with seeded_rng(seed):
                return self._sample(int(idx))
        return self._sample(int(key))

    def _sample(self, idx: int) -> dict[str, Any]:
        c = self.config
        for attempt in range(c.retries * 4):
            # after `retries` failed motions of this image, try other images
            i = idx if attempt < c.retries else int(np.random.randint(len(self)))
            rgb, mask, name = self._load(i)
            warped = self._warp(rgb, mask) if mask.any() else None
            if warped is not None:
                return self._finish(*warped, name)
        raise InputError(self.pairs[idx][1], "no object survives the synthetic motion after many retries",
                         "check that the static masks mark objects")

    def _finish(self, frames: np.ndarray, masks: np.ndarray, name: str) -> dict[str, Any]:
        c = self.config
        rgb = torch.from_numpy(frames).permute(0, 3, 1, 2).float().div_(255.0)  # (T, 3, S, S)
        rgb = self._jitter(rgb).clamp_(0.0, 1.0)  # (T, 3, S, S), one colour draw for the whole clip
        if c.lowlight is not None:
            synth = LowLightSynthesizer(c.lowlight, int(np.random.randint(2**31)), name)
            low = [synth.frame((f.permute(1, 2, 0).numpy() * 255.0).round().astype(np.uint8), t) for t, f in enumerate(rgb)]
            rgb = torch.from_numpy(np.stack(low)).permute(0, 3, 1, 2).float().div_(255.0)  # (T, 3, S, S)
        s = c.crop_size
        if c.simulator is not None and c.seq_length > 1:
            lumas = [rgb_to_luma(f.permute(1, 2, 0).numpy()) for f in rgb]  # T x (S, S) in [0, 1]
            chunks = simulate_frames(c.simulator, lumas, seed=int(np.random.randint(2**31)), fps=c.fps)
            grids = [chunk_to_voxel_grid(ch, (s, s), c.num_bins) for ch in chunks]  # T-1 x (B, S, S)
            voxel = torch.stack([grids[0]] + grids)  # frame 0 uses the chunk of frame 1
        else:
            voxel = torch.zeros(c.seq_length, c.num_bins, s, s)
        cls_gt = torch.from_numpy(masks.astype(np.int64))[:, None]  # (T, 1, S, S)
        return {
            "rgb": rgb.contiguous(),
            "voxel": voxel.contiguous(),
            "cls_gt": cls_gt,
            "first_frame_gt": (cls_gt[0] == 1).float()[None],  # (1, 1, S, S)
            "selector": torch.ones(1),
            "info": {"name": name, "frames": [str(t) for t in range(c.seq_length)], "num_objects": 1},
        }
