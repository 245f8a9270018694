"""The EMVOS network (Cho et al. 2022, "Pixel-Level Equalized Matching for Video Object
Segmentation", arXiv 2209.03139) with an optional voxel-grid encoder (docs/emvos.md).

- :class:`EMVOSConfig`: sizes and switches;
- :class:`EMVOS`: the network (stateless primitives);
- :class:`EMVOSTrainWrapper`, :class:`EMVOSLoss`: the training unroll and its loss.
"""

from evolve.model.emvos.config import EMVOSConfig
from evolve.model.emvos.loss import EMVOSLoss
from evolve.model.emvos.network import EMVOS, EMVOSFeatures, Reference, aggregate_objects
from evolve.model.emvos.train_wrapper import EMVOSTrainWrapper

__all__ = ["EMVOS", "EMVOSConfig", "EMVOSFeatures", "EMVOSLoss", "EMVOSTrainWrapper", "Reference", "aggregate_objects"]
