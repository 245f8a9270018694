"""DMA, the few-shot motion VOS network of MOVE (Ying, Hu, Ding, ICCV 2025), with an event path.

- :class:`DMAConfig`: sizes and switches (``configs/model/dma.yaml``, ``dma_paper.yaml``);
- :class:`DMA`: the network; :func:`merge_ways`: the inference merge;
- :class:`DMALoss`: the training losses.
"""

from evolve.model.dma.config import DMAConfig, DMALossConfig
from evolve.model.dma.loss import DMALoss
from evolve.model.dma.network import DMA, Prototypes, merge_ways

__all__ = ["DMA", "DMAConfig", "DMALoss", "DMALossConfig", "Prototypes", "merge_ways"]
