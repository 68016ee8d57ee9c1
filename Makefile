# Two commands on a fresh machine: `make run` and `make test`. Each installs what
# it needs first (a venv under .venv/ from the pinned requirements.txt).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test test-fast lint bench install clean chromium axe faults gcc valgrind

install: $(STAMP)

$(STAMP): requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $(STAMP)

## The whole system on its embedded default: local broker + four services on SQLite under ./var/.
run: $(STAMP)
	$(PY) -m services.dev.stack

## Every test: unit, service and cross-service (real Postgres at 127.0.0.1:5432 and a real broker),
## and the console in a real headless Chromium (Debian's package, installed here if missing).
## Two processes, each taking a whole test file at a time (decision 0027).
test: $(STAMP) chromium axe gcc
	$(PY) -m pytest -q -n 2 --dist loadfile

## gcc, for the compiled open-loop load generator (bench/openloop.c) of the surge and the benchmarks.
gcc:
	@command -v gcc >/dev/null || apt-get install -y gcc >/dev/null || (apt-get update >/dev/null && apt-get install -y gcc >/dev/null)

## valgrind, which counts the instructions of a new case for bench.instructions.
valgrind:
	@command -v valgrind >/dev/null || apt-get install -y valgrind >/dev/null || (apt-get update >/dev/null && apt-get install -y valgrind >/dev/null)

## axe-core, the accessibility check the console's browser tests run in each page (npm registry).
AXE_VERSION := 4.14.1
axe:
	@test -f var/npm/node_modules/axe-core/axe.min.js || npm install --no-save --silent --prefix var/npm axe-core@$(AXE_VERSION)

## Debian's Chromium and a Chinese font for it (the console's pages are zh-CN by default).
chromium:
	@(command -v chromium >/dev/null && fc-list :lang=zh | grep -q .) || \
	  (apt-get install -y chromium fonts-wqy-zenhei >/dev/null || \
	   (apt-get update >/dev/null && apt-get install -y chromium fonts-wqy-zenhei >/dev/null))

## The fault scenarios alone (they are part of make test too): faults injected around the
## whole system under load, counted from outside; figures in bench/results/faults-*.json.
faults: $(STAMP) gcc
	$(PY) -m pytest -q tests/faults

## Tests that need no running system.
test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not stack"

## Formatting, lint and types (ruff; mypy strict on services/, shared/ and each service package).
lint: $(STAMP)
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

## Figures, printed and written to bench/results/: the whole system on Postgres + broker under
## an open-loop load (100, 200, 500 cases/s), its sustained maximum, a burst, CPU per process,
## the bare-endpoint ceiling; due-date arithmetic; 1,000,000 open clocks firing on time; the
## console's board with 10,000 late cases and a case page of 200 timeline entries in Chromium;
## the instructions one new case costs intake (callgrind: a figure the machine's drift leaves alone).
bench: $(STAMP) gcc valgrind
	$(PY) -m bench.system_bench
	$(PY) -m bench.instructions --runs 2
	$(PY) -m bench.sla_bench
	$(MAKE) chromium
	$(PY) -m bench.console_bench

clean:
	rm -rf var .pytest_cache
