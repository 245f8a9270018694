"""Backbones shared by the networks: torchvision ResNet trunks (conv1..layer3), BN frozen.

The image, event and mask encoders of EVOLVE (DESIGN 3) and the encoders of the related
systems' networks are built from these; ImageNet weights load from local torchvision files.
"""

from __future__ import annotations

import os

import torch
import torch.nn.functional as F
import torchvision
from torch import Tensor, nn

from evolve.model.weights import read_pretrained_state_dict
from evolve.utils.errors import InputError

# Channel widths of the ResNet stages kept by the trunks: (f16 = layer3, f8 = layer2, f4 = layer1).
RESNET_MS_DIMS: dict[str, list[int]] = {
    "resnet18": [256, 128, 64],
    "resnet34": [256, 128, 64],
    "resnet50": [1024, 512, 256],
    "resnet101": [1024, 512, 256],
}


class ResNetTrunk(nn.Module):
    """A torchvision ResNet from conv1 to layer3 (layer4 and the classifier dropped), BN frozen.

    "BN frozen" as in Cutie: BatchNorm layers always run in eval mode (running statistics are
    never updated; their affine parameters still train).

    Args:
        arch: torchvision ResNet name (resnet18 / 34 / 50 / 101); built with ``weights=None``.
        in_channels: input channels of conv1 (3 RGB, 5 voxel bins, 5 or 4 for the mask encoder).
        conv1_init: how a conv1 with ``in_channels != 3`` is initialised: ``"resnet"`` (torchvision's
            Kaiming-normal, fan-out; Cutie's mask encoder) or ``"default"`` (PyTorch's default
            Conv2d initialisation: the EVOLVE authors' freshly created event-encoder conv1).
    Shapes: (B, in_channels, H, W) -> [f16 (B, C16, H/16, W/16), f8 (B, C8, H/8, W/8),
        f4 (B, C4, H/4, W/4)] with (C16, C8, C4) = ``RESNET_MS_DIMS[arch]``.
    """

    def __init__(self, arch: str, in_channels: int = 3, conv1_init: str = "resnet") -> None:
        super().__init__()
        if arch not in RESNET_MS_DIMS:
            raise ValueError(f"unsupported ResNet {arch!r}; use one of {sorted(RESNET_MS_DIMS)}")
        if conv1_init not in ("resnet", "default"):
            raise ValueError(f"conv1_init must be 'resnet' or 'default', got {conv1_init!r}")
        net = getattr(torchvision.models, arch)(weights=None)
        self.arch = arch
        self.in_channels = in_channels
        self.conv1 = net.conv1 if in_channels == 3 else nn.Conv2d(in_channels, 64, 7, stride=2, padding=3, bias=False)
        if in_channels != 3 and conv1_init == "resnet":
            nn.init.kaiming_normal_(self.conv1.weight, mode="fan_out", nonlinearity="relu")
        self.bn1 = net.bn1
        self.maxpool = net.maxpool
        self.layer1 = net.layer1
        self.layer2 = net.layer2
        self.layer3 = net.layer3
        self.ms_dims = RESNET_MS_DIMS[arch]

    def train(self, mode: bool = True) -> "ResNetTrunk":
        """Set the mode of the trunk; BatchNorm layers stay in eval mode (frozen statistics)."""
        super().train(mode)
        for m in self.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.eval()
        return self

    def forward(self, x: Tensor) -> list[Tensor]:
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.maxpool(x)
        f4 = self.layer1(x)
        f8 = self.layer2(f4)
        f16 = self.layer3(f8)
        return [f16, f8, f4]

    def load_imagenet(self, path: str | os.PathLike, extra_channels: str) -> None:
        """Load conv1..layer3 from a torchvision ImageNet state dict file (local path only).

        How conv1 is initialised when ``in_channels != 3``:
        - ``extra_channels="keep"`` (event encoder, ``event_conv1_init: fresh``, the authors): conv1
          keeps its initialisation; only the rest of the trunk is loaded.
        - ``extra_channels="mean"`` (event encoder, ``event_conv1_init: rgb_mean``): every input
          channel gets ``sum_rgb(W) / in_channels``, so a voxel grid with the same value v in every
          bin gives the response the RGB filter gives a grey image of value v.
        - ``extra_channels="orthogonal"`` (mask encoder): channels 0-2 copy the RGB filter, the
          mask channels are orthogonally initialised (Cutie).

        Raises:
            InputError: missing/unreadable file, or a state dict of another architecture.
        """
        path = os.fspath(path)
        state = read_pretrained_state_dict(path, "ResNet")
        own = self.state_dict()
        wanted = {k: v for k, v in state.items() if k.split(".")[0] in ("conv1", "bn1", "layer1", "layer2", "layer3")}
        rgb = wanted.pop("conv1.weight", None)
        missing = sorted(k for k in own if k != "conv1.weight" and k not in wanted)
        mismatched = sorted(k for k, v in wanted.items() if k in own and own[k].shape != v.shape)
        if rgb is None or missing or mismatched or rgb.shape[1] != 3:
            raise InputError(
                path,
                f"not a torchvision {self.arch} state dict (missing {missing[:5]}, shape mismatch {mismatched[:5]})",
                f"give ImageNet weights of {self.arch}",
            )
        wanted = {k: v for k, v in wanted.items() if k in own}
        if self.in_channels == 3:
            conv1 = rgb
        elif extra_channels == "keep":
            conv1 = self.conv1.weight.detach().clone()
        elif extra_channels == "mean":
            conv1 = (rgb.sum(dim=1, keepdim=True) / self.in_channels).expand(-1, self.in_channels, -1, -1).clone()
        else:
            extra = torch.empty(rgb.shape[0], self.in_channels - 3, *rgb.shape[2:])
            nn.init.orthogonal_(extra)
            conv1 = torch.cat([rgb, extra], dim=1)
        wanted["conv1.weight"] = conv1
        self.load_state_dict(wanted, strict=True)


# Channel widths of the DenseNet-121 stages kept by :class:`DenseNetTrunk` (s16, s8, s4).
DENSENET_MS_DIMS: dict[str, list[int]] = {"densenet121": [1024, 512, 256]}


class DenseNetTrunk(nn.Module):
    """A torchvision DenseNet-121 from conv0 to denseblock3 (transition3, denseblock4 and the
    classifier dropped), BN frozen: EMVOS's encoder (Cho et al. 2022, arXiv 2209.03139).

    The stride-4 feature is the output of denseblock1 (256 channels), stride 8 of denseblock2
    (512), stride 16 of denseblock3 (1024). BatchNorm layers always run in eval mode (running
    statistics never change; the affine parameters train unless the trunk is frozen).

    Args:
        arch: ``"densenet121"`` (built with ``weights=None``; ImageNet weights only from a local
            file, :meth:`load_imagenet`).
    Shapes: (B, 3, H, W) normalised RGB -> [s16 (B, 1024, H/16, W/16), s8 (B, 512, H/8, W/8),
        s4 (B, 256, H/4, W/4)].
    """

    STAGES = ("conv0", "norm0", "relu0", "pool0", "denseblock1", "transition1", "denseblock2", "transition2", "denseblock3")

    def __init__(self, arch: str = "densenet121") -> None:
        super().__init__()
        if arch not in DENSENET_MS_DIMS:
            raise ValueError(f"unsupported DenseNet {arch!r}; use one of {sorted(DENSENET_MS_DIMS)}")
        features = getattr(torchvision.models, arch)(weights=None).features
        self.arch = arch
        for name in self.STAGES:
            self.add_module(name, getattr(features, name))
        self.ms_dims = DENSENET_MS_DIMS[arch]

    def train(self, mode: bool = True) -> "DenseNetTrunk":
        """Set the mode of the trunk; BatchNorm layers stay in eval mode (frozen statistics)."""
        super().train(mode)
        for m in self.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.eval()
        return self

    def forward(self, x: Tensor) -> list[Tensor]:
        x = self.pool0(self.relu0(self.norm0(self.conv0(x))))
        s4 = self.denseblock1(x)
        s8 = self.denseblock2(self.transition1(s4))
        s16 = self.denseblock3(self.transition2(s8))
        return [s16, s8, s4]

    def load_imagenet(self, path: str | os.PathLike) -> None:
        """Load conv0..denseblock3 from a torchvision DenseNet ImageNet state dict file (local
        path only; keys with or without the ``features.`` prefix; the old ``norm.1`` /
        ``conv.2`` layer names of the published torchvision file are renamed ``norm1`` / ``conv2``).

        Raises:
            InputError: missing/unreadable file, or a state dict of another architecture.
        """
        import re

        path = os.fspath(path)
        state = read_pretrained_state_dict(path, "DenseNet")
        old_name = re.compile(r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var|num_batches_tracked))$")
        wanted = {}
        for key, value in state.items():
            key = key[len("features."):] if key.startswith("features.") else key
            match = old_name.match(key)
            if match:
                key = match.group(1) + match.group(2)
            if key.split(".")[0] in self.STAGES:
                wanted[key] = value
        own = self.state_dict()
        for key in own:  # files written before PyTorch 0.4.1 have no BN step counters
            if key.endswith("num_batches_tracked") and key not in wanted:
                wanted[key] = own[key]
        missing = sorted(k for k in own if k not in wanted)
        mismatched = sorted(k for k, v in wanted.items() if k in own and own[k].shape != v.shape)
        if missing or mismatched:
            raise InputError(path, f"not a torchvision {self.arch} state dict (missing {missing[:5]}, shape mismatch {mismatched[:5]})",
                             f"give ImageNet weights of {self.arch}")
        self.load_state_dict({k: v for k, v in wanted.items() if k in own}, strict=True)
