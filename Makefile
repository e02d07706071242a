# Prism Console: `make run` and `make test` do all the set-up on a fresh clone.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
VENDOR := static/vendor

.PHONY: run test check imports lint format typecheck bench fuzz deps assets system-deps clean

run: deps assets
	$(BIN)/prism db upgrade
	$(BIN)/prism db seed --if-empty
	$(BIN)/prism serve --host $(HOST) --port $(PORT) --announce

test: deps assets system-deps check
	$(BIN)/python -m pytest -n 2 --dist loadgroup

# Debian packages the tests drive: Chromium for the browser tests (Playwright's own browser
# download does not work here), PgBouncer for tests/pgbouncer/. Installed with apt-get when run as root; otherwise those
# tests skip loudly (and fail under CI=true).
SYSTEM_PACKAGES := chromium pgbouncer
system-deps:
	@missing=""; for pkg in $(SYSTEM_PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$pkg 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$pkg"; \
	done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing Debian packages the tests need:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	else \
		echo "not root or no apt-get: tests needing$$missing will skip (install them by hand)"; \
	fi

check: deps lint typecheck imports

imports: deps
	$(BIN)/lint-imports

lint: deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: deps
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: deps
	$(BIN)/mypy

# The read benchmark drives the server with wrk (Debian's package) when it is installed:
# a Python client cannot read 157 KB answers as fast as the server writes them.
bench: deps assets
	@command -v wrk >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null 2>&1; } || \
		echo "wrk not installed: the read benchmark falls back to a Python client; the single-sample ingest benchmark is skipped"
	$(BIN)/python -m bench

# A longer API fuzzing campaign than the one `make test` runs, with a new seed each time
# (printed in the header; `make fuzz FUZZ_SEED=N` replays a campaign).
FUZZ_EXAMPLES ?= 200
FUZZ_SEED ?= $(shell date +%s)
fuzz: deps
	PRISM_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) PRISM_FUZZ_SEED=$(FUZZ_SEED) \
		$(BIN)/python -m pytest tests/fuzz -m fuzz -n 2

deps: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[dev]'
	touch $@

assets: $(VENDOR)/.installed

# npm installs the pinned front-end libraries; only the files the pages load are copied to
# static/vendor (ignored by git, like node_modules).
$(VENDOR)/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	mkdir -p $(VENDOR)/swagger-ui $(VENDOR)/redoc
	cp node_modules/htmx.org/dist/htmx.min.js $(VENDOR)/htmx.min.js
	cp node_modules/idiomorph/dist/idiomorph-ext.min.js $(VENDOR)/idiomorph-ext.min.js
	cp node_modules/uplot/dist/uPlot.iife.min.js $(VENDOR)/uPlot.iife.min.js
	cp node_modules/uplot/dist/uPlot.min.css $(VENDOR)/uPlot.min.css
	cp node_modules/swagger-ui-dist/swagger-ui-bundle.js node_modules/swagger-ui-dist/swagger-ui.css $(VENDOR)/swagger-ui/
	cp node_modules/redoc/bundles/redoc.standalone.js $(VENDOR)/redoc/
	touch $@

clean:
	rm -rf $(VENV) node_modules $(VENDOR) .pytest_cache .mypy_cache .ruff_cache .hypothesis
