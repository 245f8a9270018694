"""Training-clip augmentation: one geometric warp for frames, masks and voxel grids; colour on frames only.

Parameters follow Cutie's video stage as EVOLVE used it (DESIGN 2.6; Cutie
``VOSMergeTrainDataset``; evolve_authors_code.md section 2):

- geometric, drawn once per clip and applied to every frame, mask and voxel grid:
  ``RandomAffine(degrees=25, shear=20)`` -> ``RandomResizedCrop(crop, scale=(0.36, 1))`` ->
  ``RandomHorizontalFlip(0.5)``; frames are resampled bilinearly, masks and voxel grids
  with nearest neighbour, fill 0 outside the source image;
- colour, frames only: per clip ``ColorJitter(0.1, 0.03, 0.03, 0)`` + ``RandomGrayscale(0.05)``,
  then per frame ``ColorJitter(0.1, 0.05, 0.05, 0)``. Voxel grids are never colour-jittered.

Built on ``torchvision.transforms.v2``: a call on ``(Image, Mask, Mask)`` draws one set of
random parameters for all inputs, and a ``(T, C, H, W)`` tensor is a batch warped as one.
Randomness comes from torch's global generator; callers that need determinism seed it
(:class:`evolve.data.train_sampler.VOSClipDataset` does, per item).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torchvision import tv_tensors
from torchvision.transforms import InterpolationMode
from torchvision.transforms import v2


@dataclass
class ColorJitterConfig:
    """``torchvision`` ColorJitter strengths (factors drawn in ``[1-s, 1+s]``; hue in ``[-h, h]``)."""

    brightness: float = 0.1
    contrast: float = 0.05
    saturation: float = 0.05
    hue: float = 0.0


@dataclass
class AugmentConfig:
    """Augmentation of training clips (DESIGN 2.6).

    Attributes:
        crop_size: side of the square output crop in pixels (480 main training; small sizes
            such as 96 work for CPU runs).
        crop_scale: RandomResizedCrop area fraction range.
        crop_ratio: RandomResizedCrop aspect-ratio range.
        affine_degrees: RandomAffine rotation range (+-degrees).
        affine_shear: RandomAffine x-shear range (+-degrees).
        hflip_probability: probability of a horizontal flip of the whole clip.
        sequence_jitter: colour jitter drawn once per clip.
        grayscale_probability: probability of turning the whole clip grey.
        frame_jitter: colour jitter drawn for every frame.
    """

    crop_size: int = 480
    crop_scale: tuple[float, float] = (0.36, 1.0)
    crop_ratio: tuple[float, float] = (3.0 / 4.0, 4.0 / 3.0)
    affine_degrees: float = 25.0
    affine_shear: float = 20.0
    hflip_probability: float = 0.5
    sequence_jitter: ColorJitterConfig = field(default_factory=lambda: ColorJitterConfig(0.1, 0.03, 0.03, 0.0))
    grayscale_probability: float = 0.05
    frame_jitter: ColorJitterConfig = field(default_factory=lambda: ColorJitterConfig(0.1, 0.05, 0.05, 0.0))


def _jitter(c: ColorJitterConfig) -> v2.ColorJitter:
    return v2.ColorJitter(brightness=c.brightness, contrast=c.contrast, saturation=c.saturation, hue=c.hue)


class ClipAugmentation:
    """The geometric and colour augmentation of one clip.

    Args:
        config: the parameters.
    """

    def __init__(self, config: AugmentConfig) -> None:
        self.config = config
        c = config
        self._geometric = v2.Compose([
            v2.RandomAffine(degrees=c.affine_degrees, shear=c.affine_shear, interpolation=InterpolationMode.BILINEAR, fill=0),
            v2.RandomResizedCrop(
                (c.crop_size, c.crop_size), scale=c.crop_scale, ratio=c.crop_ratio,
                interpolation=InterpolationMode.BILINEAR, antialias=True,
            ),
            v2.RandomHorizontalFlip(c.hflip_probability),
        ])
        self._sequence_colour = v2.Compose([_jitter(c.sequence_jitter), v2.RandomGrayscale(c.grayscale_probability)])
        self._frame_colour = _jitter(c.frame_jitter)

    def geometric(
        self, rgb: torch.Tensor, masks: torch.Tensor, voxel: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Warp a clip with one random affine + resized crop + flip.

        Args:
            rgb: float32 (T, 3, H, W) frames in [0, 1] (bilinear).
            masks: int64 (T, 1, H, W) object ids (nearest, fill 0 = background).
            voxel: float32 (T, B, H, W) voxel grids (nearest, fill 0 = no events).

        Returns:
            ``(rgb, masks, voxel)`` as plain tensors, each (T, C, S, S) with S = crop_size.
        """
        out = self._geometric(tv_tensors.Image(rgb), tv_tensors.Mask(masks), tv_tensors.Mask(voxel))
        rgb_o, masks_o, voxel_o = (o.as_subclass(torch.Tensor) for o in out)
        return rgb_o.clamp_(0.0, 1.0), masks_o, voxel_o

    def colour(self, rgb: torch.Tensor) -> torch.Tensor:
        """Colour-jitter frames: one draw for the clip, then one per frame.

        Args:
            rgb: float32 (T, 3, H, W) in [0, 1].

        Returns:
            float32 (T, 3, H, W) in [0, 1].
        """
        rgb = self._sequence_colour(tv_tensors.Image(rgb)).as_subclass(torch.Tensor)  # (T, 3, H, W)
        frames = [self._frame_colour(tv_tensors.Image(f)).as_subclass(torch.Tensor) for f in rgb]
        return torch.stack(frames).clamp_(0.0, 1.0)
