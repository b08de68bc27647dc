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
## The sandboxes listen on DEMO_PORT and the ports after it (two per provider).
DEMO_PORT ?= 8765
WITH_MELTANO := PATH="$(CURDIR)/$(MELTANO_VENV)/bin:$$PATH"
demo: $(VENV)/.installed $(MELTANO_VENV)/.installed
	$(WITH_MELTANO) DEMO_PORT=$(DEMO_PORT) $(VENV)/bin/python scripts/demo.py run

## Forget the demo's state and database, so the next `make demo` loads everything again.
demo-reset: $(VENV)/.installed $(MELTANO_VENV)/.installed
	$(WITH_MELTANO) $(VENV)/bin/python scripts/demo.py reset

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
