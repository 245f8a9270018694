# One-command entry points. `make test` is what CI runs (see .ci/run).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup test test-fast demo

# Create the virtual environment and install evolve with its dev extras (torch/torchvision pinned in pyproject.toml).
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

setup: $(VENV)/.installed

# Full CPU test suite (includes compiling the CUDA extension when nvcc and a CUDA build of torch are present).
test: setup
	$(PY) -m pytest -q

# Everything except the tests marked slow.
test-fast: setup
	$(PY) -m pytest -q -m "not slow"
