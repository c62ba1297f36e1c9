"""One inference engine at a time on a small machine.

llama.cpp's threads spin while they wait, so two engines on 2 cores run ~10x slower than one.
Tests, benchmarks and the demo take this advisory lock (a `flock` on a file in the temp folder,
or `COLLECTKIT_ENGINE_LOCK`) before they start engines, and wait for each other. Child processes
inherit `COLLECTKIT_ENGINE_LOCK_HELD` and do not ask again (a notebook kernel under the demo).
"""
from __future__ import annotations

import fcntl
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

HELD_VAR = "COLLECTKIT_ENGINE_LOCK_HELD"


def lock_path() -> Path:
    return Path(os.environ.get("COLLECTKIT_ENGINE_LOCK")
                or Path(tempfile.gettempdir()) / "collectkit-engines.lock")


@contextmanager
def engines_exclusively(who: str, announce: Callable[[str], None] = print) -> Iterator[None]:
    """Hold the engine lock for the block; says once whom it waits for when another holds it."""
    if os.environ.get(HELD_VAR):
        yield
        return
    path = lock_path()
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(descriptor, 200, 0).decode(errors="replace").strip() or "another process"
            announce(f"waiting for {holder} to finish with its inference engine (lock {path})")
            fcntl.flock(descriptor, fcntl.LOCK_EX)
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, f"{who} (pid {os.getpid()})".encode(), 0)
        os.environ[HELD_VAR] = str(os.getpid())
        yield
    finally:
        os.environ.pop(HELD_VAR, None)
        os.close(descriptor)  # releases the lock
