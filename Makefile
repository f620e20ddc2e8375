# Two commands on a fresh machine with Python 3.11:
#   make sweep   install and run the demo job
#   make test    install the test dependencies and run the tests
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
# CPU machines take the CPU build of torch first; a bare `torch` would pull CUDA (GBs).
TORCH_PIN ?= torch==2.13.0

.PHONY: install install-test sweep train ui test lint bench clean
SWEEP_ARGS ?= search_spaces/quick.yaml --trials 16 --seed 0 --report

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) (set PYTHON=...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: $(BIN)/python pyproject.toml
	@if command -v nvidia-smi >/dev/null 2>&1; then echo "GPU found: torch from the index"; \
	 else $(BIN)/pip install -q "$(TORCH_PIN)"; fi
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/pip install -q -e ".[test]"
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

train: install
	$(BIN)/nagexp train

# The demo: a 16-trial sweep on the embedded digits data (about a minute on 2 cores).
sweep: install
	$(BIN)/nagexp sweep $(SWEEP_ARGS)
	@echo "next: $(BIN)/nagexp ui (MLflow UI on http://127.0.0.1:5000), $(BIN)/nagexp ls (all sweeps)"

ui: install
	$(BIN)/nagexp ui

test: install-test
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

lint: install-test
	$(BIN)/ruff check .

bench: install
	$(BIN)/python -m benchmarks.trainer_overhead
	$(BIN)/python -m benchmarks.sweep_overhead
	$(BIN)/python -m benchmarks.scale
	$(BIN)/python -m benchmarks.search_efficiency
	$(BIN)/python -m benchmarks.sweep_latency
	$(BIN)/python -m benchmarks.gpu_trainer

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
