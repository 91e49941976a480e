# Two entry points for a fresh clone (see README): `make report` and `make test`.
# The virtual environment lives in .venv and is reused. `make report` installs only what the report needs
# (the package and its `fast` extra); `make test` adds the test extras. Each set has its own stamp file, so
# switching from report to test installs the rest, and either is refreshed when pyproject.toml changes.
# jax (the `jax` extra, numpyro's sampler) is never installed here: its tests skip without it.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
REPORT_STAMP := $(VENV)/.probwb-report
TEST_STAMP := $(VENV)/.probwb-test
REPORT_EXTRAS := fast
TEST_EXTRAS := dev,fast,scale,bench
REPORT_DIR := reports
PYTEST_ARGS ?=

.PHONY: setup setup-test report test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(REPORT_STAMP): pyproject.toml | $(BIN)/python
	@echo "installing probwb[$(REPORT_EXTRAS)] into $(VENV) (first time: several minutes, about 1.2 GB)"
	$(BIN)/python -m pip install --quiet -e ".[$(REPORT_EXTRAS)]"
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
