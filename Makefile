# The two commands of the README: `make up` starts the whole system, `make test` runs every check.
# Both create the virtual environment and install what they need on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.installed-bench
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: up test install system-deps bench-deps lint typecheck layers placeholders pytest bench clean

$(STAMP): pyproject.toml dashboards/jupyterlab/agency.json
	[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	$(BIN)/jupyter kernelspec list | grep -qw python3 || $(BIN)/python -m ipykernel install --sys-prefix  # runbooks and nbval run on kernel python3
	install -D -m 644 dashboards/jupyterlab/agency.json $(VENV)/share/jupyter/lab/settings/overrides.d/agency.json  # JupyterLab's defaults here: Panel's comms on the main shell
	touch $(STAMP)

install: $(STAMP)

## Start the control plane, the dashboard and two local workers on data/agency.duckdb.
up: install
	$(BIN)/agency up

## Debian packages the tests drive: Chromium (dashboard tests), bubblewrap (worker sandbox).
system-deps:
	@if ! command -v chromium >/dev/null || ! command -v bwrap >/dev/null; then \
	  $(SUDO) apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q --no-install-recommends chromium bubblewrap fonts-dejavu-core; \
	fi

lint: install
	$(BIN)/ruff check agency dashboards tests benchmarks setup.py
	$(BIN)/ruff format --check agency dashboards tests benchmarks setup.py

typecheck: install
	$(BIN)/mypy

layers: install
	$(BIN)/lint-imports

placeholders: install
	$(BIN)/agency lint agency dashboards

pytest: install system-deps
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## Everything CI runs: lint, types, import layers, the placeholder gate, then the test suite.
test: install system-deps lint typecheck layers placeholders pytest

$(BENCH_STAMP): pyproject.toml $(STAMP)
	$(BIN)/python -m pip install -q -e '.[dev,bench]'
	touch $(BENCH_STAMP)

## What benchmarks/bench_vs_celery.py runs beside agency: Celery (the bench extra) and Redis.
bench-deps: $(BENCH_STAMP)
	@if ! command -v redis-server >/dev/null; then \
	  $(SUDO) apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q --no-install-recommends redis-server; \
	fi

## Every benchmark (BENCH="bench_vs_celery --quick" for one, with its arguments); not part of `make test`.
bench: install bench-deps
	$(BIN)/python -m benchmarks $(BENCH)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
