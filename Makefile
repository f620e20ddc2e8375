# Two commands on a fresh machine with Python 3.11:
#   make sweep   install and run the demo job
#   make test    install the test dependencies and run the tests
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
# CPU machines take the CPU build of torch first; a bare `torch` would pull CUDA (GBs).
TORCH_PIN ?= torch==2.13.0
# the exact versions the suite passed on (pyproject.toml bounds the ranges)
CONSTRAINTS := constraints.txt

.PHONY: install install-test install-bench sweep train ui test test-fast test-latest lint docs bench clean
SWEEP_ARGS ?= search_spaces/quick.yaml --trials 16 --seed 0 --deterministic --report

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) (set PYTHON=...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: $(BIN)/python pyproject.toml $(CONSTRAINTS)
	@if command -v nvidia-smi >/dev/null 2>&1; then echo "GPU found: torch from the index"; \
	 else $(BIN)/pip install -q "$(TORCH_PIN)"; fi
	$(BIN)/pip install -q -c $(CONSTRAINTS) -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed-bench
	$(BIN)/pip install -q -c $(CONSTRAINTS) -e ".[test]"
	touch $@

# The league's surrogate and rival (benchmarks/league.py; its --quick form runs in the suite):
# yahpo-gym 1.0.2 pins numpy < 2 and ConfigSpace <= 0.6.1 (built for numpy 1), dehb 0.1.2 numpy < 2,
# which nagexp's numpy 2 cannot meet; both run on numpy 2 with ConfigSpace 1.x (benchmarks/lcbench.py
# gives yahpo-gym the one method it misses), so they come without their pins, their needs by name.
BENCH_NEEDS := onnxruntime configspace pandas pyyaml loguru distributed
$(VENV)/.installed-bench: $(VENV)/.installed
	$(BIN)/pip install -q -c $(CONSTRAINTS) $(BENCH_NEEDS)
	$(BIN)/pip install -q -c $(CONSTRAINTS) --no-deps yahpo-gym dehb
	touch $@

install-bench: $(VENV)/.installed-bench

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

train: install
	$(BIN)/nagexp train

# The demo: a 16-trial sweep on the embedded digits data (its time: the run's `16 trials in ... s` line).
sweep: install
	$(BIN)/nagexp sweep $(SWEEP_ARGS)
	@echo "next: $(BIN)/nagexp ui (MLflow UI on http://127.0.0.1:5000), $(BIN)/nagexp ls (all sweeps)"

ui: install
	$(BIN)/nagexp ui

# The full suite (what .ci/run calls): lint, the import layers, the docs site, every test.
# Two pytest workers, a module each at a time, each with a Ray runtime of its own: a sweep there
# runs one trial at a time and leaves the other CPU to the other worker (tests/conftest.py: SHARED_CPUS).
TEST_WORKERS ?= 2
test: install-test
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile --durations=25

# The documentation site (docs/, mkdocs.yml) into site/; the CLI reference is generated from the app.
docs: install-test
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict
	@echo "open site/index.html, or serve it: $(BIN)/mkdocs serve"

# While working: the logic tests and a few smoke sweeps (no cluster, servers or subprocess drivers),
# on as many pytest workers as `test` (79 s of pytest on a 2-core VM whose 20 M-addition Python loop takes
# 2.3-2.7 s; 165 s there while each worker ran two torch threads: tests/conftest.py, _torch_threads).
test-fast: install-test
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile -m "fast or smoke"

# The newest versions pyproject.toml allows (not constraints.txt), in a venv of their own, on the
# fast tier: what a user installing nagexp without the constraints would get. Green here is the
# sign that constraints.txt can move up to them.
LATEST := .venv-latest
test-latest:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) (set PYTHON=...)"; exit 1; }
	$(PYTHON) -m venv $(LATEST)
	@if command -v nvidia-smi >/dev/null 2>&1; then echo "GPU found: torch from the index"; \
	 else $(LATEST)/bin/pip install -q "$(TORCH_PIN)"; fi
	$(LATEST)/bin/pip install -q --upgrade --upgrade-strategy eager -e ".[test]"
	$(LATEST)/bin/pip freeze --exclude-editable | grep -iE "^(ray|optuna|mlflow|torch)=="
	$(LATEST)/bin/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile -m "fast or smoke"

lint: install-test
	$(BIN)/ruff check .
	$(BIN)/lint-imports

# The commands of docs/benchmarks.md's rows that need no extra data (each has a --quick form,
# which tests/benchmark_tests/test_benchmarks_run.py runs with the arguments given here).
# `make bench BENCH_FLAGS=--quick` runs this whole list in its quick forms (minutes, measures nothing).
BENCH_FLAGS ?=
bench: install-bench
	$(BIN)/python -m benchmarks.trainer_overhead --tracking both $(BENCH_FLAGS)
	$(BIN)/python -m benchmarks.sweep_overhead --tracking both $(BENCH_FLAGS)
	$(BIN)/python -m benchmarks.scale --trials 300 $(BENCH_FLAGS)
	$(BIN)/python -m benchmarks.search_efficiency --seeds 5 $(BENCH_FLAGS)
	$(BIN)/python -m benchmarks.sweep_latency --repeats 5 $(BENCH_FLAGS)
	$(BIN)/python -m benchmarks.deterministic_cost $(BENCH_FLAGS)
	$(BIN)/python -m benchmarks.warm_start $(BENCH_FLAGS)
	$(BIN)/python -m benchmarks.streaming $(BENCH_FLAGS)
	$(BIN)/python -m benchmarks.data_parallel $(BENCH_FLAGS)
	$(BIN)/python -m benchmarks.league $(BENCH_FLAGS)
	@if [ -e ../shared/data/cifar10-jpeg.tar.gz ]; then $(BIN)/python -m benchmarks.search_quality $(BENCH_FLAGS) && \
	 $(BIN)/python -m benchmarks.rank_fidelity --task slice $(BENCH_FLAGS); \
	 else echo "search_quality, rank_fidelity: skipped (need the CIFAR-10 JPEGs: --data DIR)"; fi
	$(BIN)/python -m benchmarks.gpu_trainer $(BENCH_FLAGS)

clean:
	rm -rf $(VENV) $(LATEST) .pytest_cache .ruff_cache .import_linter_cache site

# README's and the docs' demo output, written from a real run of the demo (after a change to what
# a sweep prints); tests/sweeps_tests/test_readme_demo.py fails until it is rerun.
.PHONY: readme-demo
readme-demo: install-test
	$(BIN)/python -m tests.sweeps_tests.test_readme_demo --write
