# Forest Carbon Ledger -- developer entry points.
#
#   make test    create .venv if missing, install with test extras, ruff check, pytest
#   make run     install, initialise devnet/node0 once, start the node on 127.0.0.1:26657
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
DEV_HOME    := $(DEVNET)/node0
DEV_PASS    := $(DEVNET)/passphrase
DEV_PORT    := 26657
DEV_URL     := http://127.0.0.1:$(DEV_PORT)
HELLO_SHA256 := 2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824

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

# pytest exits 5 when it collects no tests; make fails on any non-zero exit.
test: lint
	$(VENV)/bin/pytest $(PYTEST_ARGS)

test-all:
	$(MAKE) test PYTEST_ARGS=

$(DEV_PASS): | $(PY)
	@mkdir -p $(DEVNET)
	@umask 077 && $(PY) -c 'import secrets; print(secrets.token_urlsafe(24))' > $@
	@chmod 600 $@
	@echo "created $@ (mode 0600): a development convenience only; operators use"
	@echo "FCL_PASSPHRASE or the interactive prompt (docs/node.md)"

run: $(STAMP_RUN) $(DEV_PASS)
	@if [ ! -f $(DEV_HOME)/config.json ]; then \
		$(FCL) node init --home $(DEV_HOME) --rpc-port $(DEV_PORT) \
			--passphrase-file $(DEV_PASS) || exit 1; \
	fi
	@echo
	@echo "node RPC: $(DEV_URL)   (status: curl $(DEV_URL)/v1/status)"
	@echo "try, in another shell:"
	@printf '%s\n' \
	  '  $(FCL) tx sign --keystore $(DEV_HOME)/wallet --key regulator \' \
	  '      --passphrase-file $(DEV_PASS) --chain-id fcl-devnet --contract notary --method record \' \
	  '      --args "{\"name\": \"hello-$$(date +%s)\", \"sha256\": \"$(HELLO_SHA256)\"}" \' \
	  '    | $(FCL) tx send - --node $(DEV_URL) --wait'
	@echo
	exec $(FCL) node start --home $(DEV_HOME) --passphrase-file $(DEV_PASS)

bench: $(STAMP_RUN)
	$(PY) bench/bench_signatures.py
	$(PY) bench/bench_merkle.py
	$(PY) bench/bench_pipeline.py

clean-devnet:
	rm -rf $(DEVNET)
