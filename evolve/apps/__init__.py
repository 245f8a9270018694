"""Every command-line program, behind one runner (:mod:`evolve.apps.runner`: one logging setup,
one rule from errors to exit codes, one device resolution). Console commands (``[project.scripts]``):

================================  =========================================================
``evolve-train``                  training (also ``torchrun ... evolve/train.py``)
``evolve-eval``                   semi-supervised evaluation (also ``evolve/eval_vos.py``)
``evolve-jf``                     J&F of a folder of predictions
``evolve-copy-baseline``          the copy-first-mask baseline
``evolve-synthesize``             normal-light videos -> low-light frames + events (LLE-DAVIS)
``evolve-demo-data``              the embedded procedural demo dataset
``evolve-check``                  validate a dataset folder
``evolve-voxels``                 precompute voxel grids
``evolve-pictures``               normal / low-light / events / voxel-bin pictures
``evolve-compare``                side-by-side pictures of several runs' predictions
``evolve-dataset-table``          statistics table of a converted dataset
``evolve-model-summary``          parameter counts of the networks
``evolve-build-ops``              compile the deformable-convolution CUDA extension
================================  =========================================================

Each is also ``python -m evolve.apps.<module>``.
"""
