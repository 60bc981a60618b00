# bmp-agent: the two set-up commands of the README are `make run` and `make test`.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin

.PHONY: run test install install-test lint typecheck unit bench clean

$(PY):
	@command -v python3 >/dev/null || (apt-get update && apt-get install -y python3)
	python3 -m venv $(VENV) || (apt-get update && apt-get install -y python3-venv && python3 -m venv $(VENV))
	$(PY) -m pip install -q --upgrade pip

install: $(PY)
	$(PY) -m pip install -q -e .

## Install and run the agent with built-in defaults (BMP on 127.0.0.1:11019, HTTP on 127.0.0.1:9324).
run: install
	$(BIN)/bmp-agent run

install-test: $(PY)
	bash scripts/install-test-deps.sh
	$(PY) -m pip install -q -e '.[test]'

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck:
	$(BIN)/mypy

## Install everything the tests need (apt packages, Python packages, tools) and run the whole suite.
test: install-test lint typecheck
	$(BIN)/pytest -q -p no:cacheprovider

bench: install
	$(PY) bench/decode.py

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache .pytest_cache
