"""The engine lock: a waiter says who holds it and for how long (again while it waits), and sees
when the process the lock file names has ended while a process that inherited the lock holds it."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from collectkit.serve import engine_lock

HOLDER = """
import os, sys, time
from collectkit.serve.engine_lock import engines_exclusively
with engines_exclusively({who!r}, announce=lambda line: None):
    if {fork}:
        child = os.fork()
        if child == 0:
            time.sleep(60)
            os._exit(0)
        print(child, flush=True)
        os._exit(0)  # this process ends; the forked child keeps the lock
    print(os.getpid(), flush=True)
    sys.stdin.readline()
"""


def hold(who: str, fork: bool = False) -> tuple[subprocess.Popen, int]:
    holder = subprocess.Popen([sys.executable, "-c", HOLDER.format(who=who, fork=fork)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    return holder, int(holder.stdout.readline())


def wait_in_thread(lines: list[str]) -> threading.Thread:
    def take():
        with engine_lock.engines_exclusively("the waiter", announce=lines.append):
            lines.append("acquired")

    thread = threading.Thread(target=take, daemon=True)
    thread.start()
    return thread


def until(condition, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)
    return condition()


@pytest.fixture(autouse=True)
def own_lock(tmp_path, monkeypatch):
    monkeypatch.setenv("COLLECTKIT_ENGINE_LOCK", str(tmp_path / "engines.lock"))
    monkeypatch.delenv(engine_lock.HELD_VAR, raising=False)
    monkeypatch.setattr(engine_lock, "REMIND_S", 1.0)


def test_waiter_names_the_holder_and_how_long_it_has_held_the_lock():
    holder, pid = hold("benchmark bench_x.py")
    lines: list[str] = []
    try:
        time.sleep(1.1)
        thread = wait_in_thread(lines)
        assert until(lambda: len(lines) >= 2), lines  # the first line, then a reminder
        assert lines[0].startswith(f"waiting for benchmark bench_x.py (pid {pid}, holding it for ")
        assert "to finish with its inference engine" in lines[0]
        assert lines[1].startswith("still waiting (1 s) for benchmark bench_x.py")
        assert "acquired" not in lines
    finally:
        holder.communicate("\n", timeout=10)
    thread.join(10)
    assert lines[-1] == "acquired"


def test_waiter_sees_that_the_named_holder_has_ended():
    holder, child = hold("pytest", fork=True)
    holder.wait(10)  # the process the lock file names is gone
    lines: list[str] = []
    try:
        thread = wait_in_thread(lines)
        assert until(lambda: lines), lines
        assert f"pytest (pid {holder.pid}, which has ended" in lines[0], lines[0]
        assert f"still held by pid {child} " in lines[0], lines[0]
    finally:
        os.kill(child, signal.SIGKILL)
    thread.join(10)
    assert lines[-1] == "acquired"
