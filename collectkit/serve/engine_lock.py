"""One inference engine at a time on a small machine.

llama.cpp's threads spin while they wait, so two engines on 2 cores run ~10x slower than one.
Tests, benchmarks and the demo take this advisory lock (a `flock` on a file in the temp folder,
or `COLLECTKIT_ENGINE_LOCK`) before they start engines, and wait for each other. Child processes
inherit `COLLECTKIT_ENGINE_LOCK_HELD` and do not ask again (a notebook kernel under the demo).

The lock file names its holder and since when (`who (pid N) since EPOCH`). A waiter says whom it
waits for and for how long the lock has been held, again every `REMIND_S`; when the named process
has ended while the lock is still held (a forked child kept the open file), it says so and names
the processes that still hold the file open.
"""
from __future__ import annotations

import fcntl
import os
import re
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import psutil

from collectkit.store.redact import redact_command, shorten

HELD_VAR = "COLLECTKIT_ENGINE_LOCK_HELD"
REMIND_S = 60.0  # a waiter repeats whom it waits for this often
_RECORD = re.compile(r"^(?P<who>.*) \(pid (?P<pid>\d+)\)(?: since (?P<since>[\d.]+))?$")


def lock_path() -> Path:
    return Path(os.environ.get("COLLECTKIT_ENGINE_LOCK")
                or Path(tempfile.gettempdir()) / "collectkit-engines.lock")


def holder_line(record: str, path: Path, now: float | None = None) -> str:
    """Who holds the lock, for how long, and whether that process still exists."""
    match = _RECORD.match(record.strip())
    if not match:
        return f"{record.strip() or 'another process'} (lock {path})"
    pid, held = int(match["pid"]), ""
    if match["since"]:
        held = f", holding it for {_duration((now or time.time()) - float(match['since']))}"
    if psutil.pid_exists(pid):
        return f"{match['who']} (pid {pid}{held}; lock {path})"
    keeping = ", ".join(f"pid {p.pid} {_name(p)}" for p in _openers(path)) or "unknown processes"
    return (f"{match['who']} (pid {pid}, which has ended{held}; the lock is still held by "
            f"{keeping}, which inherited it; lock {path})")


@contextmanager
def engines_exclusively(who: str, announce: Callable[[str], None] = print) -> Iterator[None]:
    """Hold the engine lock for the block; says whom it waits for when another holds it."""
    if os.environ.get(HELD_VAR):
        yield
        return
    path = lock_path()
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        _acquire(descriptor, path, announce)
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, f"{who} (pid {os.getpid()}) since {time.time():.0f}".encode(), 0)
        os.environ[HELD_VAR] = str(os.getpid())
        yield
    finally:
        os.environ.pop(HELD_VAR, None)
        os.close(descriptor)  # releases the lock


def _acquire(descriptor: int, path: Path, announce: Callable[[str], None]) -> None:
    """Take the lock, saying whom it waits for (and again every REMIND_S). The wait itself is a
    blocking flock in a helper thread (the lock belongs to the open file, not the thread), so the
    kernel hands the lock over in turn; polling with LOCK_NB lost it to blocking waiters."""
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return
    except BlockingIOError:
        pass
    taken, failed = threading.Event(), []

    def take() -> None:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
        except OSError as exc:
            failed.append(exc)
        finally:
            taken.set()

    started = time.monotonic()
    threading.Thread(target=take, name="collectkit-engine-lock", daemon=True).start()
    prefix = "waiting for"
    while True:
        record = os.pread(descriptor, 300, 0).decode(errors="replace")
        announce(f"{prefix} {holder_line(record, path)} to finish with its inference engine")
        if taken.wait(REMIND_S):
            break
        prefix = f"still waiting ({_duration(time.monotonic() - started)}) for"
    if failed:
        raise failed[0]


def _openers(path: Path) -> list[psutil.Process]:
    """Live processes that have `path` open (those that can hold its flock)."""
    target, found = str(path.resolve()), []
    for process in psutil.process_iter():
        try:
            if any(f.path == target for f in process.open_files()):
                found.append(process)
        except psutil.Error:
            continue
    return [p for p in found if p.pid != os.getpid()]


def _name(process: psutil.Process) -> str:
    try:
        return f"({shorten(redact_command(process.cmdline()), 80)})"
    except psutil.Error:
        return ""


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60} min {seconds % 60} s" if seconds >= 60 else f"{seconds} s"
