"""Data: event I/O, voxel grids, dataset readers, clip samplers and synthesis."""
