# The two commands a newcomer needs: `make demo` and `make test`.
# Both create or refresh .venv at the repository root themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit bench venv clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m inmesh demo

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples

typecheck: $(STAMP)
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/pytest -q

bench: $(STAMP)
	$(BIN)/python benchmarks/overhead.py
	$(BIN)/python benchmarks/overhead.py --sync
	$(BIN)/python benchmarks/failover.py --quick
	$(BIN)/python benchmarks/tail_latency.py --quick
	$(BIN)/python benchmarks/mtls.py --quick
	$(BIN)/python benchmarks/footprint.py
	$(BIN)/python benchmarks/metrics.py
	$(BIN)/python benchmarks/tracing.py --quick
	$(BIN)/python benchmarks/authz.py
	$(BIN)/python benchmarks/inbound.py --quick
	$(BIN)/python benchmarks/rotation.py --quick
	$(BIN)/python benchmarks/testing.py --quick
	$(BIN)/python benchmarks/exchange.py
	$(BIN)/python benchmarks/access_log.py
	$(BIN)/python benchmarks/scale.py --quick
	$(BIN)/python benchmarks/scale_config.py --quick

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
