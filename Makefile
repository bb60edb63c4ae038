# hookd: `make run` starts hookd on SQLite; `make test` runs the whole suite.
# Every set-up step lives here: CI runs on a clean clone.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: help install postgres chromium run test unit lint format bench faults screenshots clean

help:
	@echo "make run     set up, migrate, and start hookd on SQLite (dev mode) with a printed admin key"
	@echo "make test    set up (incl. PostgreSQL binaries) and run lint, types and every test"
	@echo "make lint    ruff + mypy --strict"
	@echo "make screenshots  photograph the console (docs/img/*.png) in headless Chromium"
	@echo "make bench   run the benchmarks (writes docs/benchmarks.md), the fault suite and the slow soak tests"
	@echo "make faults  kill, stop and cut hookd and its receiver under load; count what arrives (docs/failures.md)"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

# The tests start a real PostgreSQL; install its server binaries when missing.
postgres:
	@bash scripts/ensure-postgres.sh

# The browser tests drive Debian's headless Chromium; install it when missing.
chromium:
	@bash scripts/ensure-chromium.sh

run: install
	@mkdir -p .hookd
	@test -s .hookd/admin-key || (umask 077 && $(BIN)/python -c \
		"from hookd.service.auth import new_key; print(new_key())" > .hookd/admin-key)
	@$(BIN)/hookd migrate
	@echo "Admin key: $$(cat .hookd/admin-key)   (kept in .hookd/admin-key)"
	@HOOKD_ADMIN_KEY="$$(cat .hookd/admin-key)" exec $(BIN)/hookd serve --dev --host $(HOST) --port $(PORT)

lint: install
	$(BIN)/ruff check src tests benchmarks faults
	$(BIN)/ruff format --check src tests benchmarks faults
	$(BIN)/mypy

test: install postgres chromium lint
	$(BIN)/pytest

unit: install
	$(BIN)/pytest tests/unit

format: install
	$(BIN)/ruff check --fix src tests benchmarks faults
	$(BIN)/ruff format src tests benchmarks faults

bench: install postgres
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	$(BIN)/python -m benchmarks
	$(BIN)/python -m faults
	$(BIN)/pytest -m slow   # soak tests (e.g. 200,000 deliveries across 3 workers)

# The fault suite of issue 21 (~15 min; `python -m faults --quick` is ~3 min).
faults: install postgres
	$(BIN)/python -m faults

screenshots: install chromium
	$(BIN)/python -m tests.browser.screenshots

clean:
	rm -rf $(VENV) .hookd .mypy_cache .ruff_cache
