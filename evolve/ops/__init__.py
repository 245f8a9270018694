"""Operators this project owns: the deformable convolution behind EDFT (DESIGN 6)."""

from evolve.ops.deform import deform_conv2d

__all__ = ["deform_conv2d"]
