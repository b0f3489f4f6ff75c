# Quick start: `make run` (install into .venv, start the embedded server) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
HOST ?= 127.0.0.1
DATA ?= ./data

.PHONY: run test lint install clean bench

$(BIN)/parcelstream: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/parcelstream

run: install
	$(BIN)/parcelstream serve --host $(HOST) --port $(PORT) --data $(DATA)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

test: install lint
	$(BIN)/python -m pytest -q

bench: install
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/lookup.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
