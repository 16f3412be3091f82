# Solvent: every target installs what it needs first (idempotent; quick when already set up).
#   make demo   set up, replay the 2020-03-12 crash against 300 accounts, write reports/2020-03-12/
#   make demo-quick   the scripted crash demo (deploy, crash ETH 40%, one keeper pass, print)
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
# Extra pytest arguments, e.g. `make test TEST_ARGS="-n auto"` for one anvil per core (pytest-xdist).
TEST_ARGS ?=

# Everything stays inside the project: compilers, ape's data folder, node binaries.
export SOLCX_BINARY_PATH ?= $(CURDIR)/.solcx
export APE_DATA_FOLDER ?= $(CURDIR)/.ape
# .foundry-bin holds links to the native anvil/forge/cast shipped in the npm packages: ape then starts
# anvil directly, not through npm's node wrapper (faster, and one process to stop instead of two).
export PATH := $(CURDIR)/.foundry-bin:$(CURDIR)/$(BIN):$(CURDIR)/node_modules/.bin:$(PATH)

STAMP_PY := $(VENV)/.installed
STAMP_NODE := node_modules/.installed
STAMP_FOUNDRY := .foundry-bin/.linked
# Stamp, not the executable itself: a symlink's timestamp is its target's.
SOLC := $(SOLCX_BINARY_PATH)/.installed-$(SOLC_VERSION)

.PHONY: help setup compile test demo demo-quick gas bench lint lock clean

help:
	@sed -n '2,9p' Makefile | sed 's/^# \{0,1\}//'

setup: $(STAMP_PY) $(STAMP_NODE) $(STAMP_FOUNDRY) $(SOLC)

$(STAMP_PY): requirements.lock pyproject.toml
	@echo ">> Python virtualenv ($(VENV)) with pinned dependencies"
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock 2>&1 | { grep -v "is ignored" || true; }
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e . 2>&1 | { grep -v "is ignored" || true; }
	$(BIN)/python -m pip check
	touch $@

# `npm ci` installs exactly the committed lock and never rewrites it (set-up leaves `git status`
# clean); it fails loudly if package.json and the lock disagree (then: `npm install`, commit the lock).
$(STAMP_NODE): package.json package-lock.json
	@echo ">> node packages (anvil, forge, cast, solc-js, OpenZeppelin, Chainlink)"
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(STAMP_FOUNDRY): | $(STAMP_NODE)
	mkdir -p .foundry-bin
	for tool in anvil forge cast; do \
	  native=$$(ls -d node_modules/@foundry-rs/$$tool-*/bin/$$tool 2>/dev/null | head -n 1); \
	  if [ -n "$$native" ]; then ln -sfn "$(CURDIR)/$$native" .foundry-bin/$$tool; fi; \
	done
	touch $@

# A native solc-v$(SOLC_VERSION) already in SOLCX_BINARY_PATH is used as it is; otherwise a native
# `solc` of the pinned version on PATH is linked; otherwise the solc-js launcher.
$(SOLC): tools/solcjs-cli.js tools/install-solc.sh | $(STAMP_NODE)
	bash tools/install-solc.sh "$(SOLCX_BINARY_PATH)" "$(SOLC_VERSION)"
	touch $@

compile: setup
	$(BIN)/ape compile

test: compile
	$(BIN)/ruff check solvent scripts tests
	$(BIN)/ape test tests -p no:cacheprovider $(TEST_ARGS)

demo: compile
	$(BIN)/solvent simulate

demo-quick: compile
	$(BIN)/ape run demo

gas: compile
	$(BIN)/ape run gas_snapshot

bench: compile
	$(BIN)/ape run bench
	$(BIN)/python scripts/bench_keeper.py
	$(BIN)/python scripts/bench_simulate.py

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
	rm -rf .build .cache .pytest_cache .foundry-bin
