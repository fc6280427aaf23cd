# Two commands do everything on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DIR ?= build/demo

.PHONY: install demo test lint typecheck unit bench golden clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	# Generated projects run bandit on the vendored code in their first CI stage: hold it here.
	$(BIN)/bandit -q -r components offline policies stacks -ll

typecheck: $(STAMP)
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/pytest -n auto

demo: $(STAMP)
	$(BIN)/python scripts/demo.py --out $(DEMO_DIR)

bench: $(STAMP)
	$(BIN)/python benchmarks/bench.py

# Regenerate tests/golden/ after an intended change to the template's output (review the diff).
golden: $(STAMP)
	$(BIN)/python scripts/golden.py

clean:
	rm -rf $(VENV) build .mypy_cache .pytest_cache .ruff_cache
