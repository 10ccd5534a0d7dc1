# Two entry points on a fresh machine with only python3 (and make):
#   make demo   the gateway with demo data on the embedded defaults (SQLite, in-process workers)
#   make test   the whole test suite (SQLite and PostgreSQL)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
STANDARDS_FROM ?= ../shared/standards

.PHONY: demo test bench setup standards browser pdflibs clean screenshots

$(STAMP): pyproject.toml | pdflibs
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

setup: $(STAMP) standards browser

# Pango (and a font) for WeasyPrint's PDF letters; Debian packages, installed when missing and root.
pdflibs:
	@if ! ldconfig -p | grep -q libpangoft2-1.0.so.0 && [ "$$(id -u)" = 0 ]; then apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core; fi

# Debian's Chromium for the browser tests (tests/web); Playwright drives it by path, never downloads one.
browser:
	@if [ ! -x /usr/bin/chromium ] && [ "$$(id -u)" = 0 ]; then apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; fi

standards: $(STAMP)
	$(BIN)/gateway standards install $(if $(wildcard $(STANDARDS_FROM)),--from $(STANDARDS_FROM),)

demo: $(STAMP) standards
	$(BIN)/gateway demo

test: setup
	$(BIN)/python -m pytest -n 2 $(PYTEST_ARGS)

# The browser tests save screenshots in var/screenshots/ on every run; this also refreshes the README's
# copies in tests/web/screenshots/ (commit them by hand).
screenshots: setup
	GATEWAY_UPDATE_SCREENSHOTS=1 $(BIN)/python -m pytest -n 0 -q tests/web/test_browser.py tests/web/test_escalations_browser.py tests/web/test_consumer_browser.py

bench: $(STAMP) standards
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) var/*.sqlite* var/standards
