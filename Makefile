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
API_PORT ?= 8000
STUDIO_TENANT ?= northwind-software
DEMO_ARGS ?=
PYTEST_ARGS ?=
export DAGSTER_HOME ?= $(CURDIR)/.lookalike/dagster
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
# `dg` checks that it runs in the project's virtual environment
export VIRTUAL_ENV := $(CURDIR)/$(VENV)
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

STAMP := $(VENV)/.installed

.PHONY: help install up demo serve down test bench clean compose-check check docs api browser

help:
	@echo "make up        install, start the embedded database, load the demo, materialize, serve the UI on $(HOST):$(PORT)"
	@echo "make demo      the same without the UI"
	@echo "make serve     serve the Dagster UI (webserver + daemon) and the API with the studio on $(HOST):$(API_PORT)"
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

# The API (with the studio at /studio) in the background for as long as the Dagster UI runs; a one-time sign-in
# link for a demo tenant's editor is printed first.
serve: install
	@$(BIN)/lookalike access grant --tenant $(STUDIO_TENANT) --kind studio --name demo-editor@lookalike.example \
		--role editor --url http://$(HOST):$(API_PORT) || echo "no studio link: load the demo first (make demo)"
	@echo "studio on http://$(HOST):$(API_PORT)/studio (open the link above to sign in), API docs on http://$(HOST):$(API_PORT)/docs"
	@echo "Dagster UI on http://$(HOST):$(PORT) (Ctrl-C stops both; 'make down' stops the database)"
	@$(BIN)/lookalike api --host $(HOST) --port $(API_PORT) & api=$$!; trap "kill $$api 2>/dev/null" EXIT INT TERM; \
		$(BIN)/dagster dev -w workspace.yaml -h $(HOST) -p $(PORT)

down:
	@if [ -x $(BIN)/lookalike ]; then $(BIN)/lookalike db down; else echo "nothing installed"; fi

# The studio's tests drive Debian's Chromium (no browser download): installed here when missing and run as root
# (CI, a fresh machine); elsewhere install `chromium` yourself, or those tests skip saying why.
browser:
	@command -v chromium >/dev/null 2>&1 || { if [ "$$(id -u)" = 0 ]; then \
		echo "==> Chromium for the studio's browser tests (Debian package)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else echo "chromium is not installed: the studio's browser tests will skip (apt-get install chromium)"; fi; }

test: install browser
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: install
	$(BIN)/python bench/embeddings.py --n 2000
	$(BIN)/python bench/pools.py --leads 100000 --audiences 20
	$(BIN)/python bench/end_to_end.py --leads 20000 --tenants 4
	$(BIN)/python bench/quality.py
	$(BIN)/python bench/ranking.py --leads 100000
	$(BIN)/python bench/api.py --leads 20000 --tenants 4 --seconds 30
	$(BIN)/python bench/describe.py
	$(BIN)/python bench/studio.py --leads 20000

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
