"""Find and stop a server's whole process tree with psutil (Linux, macOS; no /proc needed).

A server is started as the leader of its own session, so its session id is its pid. vLLM forks an
engine core and workers; if the leader dies first (kill -9), those are re-parented away from it but
keep the session id, so they are still found. The leader's start time guards against a recycled pid.
"""
from __future__ import annotations

import os
import time

import psutil

START_TIME_SLACK = 1.0  # seconds; create_time is rounded differently across platforms
KILL_WAIT = 10.0


def leader(pid: int, create_time: float | None) -> psutil.Process | None:
    """The recorded process if it still runs (not a zombie) and is the one that was started."""
    try:
        process = psutil.Process(pid)
        if create_time and abs(process.create_time() - create_time) > START_TIME_SLACK:
            return None  # the pid now belongs to another process
        if process.status() == psutil.STATUS_ZOMBIE:
            _reap(process)
            return None
        return process
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def start_time(pid: int) -> float | None:
    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


def tree(pid: int, create_time: float | None) -> list[psutil.Process]:
    """The leader, its descendants and every other live member of its session."""
    found: dict[int, psutil.Process] = {}
    head = leader(pid, create_time)
    if head is not None:
        found[head.pid] = head
        for child in _children(head):
            found[child.pid] = child
    if create_time and _same_start(pid, create_time) is not False:
        for process in psutil.process_iter(["create_time"]):
            if process.pid in found or process.info["create_time"] is None:
                continue
            if process.info["create_time"] + START_TIME_SLACK < create_time:
                continue
            try:
                if os.getsid(process.pid) == pid:
                    found[process.pid] = process
            except OSError:
                continue
    return [p for p in found.values() if _live(p)]


def stop_tree(pid: int, create_time: float | None, timeout: float = 30.0) -> bool:
    """SIGTERM to the whole tree, wait up to `timeout`, SIGKILL what is left, wait a bounded time.

    True if anything of the tree was running. Raises RuntimeError naming survivors, if any."""
    processes = tree(pid, create_time)
    if not processes:
        return False
    for process in processes:
        _send(process, psutil.Process.terminate)
    alive = wait_ended(processes, timeout)
    for process in alive:
        _send(process, psutil.Process.kill)
    survivors = [p.pid for p in wait_ended(alive, KILL_WAIT)]
    if survivors:
        raise RuntimeError(f"processes still running after SIGKILL: {survivors}")
    return True


def wait_ended(processes: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Wait until each process has ended — exited, or a zombie its parent has not reaped yet
    (psutil.wait_procs counts a zombie as running: a server started from a notebook kernel, which
    is its parent, made `--stop` wait out both timeouts, 40 s). Returns those still alive."""
    deadline = time.monotonic() + timeout
    while True:
        for process in processes:
            _reap_if_ours(process)
        alive = [p for p in processes if _live(p)]
        if not alive or time.monotonic() >= deadline:
            return alive
        time.sleep(0.05)


def _reap_if_ours(process: psutil.Process) -> None:
    """Collect our own child once it has exited (a no-op while it runs)."""
    try:
        if process.ppid() == os.getpid() and process.status() == psutil.STATUS_ZOMBIE:
            _reap(process)
    except psutil.Error:
        pass


def _children(process: psutil.Process) -> list[psutil.Process]:
    try:
        return process.children(recursive=True)
    except psutil.Error:
        return []


def _same_start(pid: int, create_time: float) -> bool | None:
    """Whether `pid` is still the process started then (zombie or not); None if the pid is free,
    in which case a session its dead leader left behind can still be found by its id."""
    try:
        return abs(psutil.Process(pid).create_time() - create_time) <= START_TIME_SLACK
    except psutil.NoSuchProcess:
        return None
    except psutil.Error:
        return False


def _live(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _send(process: psutil.Process, action) -> None:
    try:
        action(process)
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        pass


def _reap(process: psutil.Process) -> None:
    """Collect a zombie child of ours (a no-op for anyone else's)."""
    try:
        process.wait(timeout=0)
    except (psutil.Error, ChildProcessError):
        pass
