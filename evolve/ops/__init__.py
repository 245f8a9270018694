"""Operators this project owns: the deformable convolution behind EDFT (DESIGN 3, 6).

``deform_conv2d`` is the single entry point (torchvision signature plus ``backend=``);
``deform_conv2d_reference`` is the pure-PyTorch implementation (test oracle, CPU path).
The CUDA kernels live in ``csrc/`` and are built on first use by :mod:`evolve.ops.build`.
"""

from evolve.ops.deform import BACKENDS, deform_conv2d, resolve_backend
from evolve.ops.reference import deform_conv2d_reference

__all__ = ["BACKENDS", "deform_conv2d", "deform_conv2d_reference", "resolve_backend"]
