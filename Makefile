# Forest Carbon Ledger -- developer entry points.
#
#   make test    create .venv if missing, install with test extras, ruff, mypy, pytest
#   make run     install, then `fcl devnet`: a 4-validator network on 127.0.0.1 with the sample
#                lifecycle and the explorer (data in ./devnet; a second run resumes it)
#   make bench   the benchmarks in bench/ (figures: docs/performance.md)
#
# Only python3.11 (or python3), pip and make are needed. The install is skipped while
# pyproject.toml is older than the stamp file in .venv.

PYTHON      ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV        := .venv
PY          := $(VENV)/bin/python
FCL         := $(VENV)/bin/fcl
STAMP_TEST  := $(VENV)/.installed-test
STAMP_RUN   := $(VENV)/.installed-run
PYTEST_ARGS ?=

DEVNET      := devnet
DEV_PORT    := 26657

.PHONY: test test-all lint run bench clean-devnet

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP_TEST): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test]'
	@touch $@

$(STAMP_RUN): pyproject.toml | $(PY)
	@if [ -f $(STAMP_TEST) ] && [ $(STAMP_TEST) -nt pyproject.toml ]; then \
		true; \
	else \
		$(PY) -m pip install --quiet --disable-pip-version-check -e . ; \
	fi
	@touch $@

lint: $(STAMP_TEST)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

# pytest exits 5 when it collects no tests; make fails on any non-zero exit.
test: lint
	bash scripts/install-browser.sh
	$(VENV)/bin/pytest $(PYTEST_ARGS)

test-all:
	$(MAKE) test PYTEST_ARGS=

run: $(STAMP_RUN)
	exec $(FCL) devnet --data $(DEVNET) --base-port $(DEV_PORT)

bench: $(STAMP_RUN)
	$(PY) -m bench.bench_signatures
	$(PY) -m bench.bench_merkle
	$(PY) -m bench.bench_encoding
	$(PY) -m bench.bench_pipeline
	$(PY) -m bench.bench_ranges
	$(PY) -m bench.bench_state_tree --sizes 10000,100000
	$(PY) -m bench.bench_scale --sizes 10000,100000

clean-devnet:
	rm -rf $(DEVNET)
