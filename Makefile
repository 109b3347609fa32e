# The README's two commands: `make demo` (set up + main job) and `make test` (set up + tests).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DATADIR ?=
# Real candles for `make data` (needs internet): BTC-quoted, like config.backtest.json.
DATA_PAIRS ?= ETH/BTC SOL/BTC XRP/BTC ADA/BTC LTC/BTC DOGE/BTC LINK/BTC
DATA_DAYS ?= 60

.PHONY: demo test lint data benchmarks bench cov strategies-report clean-venv help mutation

help:
	@echo "make demo    - set up .venv and run an offline backtest of MaCrossoverStrategy"
	@echo "make test    - set up .venv with dev tools; ruff, ruff format --check, mypy, pytest"
	@echo "make data    - download real candles with freqtrade download-data (internet)"
	@echo "make benchmarks - run the benchmark scripts (they print ratios); make bench is the same"
	@echo "make cov     - the test suite with a branch coverage report (terminal + htmlcov/)"
	@echo "make mutation [MODULES='app/risk/rules/ ...'] - Cosmic Ray on the risk code (docs/MUTATION.md)"

$(BIN)/python:
	$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is required")'
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@ $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/tradingbot demo $(if $(DATADIR),--datadir "$(DATADIR)",)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	$(BIN)/pytest

data: $(VENV)/.installed
	$(BIN)/tradingbot freqtrade download-data -c user_data/configs/config.backtest.json \
		--pairs $(DATA_PAIRS) --timeframes 5m 1h --days $(DATA_DAYS)

benchmarks: $(VENV)/.installed-dev
	@for script in benchmarks/bench_*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

bench: benchmarks

# Branch coverage of app/ over the whole suite; not part of `make test` (it is slower).
cov: $(VENV)/.installed-dev
	$(BIN)/pytest --cov=app --cov-branch --cov-report=term-missing:skip-covered --cov-report=html

# Mutation testing (docs/MUTATION.md): one Cosmic Ray session per module, outside `make test`.
MODULES ?=
$(VENV)/.installed-mutation: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev,mutation]"
	touch $@ $(VENV)/.installed-dev $(VENV)/.installed

mutation: $(VENV)/.installed-mutation
	$(BIN)/python -m mutation run $(MODULES)

strategies-report: $(VENV)/.installed
	$(BIN)/tradingbot report strategies

clean-venv:
	rm -rf $(VENV)
