# Two commands on a fresh machine with Python 3.11:
#   make sweep   install and run the demo job
#   make test    install the test dependencies and run the tests
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
# CPU machines take the CPU build of torch first; a bare `torch` would pull CUDA (GBs).
TORCH_PIN ?= torch==2.13.0

.PHONY: install install-test sweep train test lint bench clean

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

sweep: train

test: install-test
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

lint: install-test
	$(BIN)/ruff check .

bench: install
	$(BIN)/python -m benchmarks.trainer_overhead

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
