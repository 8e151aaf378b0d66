# Two commands on a fresh machine: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=
APPS := spaces_project accounts spaces scheduling ticketing replays media

.PHONY: run test lint typecheck install install-dev node-tools vendor migrate seed clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

migrate: install
	$(BIN)/python manage.py migrate --noinput

seed: migrate
	$(BIN)/python manage.py seed_demo
	$(BIN)/python manage.py seed_tickets
	$(BIN)/python manage.py seed_replays

# The demo sells tickets with the offline provider (no money moves); production leaves it off.
run: export PAYMENT_PROVIDERS ?= offline,stripe
run: seed vendor
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	$(BIN)/daphne -b $(HOST) -p $(PORT) spaces_project.asgi:application

# axe-core (package-lock.json) for tests/e2e/test_accessibility.py, and hls.js for the replay
# player (vendor). Without npm the accessibility test skips.
node-tools:
	@if command -v npm >/dev/null 2>&1; then \
		[ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund; \
	else \
		echo "npm not found: the accessibility test will be skipped (install Node 20, then npm ci)"; \
	fi
	@$(MAKE) --no-print-directory vendor

# hls.js, pinned with its integrity hash in package-lock.json, copied to static/vendor/ (never a
# CDN at run time) with its source map, which collectstatic's manifest insists on. Optional:
# without Node the replay page plays where the browser has HLS itself (Safari) and says plainly
# where it cannot.
HLS_JS := node_modules/hls.js/dist/hls.light.min.js
vendor:
	@if [ ! -f $(HLS_JS) ] && command -v npm >/dev/null 2>&1; then \
		npm ci --no-audit --no-fund || echo "npm ci failed: the replay player goes without hls.js"; \
	fi
	@if [ -f $(HLS_JS) ]; then \
		mkdir -p static/vendor && cp $(HLS_JS) $(HLS_JS).map static/vendor/; \
	else \
		echo "hls.js not installed (no npm): replays play only where the browser has HLS (Safari)"; \
	fi

test: install-dev node-tools
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/python manage.py check
	$(BIN)/python manage.py makemigrations --check --dry-run

typecheck: install-dev
	$(BIN)/mypy $(APPS)

clean:
	rm -rf $(VENV) staticfiles db.sqlite3 db.sqlite3-*
