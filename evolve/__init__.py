"""evolve: event-guided low-light video object segmentation (EVOLVE, ICCV 2025), reproduced.

Subpackages (import what you need; nothing here has import-time side effects):

- ``evolve.data``       event I/O, voxel grids, dataset readers, clip samplers, synthesis
- ``evolve.eval``       the DAVIS 2017 semi-supervised J&F evaluator
- ``evolve.ops``        the deformable convolution used by EDFT (CUDA / torchvision / reference)
- ``evolve.model``      the EVOLVE network, its training unroll and losses
- ``evolve.inference``  the streaming inference core and memory manager
- ``evolve.training``   trainer, checkpoints, distributed helpers
- ``evolve.vis``        overlays, event pictures
"""

__version__ = "0.1.0"
