# Gridline: `make run` starts the demo city, `make test` runs the suite. Only Python 3.11+ and make needed.
PYTHON ?= $(shell for p in python3.12 python3.11 python3.13 python3; do command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null && echo $$p && break; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test test-services bench clean

$(BIN)/python:
	@test -n "$(PYTHON)" || { echo "Gridline needs Python 3.11 or newer (python3.11/python3.12 on PATH)"; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)
	$(BIN)/gridline migrate
	$(BIN)/gridline load-demo

run: install
	$(BIN)/gridline run

# The suite on the embedded defaults (SQLite + a Redis we start). With DATABASE_URL and REDIS_URL
# set, the same suite runs against PostgreSQL and that Redis (.ci/run does both).
test: install
	$(BIN)/python -m pytest -q -p no:cacheprovider

test-services: $(STAMP)
	DATABASE_URL=$${TEST_DATABASE_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/test} \
	REDIS_URL=$${TEST_REDIS_URL:-redis://127.0.0.1:6379/15} $(BIN)/python -m pytest -q -p no:cacheprovider

bench: $(STAMP)
	$(BIN)/python bench/intake.py

clean:
	rm -rf var .pytest_cache
