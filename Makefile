# bmp-agent: the two set-up commands of the README are `make run` and `make test`.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
PYTEST_ARGS ?=
# The hot path setup.py compiles with mypyc (parsers.hotpath.HOT_MODULES).
HOT := parsers/bgp/fast.py parsers/bmp/fast.py parsers/bmp/reader.py parsers/bmp/session.py agent/core/rib.py

.PHONY: run test install install-test lint typecheck unit lab bench clean fuzz compile lock

$(PY):
	@command -v python3 >/dev/null || (apt-get update -q && apt-get install -y -q python3)
	@python3 -m venv $(VENV) 2>/dev/null || (apt-get update -q && apt-get install -y -q python3-venv && python3 -m venv $(VENV))
	$(PY) -m pip install -qq --upgrade pip

# pip builds the compiled hot path (setup.py: mypyc, needs gcc + python3-dev,
# which scripts/install-build-deps.sh installs); without a compiler it
# installs pure Python and says so. Rebuilt when the hot path changes.
# Dependencies come from the hash-locked requirements/runtime.txt (pip-compile
# --generate-hashes; `make lock` renews both lock files), then the project itself.
$(VENV)/.installed: pyproject.toml setup.py requirements/runtime.txt $(HOT) | $(PY)
	@bash scripts/install-build-deps.sh $(PY)
	$(PY) -m pip install -q --require-hashes -r requirements/runtime.txt
	$(PY) -m pip install -q --no-deps -e .
	@touch $@

install: $(VENV)/.installed
	@$(BIN)/bmp-agent --version

## Rebuild the compiled hot path in place after editing it (a stale build is not used: parsers/hotpath.py).
compile: | $(PY)
	@bash scripts/install-build-deps.sh $(PY)
	$(PY) -m pip install -q -e .
	@touch $(VENV)/.installed

## Install and run the agent with built-in defaults (BMP on 127.0.0.1:11019, HTTP on 127.0.0.1:9324).
run: install
	$(BIN)/bmp-agent run

# System packages + BIRD 3 (scripts/install-test-deps.sh), then the venv with the
# test extras (re-installed only when pyproject.toml changes), then helm.
install-test:
	bash scripts/install-test-deps.sh
	@$(MAKE) -s --no-print-directory $(VENV)/.test-deps
	bash scripts/get-helm.sh $(BIN)/helm

$(VENV)/.test-deps: pyproject.toml setup.py requirements/test.txt $(HOT) | $(PY)
	@bash scripts/install-build-deps.sh $(PY)
	$(PY) -m pip install -qq --require-hashes -r requirements/test.txt
	$(PY) -m pip install -qq --no-deps -e .
	@touch $@ $(VENV)/.installed

## Renew the hash-locked dependency files from pyproject.toml (needs the package index).
lock: | $(PY)
	$(PY) -m pip install -qq pip-tools
	$(BIN)/pip-compile -q --no-emit-index-url --no-emit-find-links --allow-unsafe --generate-hashes --strip-extras -o requirements/runtime.txt pyproject.toml
	$(BIN)/pip-compile -q --no-emit-index-url --no-emit-find-links --allow-unsafe --generate-hashes --strip-extras --extra test -o requirements/test.txt pyproject.toml

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck:
	$(BIN)/mypy

## Install everything the tests need (apt packages, Python packages, tools) and run the whole suite.
# The suite runs on the compiled build (BMP_HOTPATH_EXPECT=compiled: a test fails
# if it is not); tests/parsers/test_both_builds.py reruns the fast-vs-spec
# equivalence tests on the pure-Python build.
test: install-test lint typecheck
	@$(BIN)/bmp-agent --version
	BMP_HOTPATH_EXPECT=compiled $(BIN)/pytest -q -p no:cacheprovider $(PYTEST_ARGS)

## Only the fast tests (no real BGP speakers).
unit:
	$(BIN)/pytest -q -p no:cacheprovider -m 'not lab' $(PYTEST_ARGS)

## Only the lab tests (real FRR, GoBGP, BIRD 3, ExaBGP in network namespaces; root).
lab:
	$(BIN)/pytest -q -p no:cacheprovider -m lab $(PYTEST_ARGS)

## Fuzz every decoder target (fuzz/targets.py) with atheris for MINUTES in all, shared evenly;
## prints executions and coverage per target (crashers go to tests/data/crashers/<target>/).
MINUTES ?= 10
FUZZ_TARGETS ?=
fuzz: $(VENV)/.test-deps
	$(PY) fuzz/run.py --minutes $(MINUTES) $(if $(FUZZ_TARGETS),--targets $(FUZZ_TARGETS))

bench: install
	$(PY) bench/decode.py

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache .pytest_cache
	find parsers agent -name '*.so' -delete; rm -f bmp_agent_hot__mypyc*.so
