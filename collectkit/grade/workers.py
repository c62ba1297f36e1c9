"""Worker processes that never outlive the process that started them.

A pool's workers wait on a pipe their parent holds; when the parent is killed (SIGKILL, or
SIGTERM's default action, which runs no cleanup) nothing tells them, and they would run on. Each
worker therefore (1) asks Linux to SIGKILL it when its parent dies (prctl PR_SET_PDEATHSIG,
through ctypes), and (2) watches its parent's pid from a daemon thread (every platform): when
the parent is gone it exits at once.
"""
from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time

PR_SET_PDEATHSIG = 1
WATCH_INTERVAL_S = 0.5


def die_with_parent(parent_pid: int) -> None:
    """A pool initializer: `ProcessPoolExecutor(initializer=die_with_parent,
    initargs=(os.getpid(),))`."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):
            pass  # the watchdog below still holds
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)
    threading.Thread(target=_watch, args=(parent_pid,), daemon=True,
                     name="collectkit-parent-watch").start()


def _watch(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(WATCH_INTERVAL_S)
    os._exit(1)
