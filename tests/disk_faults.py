"""Disks that refuse, for tests that run a CLI as a child process (also as root, where permission
bits stop nothing):

- `in_mount_namespace(script)`: argv running `script` (sh) in a new user + mount namespace
  (`unshare -rm`), where it may mount a small tmpfs (a real ENOSPC) or remount a folder read-only
  (a real EROFS); `"$@"` in the script is the command appended after it.
- `mount_namespaces_work()`: whether that is allowed here (else such a test skips).
- `limit_file_size(limit)`: a preexec_fn giving the child RLIMIT_FSIZE `limit` with SIGXFSZ
  ignored, so a write past it fails with EFBIG ("File too large") as a full disk's write fails.
"""
from __future__ import annotations

import resource
import shutil
import signal
import subprocess


def in_mount_namespace(script: str) -> list[str]:
    return ["unshare", "-rm", "sh", "-c", script]


def mount_namespaces_work() -> bool:
    if not shutil.which("unshare"):
        return False
    return subprocess.run(in_mount_namespace("mount -t tmpfs tmpfs /mnt"),
                          capture_output=True).returncode == 0


def limit_file_size(limit: int):
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply
