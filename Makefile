# lookalike: `make up` for the whole thing with the Dagster UI, `make test` for the suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# CPU build of torch, installed before everything else so that sentence-transformers does not pull CUDA.
# Elsewhere, point pip at a CPU wheel index with TORCH_PIP_ARGS="--index-url <your CPU wheel index>".
TORCH_SPEC ?= torch==2.13.0
TORCH_PIP_ARGS ?=
HOST ?= 127.0.0.1
PORT ?= 3000
DEMO_ARGS ?=
PYTEST_ARGS ?=
export DAGSTER_HOME ?= $(CURDIR)/.lookalike/dagster
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
# `dg` checks that it runs in the project's virtual environment
export VIRTUAL_ENV := $(CURDIR)/$(VENV)
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

STAMP := $(VENV)/.installed

.PHONY: help install up demo serve down test bench clean compose-check check docs api

help:
	@echo "make up        install, start the embedded database, load the demo, materialize, serve the UI on $(HOST):$(PORT)"
	@echo "make demo      the same without the UI"
	@echo "make serve     serve the Dagster UI (webserver + daemon)"
	@echo "make down      stop the embedded database"
	@echo "make test      install and run the test suite"
	@echo "make bench     run the benchmarks (figures in BENCHMARKS.md)"
	@echo "make check     lint, check the code location (dg check defs) and the compose file"
	@echo "make docs      generate the dbt docs of the marts and serve them on $(HOST):8081"

PIP := $(BIN)/pip --disable-pip-version-check

$(STAMP): pyproject.toml
	@echo "==> [1/3] virtual environment $(VENV)"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "==> [2/3] CPU torch first ($(TORCH_SPEC)), so that sentence-transformers does not pull CUDA packages"
	$(PIP) install $(TORCH_PIP_ARGS) "$(TORCH_SPEC)"
	@echo "==> [3/3] lookalike and its dependencies (Dagster, dbt, LightGBM, sentence-transformers, ...): a few minutes the first time"
	$(PIP) install -e ".[dev]"
	@touch $(STAMP)

MANIFEST := dbt_project/target/manifest.json
DBT_SOURCES := $(shell find dbt_project/models dbt_project/macros -type f 2>/dev/null) dbt_project/dbt_project.yml

# The dbt manifest is prepared once here (and by `dagster dev`), never at import time.
$(MANIFEST): $(STAMP) $(DBT_SOURCES)
	@echo "==> dbt manifest (dbt parse)"
	@$(BIN)/dagster-dbt project prepare-and-package --file lookalike_assets/defs/analytics/dbt.py >/dev/null
	@touch $(MANIFEST)

install: $(STAMP) $(MANIFEST)

demo: install
	mkdir -p $(DAGSTER_HOME)
	$(BIN)/lookalike demo $(DEMO_ARGS)

up: demo serve

serve: install
	@echo "Dagster UI on http://$(HOST):$(PORT) (Ctrl-C to stop; 'make down' stops the database)"
	$(BIN)/dagster dev -w workspace.yaml -h $(HOST) -p $(PORT)

down:
	@if [ -x $(BIN)/lookalike ]; then $(BIN)/lookalike db down; else echo "nothing installed"; fi

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: install
	$(BIN)/python bench/embeddings.py --n 2000
	$(BIN)/python bench/pools.py --leads 100000 --audiences 20
	$(BIN)/python bench/end_to_end.py --leads 20000 --tenants 4
	$(BIN)/python bench/quality.py
	$(BIN)/python bench/ranking.py --leads 100000
	$(BIN)/python bench/api.py --leads 20000 --tenants 4 --seconds 30
	$(BIN)/python bench/describe.py

api: install
	$(BIN)/lookalike api

compose-check: install
	$(BIN)/python deploy/check_compose.py

check: install compose-check
	$(BIN)/ruff check .
	$(BIN)/dg check defs

docs: install
	$(BIN)/lookalike docs --host $(HOST) --port 8081

clean: down
	rm -rf .lookalike dbt_project/target dbt_project/logs
