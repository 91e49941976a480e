# Two entry points for a fresh clone (see README): `make report` and `make test`.
# The virtual environment lives in .venv and is reused. `make report` installs only what the default report (a
# Bayes net) needs: the package without extras, with --no-compile (Python compiles what it imports on first
# use; pip's up-front .pyc files are ~220 MB). `make test` adds PyMC (`bayes`), `fast` and the test extras.
# Each set has its own stamp file, so switching from report to test installs the rest, and either is refreshed
# when pyproject.toml changes.
# jax (the `jax` extra, numpyro's sampler) is never installed here: its tests skip without it.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
REPORT_STAMP := $(VENV)/.probwb-report
TEST_STAMP := $(VENV)/.probwb-test
TEST_EXTRAS := bayes,dev,fast,scale,bench
REPORT_DIR := reports
PYTEST_ARGS ?=

.PHONY: setup setup-test report test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(REPORT_STAMP): pyproject.toml | $(BIN)/python
	@echo "installing probwb (no extras) into $(VENV) (first time: a few minutes, under 600 MB)"
	$(BIN)/python -m pip install --quiet --no-compile -e .
	@touch $@

$(TEST_STAMP): pyproject.toml $(REPORT_STAMP)
	@echo "installing the test extras probwb[$(TEST_EXTRAS)] into $(VENV)"
	$(BIN)/python -m pip install --quiet -e ".[$(TEST_EXTRAS)]"
	@touch $@

setup: $(REPORT_STAMP)

setup-test: $(TEST_STAMP)

DEFAULT_SPEC ?= models/coupon_redemption_network.yaml

report: setup
	@mkdir -p $(REPORT_DIR)
	$(BIN)/probwb report $(DEFAULT_SPEC) -o $(REPORT_DIR)/$(basename $(notdir $(DEFAULT_SPEC))).html \
		--json $(REPORT_DIR)/$(basename $(notdir $(DEFAULT_SPEC))).json

test: setup-test
	@bash scripts/test-deps.sh
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: setup-test
	$(BIN)/ruff check .

bench: setup-test
	$(BIN)/python benchmarks/run_all.py --quick

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build src/*.egg-info test-output
