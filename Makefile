# Two commands do all set-up (see README): `make run` and `make test`.
# The virtual environment is created and filled on first use.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# A CPU build of torch keeps the default install light. Elsewhere than the project's machines,
# PyPI's torch for Linux is a CUDA build: pass TORCH_PIP_ARGS="--index-url
# https://download.pytorch.org/whl/cpu" for CPU only, or .../whl/cu128 for a GPU build.
TORCH_SPEC ?= torch==2.13.0
TORCH_PIP_ARGS ?=
CITY ?=
INSTALLED := $(VENV)/.installed
KERNEL := $(VENV)/.kernel

.PHONY: run test lint clean-venv

$(INSTALLED): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet $(TORCH_PIP_ARGS) "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(INSTALLED)

# compile the traffic kernel now (ahead of time, and into numba's cache), not on a first run,
# and the learned planner's decoding and refining kernels into numba's cache (else the first
# learned plan waits half a minute); again whenever their sources change
$(KERNEL): $(INSTALLED) agents/traffic/kernel.py agents/traffic/layout.py agents/traffic/compiled.py \
		generative/decoding.py generative/refine.py
	$(BIN)/python -m agents.traffic.compiled
	$(BIN)/python -c "from generative import decoding, refine; decoding.load(); refine.load()"
	touch $(KERNEL)

run: $(KERNEL)
	$(BIN)/twin dashboard $(CITY)

# test files are spread over TEST_WORKERS processes, each file whole on one (the browser tests
# share one browser port and the module fixtures are built once); TEST_WORKERS=0 runs serially
TEST_WORKERS ?= 2
test: $(KERNEL)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile

lint: $(INSTALLED)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

clean-venv:
	rm -rf $(VENV)
