# The project's commands. Each target installs what it needs (idempotently) before it runs.
#   make synth [ENV=prod]   synthesize every environment (or one) offline, run every compliance pack, print a summary
#   make test               the whole test suite (what CI runs)
#   make lint               ruff check + format check + the import contracts (docs/architecture.md)
#   make snapshot-update    re-record template snapshots (review the diff before committing!)
#   make deploy-local       deploy the dev environment into a local moto server and report what it created
#   make flows              every runtime request the platform needs or must refuse, as AWS authorizes it (offline)
#   make alarms             the alarm catalogue of every environment, from the synthesized templates
#   make cost               monthly idle cost per environment and resource kind
#   make docs               regenerate the generated blocks in README.md and docs/ (diagram, alarms, data contract, acks)
#   make bench              synth vs an empty app, scale to 20 endpoints, template headroom (10-20 min, not in make test)

SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
ENV ?=

# Offline and quiet: no telemetry, no version check, no notices, no Node EOL banner.
export CDK_DISABLE_VERSION_CHECK := true
export CDK_DISABLE_CLI_TELEMETRY := true
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export NODE_NO_WARNINGS := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1
export NPM_CONFIG_LOGLEVEL := error

CDK := npx --no-install cdk
CONTEXT := $(if $(ENV),-c env=$(ENV),)

.PHONY: help install java synth test lint format snapshot-update flows alarms cost docs deploy-local bench clean

help:
	@grep -E '^#   make' Makefile | sed 's/^#   //'

# --- set-up (stamps make it idempotent: reinstall only when a pin file changes) ---------------
# requirements-dev.txt ends with the project itself, editable (`-e .`); setuptools warns that a folder named like the
# package may shadow it, which here is the point (PYTHONWARNINGS=ignore keeps the install quiet).
$(VENV)/.installed: requirements.txt requirements-dev.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	PYTHONWARNINGS=ignore $(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# PySpark (the curation job's tests) needs a Java runtime: Spark 3.5 runs on Java 8, 11 and 17. When `java` is missing,
# Debian's headless JRE is installed (as root, or with sudo).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
java:
	@command -v java >/dev/null || { $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends openjdk-17-jre-headless; }

install: $(VENV)/.installed node_modules/.installed java

# --- the two commands of the README -------------------------------------------------------------
# '**' selects every stack, also those inside the environments' stages: the CLI fails the synth only on findings
# of the stacks it selected, and without a selector it selects none of them (they are all in stages).
synth: install
	rm -rf cdk.out
	$(CDK) synth '**' $(CONTEXT) --quiet
	$(PY) -m scripts.synth_summary cdk.out

# Two workers (one per core); each worker synthesizes the app once in its session fixture.
PYTEST_WORKERS ?= 2

test: install
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadfile

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

snapshot-update: install
	$(PY) -m pytest tests/gates/test_snapshots.py --snapshot-update
	@echo "Snapshots re-recorded: review 'git diff tests/gates/__snapshots__' before committing."

# Reports read cdk.out; synthesize first when it is missing.
cdk.out/manifest.json:
	$(MAKE) synth

# The flow table (scripts/flows): @cloud-copilot/iam-simulate evaluates each request against the synthesized policies.
flows: install cdk.out/manifest.json
	$(PY) -m scripts.flows cdk.out

alarms: install cdk.out/manifest.json
	$(PY) -m scripts.alarm_catalogue cdk.out

cost: install cdk.out/manifest.json
	$(PY) -m scripts.costs cdk.out

docs: install cdk.out/manifest.json
	$(PY) -m scripts.architecture cdk.out --environment prod --write README.md
	$(PY) -m scripts.alarm_catalogue cdk.out --write docs/operations.md
	$(PY) -m scripts.render_data_contract --write
	CDK_OUTDIR=$$(mktemp -d) $(PY) -m scripts.acknowledgments --write docs/compliance.md

# No AWS account: `cdk bootstrap` + `cdk deploy 'dev/*'` into moto on localhost (tests/local_deploy/harness.py).
deploy-local: install
	$(PY) -m tests.local_deploy.harness

# Ratios against floors measured in the same run (docs/benchmarks.md); BENCH_ARGS="--write --with-tests" also
# times `make test` and rewrites docs/benchmarks.md.
BENCH_ARGS ?=
bench: install
	$(PY) -m benchmarks.run $(BENCH_ARGS)

clean:
	rm -rf cdk.out .pytest_cache .ruff_cache
