# Two commands on a fresh machine: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=
APPS := spaces_project accounts spaces scheduling ticketing replays alerts webpush media

.PHONY: run test lint typecheck install install-dev kernel collectstatic node-tools vendor migrate seed clean messages

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed kernel
install-dev: $(VENV)/.installed-dev kernel

# The compiled media fan-out kernel (media/kernel/, git-ignored .so). Needs gcc and the Python
# headers; without them the media worker uses its Python loop (logged at start-up).
kernel: | $(BIN)/python
	-@$(BIN)/python -m media.kernel.build

migrate: install
	$(BIN)/python manage.py migrate --noinput

collectstatic: install
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0

seed: migrate
	$(BIN)/python manage.py seed_demo
	$(BIN)/python manage.py seed_tickets
	$(BIN)/python manage.py seed_replays

# The demo sells tickets with the offline provider (no money moves); production leaves it off.
run: export PAYMENT_PROVIDERS ?= offline,stripe
# Static files before the seed: its go-live alerts render pushes that name the site's icon.
run: vendor collectstatic seed
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

# The project catalog (locale/): templates/ and spaces_project/*.py (domain django), static/js
# (domain djangojs); the apps' files are left out with `--ignore=app/*.*` (`app` or `app/*` would
# skip templates/app/ too), and the apps' locale/ folders with `--ignore=*/locale`: makemessages
# matches a file to a locale/ folder by a bare prefix, so spaces_project/*.py would land in
# spaces/locale/ (and empty it). Each app's Python strings are in its own <app>/locale/, made from
# inside the app. `make messages` refreshes every .po and compiles the .mo files beside them (both are
# committed); tests/spaces_project/test_i18n_catalogs.py fails when a .mo is behind its .po.
I18N_APPS := accounts spaces scheduling ticketing replays alerts webpush media
I18N_IGNORE := $(foreach app,$(I18N_APPS),--ignore=$(app)/*.*) --ignore=.venv --ignore=tests \
	--ignore=bench --ignore=node_modules --ignore=staticfiles --ignore=deploy --ignore=docs \
	--ignore=var --ignore=vendor --ignore=*/locale
messages: install
	$(BIN)/python manage.py makemessages -l es --no-obsolete $(I18N_IGNORE)
	$(BIN)/python manage.py makemessages -d djangojs -l es --no-obsolete $(I18N_IGNORE)
	@for app in $(I18N_APPS); do \
		if [ -d $$app/locale ]; then \
			(cd $$app && ../$(BIN)/python ../manage.py makemessages -l es --no-obsolete) || exit 1; \
		fi; \
	done
	$(BIN)/python manage.py compilemessages -l es --ignore=.venv --ignore=node_modules

typecheck: install-dev
	$(BIN)/mypy $(APPS)

clean:
	rm -rf $(VENV) staticfiles db.sqlite3 db.sqlite3-*
