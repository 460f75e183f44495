# The commands of the README: `make run`, `make test` and `make bench`. They work on a fresh machine.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
FLASK  := $(BIN)/flask --app wsgi

# Test workers (pytest-xdist), at most 4; each worker is a test session of its
# own with its own PostgreSQL server and Chromium. PYTEST_WORKERS=0 runs in one process.
# Four, not one per CPU: much of the suite waits on PostgreSQL, Chromium and loopback servers,
# so four workers on this 2-core machine finish in about 5½ minutes where two take 7.
PYTEST_WORKERS ?= 4
PYTEST := $(BIN)/pytest -n $(PYTEST_WORKERS) --maxprocesses=4

.PHONY: run test bench test-fast install install-dev assets migrate demo lint clean wrk

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $(VENV)/.installed $@

# WeUI and Swagger UI come from the npm registry, pinned in package-lock.json.
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
	touch $@

install: $(VENV)/.installed node_modules/.installed
install-dev: $(VENV)/.installed-dev node_modules/.installed
assets: node_modules/.installed

migrate: install
	$(FLASK) db upgrade

demo: migrate
	$(FLASK) demo

run: demo
	./scripts/run.sh

lint: install-dev
	$(BIN)/ruff check .

test: install-dev lint
	$(PYTEST)

# The product against a bare Flask baseline under the same gunicorn settings, on SQLite and
# PostgreSQL (bench/README.md). BENCH_SECONDS=2 BENCH_ROUNDS=1 for a quick look.
bench: install-dev wrk
	$(BIN)/python bench/run.py

# wrk loads the servers of `make bench`: Debian's package, installed when missing if we may.
wrk:
	@command -v wrk >/dev/null || { \
	  if [ "$$(id -u)" != 0 ]; then echo "make bench needs wrk: sudo apt-get install -y wrk"; exit 1; fi; \
	  apt-get install -y wrk || { apt-get update && apt-get install -y wrk; }; }

# The edit loop: no browser, no PostgreSQL, nothing slow. `make test` before pushing.
test-fast: install-dev
	$(PYTEST) -m "not browser and not pg and not slow"

clean:
	rm -rf $(VENV) node_modules .pytest_cache .ruff_cache
