# Harness — the two commands: `make demo` and `make test` (plus `make bench`).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8000
ONCE ?=
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/harness
TEST_REDIS_URL ?= redis://127.0.0.1:6379/0
# The checks toolchain (pytest, ruff) that runs inside the sandbox over generated code. Built from the
# system Python when there is one: it lives under /usr, which the sandbox binds read-only anyway.
TOOLCHAIN ?= $(or $(HARNESS_CHECKS_TOOLCHAIN),.toolchain)
TOOLCHAIN_PYTHON ?= $(shell test -x /usr/bin/python3 && /usr/bin/python3 -c 'import venv, ensurepip' 2>/dev/null && echo /usr/bin/python3 || echo $(PYTHON))

.PHONY: install demo test test-fast test-slow bench services chromium lint format toolchain bubblewrap graphviz

$(VENV)/.installed: pyproject.toml requirements.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	$(PY) -m pip install -q --disable-pip-version-check -c requirements.lock -e '.[dev]'
	touch $@

install: $(VENV)/.installed

## toolchain: the checks' own venv, from the lock; never installed at check time.
$(TOOLCHAIN)/.installed: requirements-checks.txt requirements.lock
	test -x $(TOOLCHAIN)/bin/python || $(TOOLCHAIN_PYTHON) -m venv $(TOOLCHAIN)
	$(TOOLCHAIN)/bin/python -m pip install -q --disable-pip-version-check -c requirements.lock -r requirements-checks.txt
	touch $@

# As root the sandbox runs as uid 65534, which must be able to reach the toolchain: a clone in a private
# directory (mktemp -d is 0700) gets traverse permission (o+x, no listing) on the toolchain's parents.
toolchain: $(TOOLCHAIN)/.installed
	@test "$$(id -u)" != 0 || $(TOOLCHAIN_PYTHON) -c 'import os, pathlib, stat, sys; \
	p = pathlib.Path(sys.argv[1]).resolve(); \
	[os.chmod(d, d.stat().st_mode | stat.S_IXOTH) for d in [p, *p.parents] if not d.stat().st_mode & stat.S_IXOTH]' $(TOOLCHAIN)

## demo: embedded mode on a fresh machine — SQLite, in-process worker, offline LLM.
demo: install toolchain graphviz
	$(PY) manage.py harness_demo --port $(PORT) $(if $(ONCE),--once,)

## services: start PostgreSQL and Redis when they are not running.
services:
	bash .ci/services.sh

## chromium: Debian's Chromium for the browser tests (never `playwright install`).
chromium:
	@test -x /usr/bin/chromium || (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium)

## bubblewrap: Debian's sandbox for the checks; without it (or user namespaces) checks report not_verified.
bubblewrap:
	@command -v bwrap >/dev/null || { test "$$(id -u)" = 0 && command -v apt-get >/dev/null \
		&& apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q bubblewrap; } \
		|| echo "bubblewrap is not installed (apt-get install bubblewrap): checks will report not_verified"

## graphviz: Debian's Graphviz lays the plan graph out (dot → SVG); without it the page draws the graph itself.
graphviz:
	@command -v dot >/dev/null || { test "$$(id -u)" = 0 && command -v apt-get >/dev/null \
		&& apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q graphviz; } \
		|| echo "graphviz is not installed (apt-get install graphviz): the plan graph is laid out in the browser"

## test: fast unit tests first, then real-service, crash and browser tests.
test: install toolchain services chromium bubblewrap graphviz
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) $(VENV)/bin/ruff check .
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) $(VENV)/bin/pytest -m "not slow and not bench" -q
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) $(VENV)/bin/pytest -m "slow and not bench" -q

test-fast: install toolchain services
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) $(VENV)/bin/pytest -m "not slow and not bench" -q

## bench: benchmarks print their figures; nothing is asserted about speed.
bench: install services
	HARNESS_LOG_LEVEL=WARNING DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) $(VENV)/bin/pytest -m bench -q -s -p no:randomly

lint: install
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff check --fix . && $(VENV)/bin/ruff format .
