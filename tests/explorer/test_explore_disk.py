"""Issue 28 item 6 (the HTML part): `collectkit explore --html` on a disk that refuses is one
line and exit 2, never a traceback, and leaves nothing behind (was: store.StoreError's traceback).
Through the real CLI, also as root (where chmod stops nothing):

- full: a real ENOSPC (a 8 KiB tmpfs over the folder, in a mount namespace), and RLIMIT_FSIZE
  in the child (EFBIG: the same failed write, where namespaces are not allowed);
- read-only: a read-only bind mount (EROFS) as root, chmod 0555 otherwise;
- a folder that cannot be made (its parent is a file);
- a target that is not a regular file (a FIFO standing for /dev/full, a folder): refused and left
  as it was (the atomic rename used to replace a device node when run as root).
"""
from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest

from disk_faults import in_mount_namespace, limit_file_size, mount_namespaces_work
from explore_hostile import hostile_runs
from explore_support import REPO


def explore_command(source, out) -> list[str]:
    return [sys.executable, "-m", "collectkit", "explore", str(source), "--html", str(out)]


def one_line_error(done) -> str:
    error = done.stderr.strip()
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr and error.count("\n") == 0, done.stderr
    return error


def run(command, **kwargs):
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120,
                          **kwargs)


@pytest.fixture()
def source(tmp_path):
    return hostile_runs(tmp_path / "runs", problems=3)[0]  # a page of ~30 KB


@pytest.mark.parametrize("mechanism", ["tmpfs_full", "rlimit_fsize"])
def test_a_full_disk_is_one_line_and_leaves_nothing(source, tmp_path, mechanism):
    folder = tmp_path / "small"
    folder.mkdir()
    out = folder / "explorer.html"
    command = explore_command(source, out)
    if mechanism == "rlimit_fsize":
        done = run(command, preexec_fn=limit_file_size(8 * 1024))
        cause, left = "File too large", sorted(os.listdir(folder))
    else:
        if not mount_namespaces_work():
            pytest.skip("no mount namespaces here (unshare -rm); rlimit_fsize covers the path")
        listing = tmp_path / "listing"
        script = (f'mount -t tmpfs -o size=8k tmpfs {folder} && "$@"; code=$?; '
                  f"ls -A {folder} > {listing}; exit $code")
        done = run(in_mount_namespace(script) + ["sh", *command])
        cause, left = "No space left on device", listing.read_text().split()
    error = one_line_error(done)
    assert error == f"error: cannot write {out}: {cause}"
    assert left == []  # no page, no temporary file


def test_a_read_only_folder_is_one_line(source, tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    out = folder / "explorer.html"
    command = explore_command(source, out)
    if os.geteuid() == 0:
        if not mount_namespaces_work():
            pytest.skip("running as root without mount namespaces: no way to make it read-only")
        script = (f"mount --bind {folder} {folder} && mount -o remount,ro,bind {folder} && "
                  'exec "$@"')
        done = run(in_mount_namespace(script) + ["sh", *command])
        cause = "Read-only file system"
    else:
        folder.chmod(0o555)
        try:
            done = run(command)
        finally:
            folder.chmod(0o755)
        cause = "Permission denied"
    assert one_line_error(done) == f"error: cannot write {out}: {cause}"
    assert os.listdir(folder) == []


def test_a_folder_that_cannot_be_made_is_one_line(source, tmp_path):
    out = source / "explorer.html"  # under the results file
    error = one_line_error(run(explore_command(source, out)))
    assert error.startswith(f"error: cannot create the folder {source}: ")


@pytest.mark.parametrize("kind", ["fifo", "folder"])
def test_a_target_that_is_not_a_file_is_refused_and_kept(source, tmp_path, kind):
    out = tmp_path / "explorer.html"
    if kind == "fifo":  # stands for /dev/full (a device is not made in a test)
        os.mkfifo(out)
    else:
        out.mkdir()
    error = one_line_error(run(explore_command(source, out)))
    assert error == (f"error: cannot write {out}: it is not a regular file; give an .html "
                     "file path")
    assert (stat.S_ISFIFO if kind == "fifo" else stat.S_ISDIR)(os.lstat(out).st_mode)
    assert sorted(os.listdir(tmp_path)) == ["explorer.html", "runs"]
