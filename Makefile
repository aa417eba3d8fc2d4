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

# The compiled builds (mypyc; tools/build_compiled.py).  Each is a copy of
# the whole source tree with some modules compiled, so each depends on all of it.
# build/compiled: the production build, debug checks compiled out (python -O);
#   `swaplab bench` measures cycles_per_s_checks_off on it.
# build/compiled-checks: every check on, the lock API compiled;
#   `swaplab bench` measures cycles_per_s_checks_on on it (and on the source).
COMPILED_STAMP := build/compiled/.built
CHECKS_STAMP := build/compiled-checks/.built
ALL_SOURCES := $(shell find swaplab -name '*.py')

compiled: $(COMPILED_STAMP) $(CHECKS_STAMP)

$(COMPILED_STAMP): $(STAMP) $(ALL_SOURCES) tools/build_compiled.py
	$(BIN)/pip install --quiet -e '.[compiled]'
	$(BIN)/python tools/build_compiled.py
	touch $(COMPILED_STAMP)

$(CHECKS_STAMP): $(STAMP) $(ALL_SOURCES) tools/build_compiled.py
	$(BIN)/pip install --quiet -e '.[compiled]'
	$(BIN)/python tools/build_compiled.py --checks
	touch $(CHECKS_STAMP)

bench: $(STAMP) $(COMPILED_STAMP) $(CHECKS_STAMP)
	$(BIN)/swaplab bench --json

lint: $(STAMP)
	$(BIN)/pip install --quiet ruff mypy
	$(BIN)/ruff check swaplab tests

clean:
	rm -rf $(VENV) build *.egg-info
