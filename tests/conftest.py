"""Shared setup: an isolated state dir per test, free ports, one real embedded engine per session.

- `_isolated_environment` (autouse): every test gets its own COLLECTKIT_STATE_DIR under tmp_path and
  sees no COLLECTKIT_* variables (nor the env aliases Settings reads), so tests never touch
  ~/.cache/collectkit and never see or stop the user's own servers.
- `free_port()`: a TCP port on 127.0.0.1 that was free a moment ago.
- `embedded_server` (session): the real llama.cpp engine with the embedded SmolLM2 model, started
  once on 127.0.0.1 and stopped by PID at the end of the session. Yields the ServerHandle.
"""
from __future__ import annotations

import os
import socket
from pathlib import Path
from contextlib import contextmanager
from typing import Iterator

import pytest

from collectkit.collect.settings_sources import ENV_ALIASES, ENV_PREFIX

# No network here, and no test may download: the Hugging Face libraries stay offline.
os.environ["HF_HUB_OFFLINE"] = "1"

# Variables Settings.load reads besides COLLECTKIT_*; a developer's shell must not leak into tests.
_ALIAS_VARS = tuple(var for names in ENV_ALIASES.values() for var in names) + ("VLLM_API_KEY",)


def _uses_engine(item) -> bool:
    return item.get_closest_marker("engine") is not None or "embedded_server" in getattr(
        item, "fixturenames", ())


def pytest_configure(config):
    config.addinivalue_line("markers", "engine: starts an inference engine (waits for the engine lock)")
    config.addinivalue_line("markers", "notebook: executes a notebook (papermill or a kernel)")
    config.addinivalue_line("markers", "slow: takes over ~10 s without an engine (a venv, a build)")


# Suites that drive the CLIs as subprocesses against stub servers over real sockets, kill and
# restart them, bootstrap and draw figures, or write whole explorer pages (1-10 s a test, ~4
# minutes together): in `make test`, not in the inner loop.
SLOW_MODULES = {"test_hardening_files", "test_hardening_cli", "test_hardening_server",
                "test_collection", "test_scaling", "test_endpoints", "test_concurrency",
                "test_batch", "test_compare", "test_hostile_files", "test_hostile_server",
                "test_reasoning_flags", "test_explore_html", "test_progress", "test_line_breaks",
                "test_odd_rows", "test_shards"}


def pytest_collection_modifyitems(config, items):
    """A test that uses the embedded engine is an engine test even without the marker, and the
    SLOW_MODULES' tests are slow, so `make test-fast` (-m "not engine and not notebook and not
    slow") leaves them out."""
    for item in items:
        if _uses_engine(item) and item.get_closest_marker("engine") is None:
            item.add_marker(pytest.mark.engine)
        if item.module.__name__.rsplit(".", 1)[-1] in SLOW_MODULES:
            item.add_marker(pytest.mark.slow)


def pytest_collection_finish(session):
    """Tests that start engines wait for other test runs, benchmarks and demos that hold one."""
    if any(_uses_engine(item) for item in session.items):
        from collectkit.serve.engine_lock import engines_exclusively

        session.config._engine_lock = engines_exclusively("pytest", announce=lambda line: print(line))
        session.config._engine_lock.__enter__()


def pytest_unconfigure(config):
    lock = getattr(config, "_engine_lock", None)
    if lock is not None:
        lock.__exit__(None, None, None)


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def pid_gone(pid: int) -> bool:
    """True once the process no longer exists (or is only a zombie waiting to be reaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state == "Z"


def _kit_vars(environ) -> list[str]:
    return [name for name in environ if name.startswith(ENV_PREFIX) or name in _ALIAS_VARS]


@pytest.fixture(autouse=True)
def _isolated_environment(tmp_path, monkeypatch):
    for name in _kit_vars(os.environ):
        monkeypatch.delenv(name, raising=False)
    state = tmp_path / "collectkit-state"
    monkeypatch.setenv("COLLECTKIT_STATE_DIR", str(state))
    return state


@pytest.fixture
def kit_state_dir(_isolated_environment):
    """This test's COLLECTKIT_STATE_DIR (may not exist until a server is recorded)."""
    return _isolated_environment


@contextmanager
def _session_environment(state: str) -> Iterator[None]:
    """os.environ without COLLECTKIT_* and with our state dir, restored afterwards exactly."""
    saved = dict(os.environ)
    try:
        for name in _kit_vars(os.environ):
            del os.environ[name]
        os.environ["COLLECTKIT_STATE_DIR"] = state
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture(scope="session")
def embedded_server(tmp_path_factory):
    """The real embedded engine (llama.cpp + SmolLM2-135M) on 127.0.0.1, shared by the session."""
    from collectkit.serve.server import start_server

    root = tmp_path_factory.mktemp("embedded-server")
    with _session_environment(str(root / "state")):
        handle = start_server(engine="llamacpp", host="127.0.0.1", port=free_port(),
                              n_parallel=4, max_model_len=2048, log_dir=root / "logs")
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture(scope="module")
def shared_stub():
    """One fault stub server per test module (tests/stub_server.py) on 127.0.0.1."""
    from stub_server import StubServer

    with StubServer(completion_tokens=8) as server:
        yield server


@pytest.fixture
def stub(shared_stub):
    """The module's stub with no faults, answering normally, its counters at zero."""
    shared_stub.set_faults([], clear=True)
    shared_stub.set_mode("ok")
    shared_stub.set_models_fault(None)
    shared_stub.reset_stats()
    return shared_stub
