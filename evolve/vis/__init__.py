"""Pictures: event images, voxel-grid colouring, synthesis previews (and eval overlays).

- :mod:`evolve.vis.events`               event image (ON red / OFF blue) and voxel-bin colouring
- :mod:`evolve.vis.synthesis_pictures`   ``evolve-pictures``: rows of
  normal | low-light | brightened | events | voxel bins for an LLE-DAVIS-format dataset
"""
