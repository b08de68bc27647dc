# The two commands a newcomer needs: `make demo` and `make test`.
# Both create what they need on first use (.venv for the tap, .venv-meltano for Meltano).

PYTHON ?= python3
VENV := .venv
MELTANO_VENV := .venv-meltano
MELTANO_VERSION := 4.4.1
# Real SDK-based targets the tests run the tap's output into, in a virtualenv of their own
# (installed beside the tap, target packages pin older jsonschema and backoff).
TARGETS_VENV := .venv-targets
TARGET_CSV := meltanolabs-target-csv==0.5.0

.PHONY: demo demo-reset test lint install hub

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e '.[dev]'
	touch $@

$(MELTANO_VENV)/.installed:
	$(PYTHON) -m venv $(MELTANO_VENV)
	$(MELTANO_VENV)/bin/python -m pip install --quiet "meltano==$(MELTANO_VERSION)"
	touch $@

$(TARGETS_VENV)/.installed:
	$(PYTHON) -m venv $(TARGETS_VENV)
	$(TARGETS_VENV)/bin/python -m pip install --quiet "$(TARGET_CSV)"
	touch $@

install: $(VENV)/.installed

## Demo: sandbox -> tap-exports -> target-duckdb through `meltano run`, then row counts.
## The sandboxes listen on DEMO_PORT and the five ports after it.
DEMO_PORT ?= 8765
demo: $(VENV)/.installed $(MELTANO_VENV)/.installed
	DEMO_PORT=$(DEMO_PORT) bash scripts/demo.sh

## Forget the demo's state and database, so the next `make demo` loads everything again.
demo-reset: $(MELTANO_VENV)/.installed
	PATH="$(CURDIR)/$(MELTANO_VENV)/bin:$$PATH" meltano state clear --force demo:tap-exports--cometly-to-target-duckdb 2>/dev/null || true
	PATH="$(CURDIR)/$(MELTANO_VENV)/bin:$$PATH" meltano state clear --force demo:tap-exports--userpilot-to-target-duckdb--userpilot 2>/dev/null || true
	PATH="$(CURDIR)/$(MELTANO_VENV)/bin:$$PATH" meltano state clear --force demo:tap-exports--cornect-to-target-duckdb--cornect 2>/dev/null || true
	rm -f output/demo.duckdb

## Tests, type check and lint: what CI runs (Meltano too: the tests run it as users do).
test: $(VENV)/.installed $(MELTANO_VENV)/.installed $(TARGETS_VENV)/.installed lint
	$(VENV)/bin/python -m pytest

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check tap_exports tests benchmarks scripts
	$(VENV)/bin/ruff format --check tap_exports tests benchmarks scripts
	$(VENV)/bin/mypy

## The Meltano Hub definition (hub/extractors/tap-exports.yml), meltano.yml's tap-exports
## capabilities and settings, and docs/settings.md's table, from `tap-exports --about`: run it
## after changing a setting
## (tests/test_hub_definition.py fails until then; `--check` only tells).
hub: $(VENV)/.installed
	$(VENV)/bin/python scripts/hub_definition.py
