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

# The main job on the embedded demo data: make the demo dataset (first run), train model=tiny (EVOLVE
# with narrow memory, configs/model/tiny.yaml) for a short CPU schedule, evaluate on the demo val set
# and print J&F beside copying the first mask. Outputs in output/demo/. DEMO_MODEL=small for EVOLVE-small.
DEMO_MODEL ?= tiny
demo: setup
	$(PY) evolve/train.py exp_id=demo model=$(DEMO_MODEL) data=demo
	$(PY) evolve/eval_vos.py exp_id=demo model=$(DEMO_MODEL) dataset=demo weights=output/demo/demo_main_training_last.pth overwrite=true copy_baseline=true
	@echo "weights: output/demo/demo_main_training_last.pth  predictions + J&F CSVs: output/demo/demo/  TensorBoard: tensorboard --logdir output/demo"
