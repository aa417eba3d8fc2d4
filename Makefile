# swaplab: `make demo`, `make test`, `make bench` set up .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench compiled lint clean venv

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/swaplab demo

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 tests

# The production build of the hot modules (mypyc, debug checks compiled out);
# `swaplab bench` measures cycles_per_s_checks_off on it when it exists.
COMPILED_STAMP := build/compiled/.built
HOT_SOURCES := $(wildcard swaplab/mm/*.py swaplab/kernel/*.py swaplab/include/linux/*.py swaplab/check/findings.py)

compiled: $(COMPILED_STAMP)

$(COMPILED_STAMP): $(STAMP) $(HOT_SOURCES) tools/build_compiled.py
	$(BIN)/pip install --quiet -e '.[compiled]'
	$(BIN)/python tools/build_compiled.py
	touch $(COMPILED_STAMP)

bench: $(STAMP) $(COMPILED_STAMP)
	$(BIN)/swaplab bench --json

lint: $(STAMP)
	$(BIN)/pip install --quiet ruff mypy
	$(BIN)/ruff check swaplab tests

clean:
	rm -rf $(VENV) build *.egg-info
