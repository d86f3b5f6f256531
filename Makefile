# The two commands a user needs: `make table` (the comparison table) and `make test`.
# Both create .venv and install the pinned set on first use; afterwards the stamp makes set-up a no-op.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
STAMP := $(VENV)/.installed
BIN := $(VENV)/bin

# Telemetry off in everything started from here.
export DO_NOT_TRACK := true
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export MLFLOW_DISABLE_TELEMETRY := true
export DVC_NO_ANALYTICS := 1
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS := 120

.PHONY: setup data table smoke ablate report server test bench docs clean-venv

setup: $(STAMP)

# torch is pinned by its public version (torch==2.13.0); here that resolves to the local CPU wheel.
$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -qq --disable-pip-version-check -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

data: $(STAMP)
	$(BIN)/dvc pull -q

table: $(STAMP)
	$(BIN)/sla2p-bench table $(ARGS)

smoke: $(STAMP)
	$(BIN)/sla2p-bench table --profile smoke $(ARGS)

ablate: $(STAMP)
	$(BIN)/sla2p-bench ablate $(ARGS)

report: $(STAMP)
	$(BIN)/sla2p-bench report $(ARGS)

# A team's servers: MLflow on a database (ARGS="--backend-store-uri postgresql+psycopg://...", or
# MLFLOW_BACKEND_STORE_URI) and a persistent Prefect server; until Ctrl-C. See README, "Team setup".
server: $(STAMP)
	$(BIN)/sla2p-bench server $(ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest -q $(ARGS)

bench: $(STAMP)
	$(BIN)/python bench/bench_core.py $(ARGS)
	$(BIN)/python bench/bench_baselines.py
	$(BIN)/python bench/bench_embed.py
	$(BIN)/python bench/bench_flows.py

# The documentation site (mkdocs.yml, docs/) into site/, strict: a broken link or anchor, or a page
# missing from the nav, fails the build. `$(BIN)/mkdocs serve` serves it while editing.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict -d site

clean-venv:
	rm -rf $(VENV)
