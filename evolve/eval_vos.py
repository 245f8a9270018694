"""Evaluation entry point (DESIGN 5): ``evolve-eval`` as a script.

    python evolve/eval_vos.py dataset=<lle_vos|lle_davis|demo|generic|...> weights=<path> model=<small|base>

``python evolve/eval_vos.py --help`` lists the main keys; the program is :mod:`evolve.apps.eval_vos`.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script from a checkout: import this checkout's package
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from evolve.apps.eval_vos import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main())
