"""Training entry point (DESIGN 4): ``evolve-train`` as a script, for torchrun.

    OMP_NUM_THREADS=4 torchrun --master_port 25357 --nproc_per_node=4 evolve/train.py \\
        exp_id=<id> model=<small|base> data=<demo|lle_vos|lle_davis|base|with-mose|mega>

``python evolve/train.py --help`` lists the main keys; the program is :mod:`evolve.apps.train`.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script from a checkout: import this checkout's package
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from evolve.apps.train import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main())
