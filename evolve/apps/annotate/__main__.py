"""``python -m evolve.apps.annotate``: the same as ``evolve-annotate``."""

from evolve.apps.annotate.program import main

if __name__ == "__main__":
    raise SystemExit(main())
