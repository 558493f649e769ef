# The README's commands. `make demo` runs the sample feed end to end; `make test` runs every
# test tier against a real Kafka and PostgreSQL that the tests start (and stop) themselves.

PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PG_BIN := /usr/lib/postgresql/15/bin

.PHONY: install demo test lint format stack-up stack-down stack-status bench clean chaos chaos-ci

install: $(STAMP) postgres-binaries chromium go-modules

# Reinstall when the dependency list changes.
$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# PostgreSQL 15 server binaries come from Debian's packages when the machine lacks them.
.PHONY: postgres-binaries
postgres-binaries:
	@if [ ! -x $(PG_BIN)/initdb ] && ! command -v initdb >/dev/null; then \
		echo "installing PostgreSQL 15 server binaries"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-15; \
	fi

# The console's browser tests drive Debian's Chromium (never a downloaded browser build).
.PHONY: chromium
chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
		echo "installing Chromium for the browser tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	fi

# The Kubernetes manifest check (deploy/k8s/validate, run by the tests) is a Go program: its
# modules come from the Go module proxy, as configured by `go env GOPROXY`. Built once here
# with the project's own build cache, which the tests reuse (k8s.io/api compiles slowly).
GO ?= $(shell command -v go || echo /usr/local/go/bin/go)
.PHONY: go-modules
go-modules:
	cd deploy/k8s/validate && GOFLAGS=-mod=readonly $(GO) mod download
	cd deploy/k8s/validate && GOCACHE=$(CURDIR)/.state/go-build GOFLAGS=-buildvcs=false \
		$(GO) build -o $(CURDIR)/.state/bin/k8s-validate .

demo: install
	$(BIN)/jobstream demo

test: install lint
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# The chaos suite (tests/chaos/): each fault against a fault-free run of the same generated feed, each
# on a throwaway stack of its own; prints the table. Not part of `make test`. CHAOS_JOBS sets
# the feed size.
CHAOS_JOBS ?= 20000
chaos: install
	CHAOS_JOBS=$(CHAOS_JOBS) $(BIN)/pytest -m chaos tests/chaos -rN

# The CI-sized chaos step (.ci/run runs it after make test): the baseline and 16 scenarios on a
# 5,000-job feed, long enough that a replica started mid-run joins while its stage is under way
# (on 2,000 one missed it). Left out, with the reason, in README's chaos section.
# CHAOS_CI_SELECT is a pytest -k expression.
CHAOS_CI_JOBS ?= 5000
CHAOS_CI_SELECT ?= sigkill-ingestor-while-reading or sigkill-syncer or broker-sigkill-down-10-s \
	or postgresql-down-60-s or enricher-replica-in-and-out or syncer-replica-in-and-out \
	or 2-routers-2-enrichers or xano-429-500-timeouts or sigterm-ingestor-while-reading \
	or sigterm-syncer or router-replica-in-and-out or sigkill-enricher \
	or 3-brokers-broker-sigkill or replicas-2-3-2-2
chaos-ci: install
	CHAOS_JOBS=$(CHAOS_CI_JOBS) $(BIN)/pytest -m chaos tests/chaos -rN -k "$(CHAOS_CI_SELECT)"

stack-up: install
	$(BIN)/jobstream stack up

stack-down: $(STAMP)
	$(BIN)/jobstream stack down

stack-status: $(STAMP)
	$(BIN)/jobstream stack status

bench: install
	$(BIN)/python -m bench

clean: stack-down
	rm -rf .state
