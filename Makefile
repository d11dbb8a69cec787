# birthreg: `make run` serves the TEST service on http://127.0.0.1:8000, `make test` runs every test.
# Both work on a fresh clone with Python 3.11 and Debian's tools; see README.md.

SHELL := /bin/bash
.DEFAULT_GOAL := help

# python3.11 if it is on PATH under that name, else python3 (checked to be 3.11 or 3.12 below).
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3 2>/dev/null)
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=

.PHONY: help run test lint bench clean screenshots

help:
	@echo "make run    create .venv, install, birthreg init, serve on http://$(HOST):$(PORT)"
	@echo "make test   install the dev extras and run the whole pytest suite"
	@echo "make lint   ruff and mypy (strict on signing/)"
	@echo "make bench  the benchmarks in bench/"
	@echo "make screenshots  the README's pictures (docs/screenshots), by the layout test in Chromium"

$(BIN)/python:
	@test -n "$(PYTHON)" || { echo "make: no python3.11 or python3 on PATH" >&2; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(not ((3, 11) <= sys.version_info[:2] < (3, 13)))' \
	  || { echo "make: $(PYTHON) is not Python 3.11 or 3.12; set PYTHON=/path/to/python3.11" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Stamp files: reinstall only when pyproject.toml changes (or the venv is new).
$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev,browser]'
	@touch $@ $(VENV)/.installed-dev

# Without BIRTHREG_BASE_URL (environment or .env), links, QR codes and a new CA's pointers name
# the address served at, for `init` and `demo` as `serve` itself does (birthreg.public_address).
ifeq ($(origin BIRTHREG_BASE_URL)$(shell grep -s '^BIRTHREG_BASE_URL=' .env)$(filter 0.0.0.0 ::,$(HOST)),undefined)
run: export BIRTHREG_BASE_URL = http://$(HOST):$(PORT)
endif
run: $(VENV)/.installed-dev
	$(BIN)/birthreg init
	@echo
	$(BIN)/birthreg demo
	@echo
	@echo "birthreg (TEST) on http://$(HOST):$(PORT)  - Ctrl-C stops it."
	@echo "Log in at http://$(HOST):$(PORT)/login with a demo login above (ward: /ward)."
	@echo
	$(BIN)/birthreg serve --host $(HOST) --port $(PORT)

# pytest's exit status 5 means it collected no test: that is a failure too.
test: $(VENV)/.installed-test
	@$(BIN)/python -m pytest $(PYTEST_ARGS); status=$$?; \
	if [ $$status -eq 5 ]; then echo "make test: pytest ran no test" >&2; exit 1; fi; \
	exit $$status

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/mypy birthreg signing $(wildcard bench/*.py)

bench: $(VENV)/.installed-dev
	@shopt -s nullglob; scripts=(bench/[!_]*.py); \
	if [ $${#scripts[@]} -eq 0 ]; then echo "no benchmarks yet"; exit 0; fi; \
	for script in "$${scripts[@]}"; do echo "== $$script"; $(BIN)/python "$$script" || exit 1; done

# The walk-through's pictures: the layout test (every page, kk/ru/en, desk and phone, axe-core)
# saves the main pages in English as it checks them.
screenshots: $(VENV)/.installed-test
	BIRTHREG_BROWSER_TESTS=1 BIRTHREG_SCREENSHOTS=docs/screenshots \
	  $(BIN)/python -m pytest -q -p no:cacheprovider tests/e2e/test_layout.py

clean:
	rm -rf .pytest_cache .mypy_cache .ruff_cache test-artifacts *.egg-info build
