"""The training fixtures (a tiny LLE-DAVIS dataset, running the entry scripts) for the app tests."""

from tests.training.conftest import FAST, REPO, run_script, tiny_data_root  # noqa: F401
