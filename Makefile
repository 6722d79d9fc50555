# sedo: `make run` starts the local stack, `make test` runs every test.
# Each sets up its own virtual environment from the pinned requirements.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt pyproject.toml | cksum | cut -d' ' -f1)
PYTEST_WORKERS ?= 2

.PHONY: help venv run test unit integration lint typecheck bench fuzz clean

help:
	@echo "make run    - start the local stack (moto + API on 127.0.0.1:3000 + processor), Ctrl-C stops it"
	@echo "make test   - lint, type-check and run the whole test suite"
	@echo "make bench  - measure cost, throughput and latency (writes bench/results/latest.json)"
	@echo "make fuzz   - fuzz the REST API with schemathesis from openapi/sedo.yaml (FUZZ_EXAMPLES, FUZZ_SEED)"

$(STAMP):
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "sedo needs Python 3.11+"'
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e . || $(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

venv: $(STAMP)

run: venv
	$(BIN)/sedo local

lint: venv
	$(BIN)/ruff check sedo processor tests bench
	$(BIN)/ruff format --check sedo processor tests bench

typecheck: venv
	$(BIN)/mypy

unit: venv
	$(BIN)/pytest tests/unit -q

test: lint typecheck
	$(BIN)/python -m pytest -p tests.faults.matrix -q -n $(PYTEST_WORKERS) --dist loadfile

bench: venv
	$(BIN)/python -m bench

fuzz: venv
	$(BIN)/python -m tests.fuzz

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis .local
