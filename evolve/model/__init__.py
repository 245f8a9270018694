"""Networks and the building blocks they share (DESIGN 3 and 10).

- shared blocks: :mod:`~evolve.model.backbones` (ResNet trunks), :mod:`~evolve.model.layers`,
  :mod:`~evolve.model.memory_ops` (affinity and readout), :mod:`~evolve.model.losses`,
  :mod:`~evolve.model.param_groups`, :mod:`~evolve.model.weights` (weights files, channel surgery);
- :mod:`~evolve.model.registry`: networks by config name (``model=small|base`` are EVOLVE);
- one sub-package per network: :mod:`evolve.model.evolve` (EVOLVE).

Nothing is imported here (no import-time work): import the module you need.
"""
