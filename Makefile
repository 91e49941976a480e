# Two entry points for a fresh clone (see README): `make report` and `make test`.
# The virtual environment lives in .venv and is reused; it is refreshed when pyproject.toml changes.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.probwb-installed
REPORT_DIR := reports
PYTEST_ARGS ?=

.PHONY: setup report test lint bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev,fast,scale,bench,jax]"
	@touch $(STAMP)

setup: $(STAMP)

DEFAULT_SPEC ?= models/coupon_redemption_network.yaml

report: setup
	@mkdir -p $(REPORT_DIR)
	$(BIN)/probwb report $(DEFAULT_SPEC) -o $(REPORT_DIR)/$(basename $(notdir $(DEFAULT_SPEC))).html \
		--json $(REPORT_DIR)/$(basename $(notdir $(DEFAULT_SPEC))).json

test: setup
	@bash scripts/test-deps.sh
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check .

bench: setup
	$(BIN)/python benchmarks/run_all.py --quick

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build src/*.egg-info
