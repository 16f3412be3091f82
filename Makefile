# Solvent: every target installs what it needs first (idempotent; quick when already set up).
#   make demo   set up, start a local Anvil chain, deploy, run the crash demo, print the report
#   make test   set up, compile, run the whole test suite on Anvil
#   make gas    rewrite gas-snapshot.json from the fixed gas scenario
#   make bench  write timing benchmarks to bench/results.json
#   make lint   ruff

SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
SOLC_VERSION := 0.8.37

# Everything stays inside the project: compilers, ape's data folder, node binaries.
export SOLCX_BINARY_PATH ?= $(CURDIR)/.solcx
export APE_DATA_FOLDER ?= $(CURDIR)/.ape
export PATH := $(CURDIR)/$(BIN):$(CURDIR)/node_modules/.bin:$(PATH)

STAMP_PY := $(VENV)/.installed
STAMP_NODE := node_modules/.installed
SOLC := $(SOLCX_BINARY_PATH)/solc-v$(SOLC_VERSION)

.PHONY: help setup compile test demo gas bench lint lock clean

help:
	@sed -n '2,8p' Makefile | sed 's/^# \{0,1\}//'

setup: $(STAMP_PY) $(STAMP_NODE) $(SOLC)

$(STAMP_PY): requirements.lock pyproject.toml
	@echo ">> Python virtualenv ($(VENV)) with pinned dependencies"
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock 2>&1 | { grep -v "is ignored" || true; }
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e . 2>&1 | { grep -v "is ignored" || true; }
	$(BIN)/python -m pip check
	touch $@

$(STAMP_NODE): package.json package-lock.json
	@echo ">> node packages (anvil, forge, cast, solc-js, OpenZeppelin, Chainlink)"
	npm install --no-audit --no-fund --loglevel=error
	touch $@

# A native solc-v$(SOLC_VERSION) already in SOLCX_BINARY_PATH is used as it is; otherwise a native
# `solc` of the pinned version on PATH is linked; otherwise the solc-js launcher.
$(SOLC): tools/solcjs-cli.js tools/install-solc.sh | $(STAMP_NODE)
	bash tools/install-solc.sh "$(SOLCX_BINARY_PATH)" "$(SOLC_VERSION)"

compile: setup
	$(BIN)/ape compile

test: compile
	$(BIN)/ruff check solvent scripts tests
	$(BIN)/ape test tests -p no:cacheprovider -n auto

demo: compile
	$(BIN)/ape run demo

gas: compile
	$(BIN)/ape run gas_snapshot

bench: compile
	$(BIN)/ape run bench

lint: setup
	$(BIN)/ruff check solvent scripts tests
	$(BIN)/ruff format --check solvent scripts tests

# Regenerate requirements.lock from requirements.in in a throwaway venv.
lock:
	rm -rf .lockenv && $(PYTHON) -m venv .lockenv
	.lockenv/bin/pip install --quiet -r requirements.in
	.lockenv/bin/pip freeze --exclude-editable > requirements.lock
	rm -rf .lockenv

clean:
	rm -rf .build .cache .pytest_cache
