"""Folders that are not the kit's, through the real CLIs (`python -m collectkit export / explore /
run`): the kit never deletes or replaces what it did not write, never writes through a link
that leads out of the folder, and an interrupted re-export leaves the previous export whole."""
from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from collection_support import REPO, run_cli
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "training_data"))
from test_export import response, row

ENV = {**os.environ, "PYTHONPATH": str(REPO)}


def processed(tmp_path: Path, name: str = "r.processed.jsonl", problems: int = 1,
              k: int = 2, text: str = "a") -> Path:
    path = tmp_path / name
    path.write_text("".join(json.dumps(row([response(f"{text}{i}-{j}", j % 2 == 0)
                                            for j in range(k)], unique_id=f"p{i}")) + "\n"
                            for i in range(problems)))
    return path


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "collectkit", *args], capture_output=True,
                          text=True, cwd=cwd, env=ENV, timeout=180)


def snapshot(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def one_line(done: subprocess.CompletedProcess, code: int = 2) -> str:
    assert done.returncode == code, (done.stdout, done.stderr)
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
    return done.stderr


# ---------------------------------------------------------------------------------- export

def test_export_never_replaces_a_folder_or_readme_it_did_not_write(tmp_path):
    source = processed(tmp_path)
    out = tmp_path / "out"
    (out / "pairs").mkdir(parents=True)
    (out / "pairs" / "mine.txt").write_text("the user's own work\n")
    (out / "README.md").write_text("# My project\n")
    before = snapshot(out)
    error = one_line(cli("export", str(source), "--format", "pairs", "--out", str(out),
                         cwd=tmp_path))
    assert "was not written by collectkit export" in error
    assert snapshot(out) == before and sorted(p.name for p in out.iterdir()) == [
        "README.md", "pairs"]
    (out / "pairs" / "mine.txt").unlink()
    (out / "pairs").rmdir()
    one_line(cli("export", str(source), "--format", "pairs", "--out", str(out), cwd=tmp_path))
    assert (out / "README.md").read_text() == "# My project\n"  # the README alone stops it


def test_export_replaces_its_own_export_and_keeps_the_users_files(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / ".env").write_text("HF_TOKEN=hf_x\n")
    assert cli("export", str(processed(tmp_path)), "--out", str(out), cwd=tmp_path).returncode == 0
    again = cli("export", str(processed(tmp_path, text="b")), "--format", "pairs", "--out",
                str(out), cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert (out / ".env").read_text() == "HF_TOKEN=hf_x\n"
    assert "b0-0" in (out / "pairs.parquet").read_bytes().decode(errors="replace")
    assert not [p for p in out.iterdir() if p.name.startswith(".collectkit-export-")]


def test_an_export_made_before_the_record_is_still_the_kits(tmp_path):
    out = tmp_path / "out"
    assert cli("export", str(processed(tmp_path)), "--out", str(out), cwd=tmp_path).returncode == 0
    (out / ".collectkit-export.json").unlink()  # as an older kit left it: only its card says
    again = cli("export", str(processed(tmp_path)), "--out", str(out), cwd=tmp_path)
    assert again.returncode == 0, again.stderr


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_an_interrupted_re_export_leaves_the_previous_export_whole(tmp_path, stop):
    out = tmp_path / "out"
    assert cli("export", str(processed(tmp_path)), "--out", str(out), cwd=tmp_path).returncode == 0
    before = snapshot(out)
    big = processed(tmp_path, "big.processed.jsonl", problems=1500, k=8, text="new")
    process = subprocess.Popen([sys.executable, "-m", "collectkit", "export", str(big),
                                "--out", str(out)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, cwd=tmp_path, env=ENV)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        staging = [p for p in out.iterdir() if p.name.startswith(".collectkit-export-")]
        if staging or snapshot(out) != before:  # writing has begun (in place on the old code)
            break
        time.sleep(0.01)
    process.send_signal(stop)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 128 + stop, stderr
    assert "previous export, unchanged" in stderr and stderr.count("\n") == 1
    assert snapshot(out) == before
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".collectkit")) == [
        ".collectkit-export.json"]


def test_export_refuses_a_link_that_leads_out_of_its_folder(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    (out / "pairs.parquet").symlink_to(elsewhere / "planted.parquet")  # dangling
    error = one_line(cli("export", str(processed(tmp_path)), "--format", "pairs", "--out",
                         str(out), cwd=tmp_path))
    assert "is a link leading out of its folder" in error
    assert list(elsewhere.iterdir()) == []
    assert sorted(p.name for p in out.iterdir()) == ["pairs.parquet"]


# --------------------------------------------------------------------------------- explore

def test_explore_html_replaces_only_an_explorer_page_it_wrote(tmp_path):
    source = processed(tmp_path)
    notebook = tmp_path / "analysis.ipynb"
    notebook.write_text('{"cells": []}\n')
    notes = tmp_path / "notes.md"
    notes.write_text("# notes\n")
    page = tmp_path / "page.html"
    page.write_text("<html>my own page</html>\n")
    for target in (notebook, notes, page):
        error = one_line(cli("explore", str(source), "--html", str(target), cwd=tmp_path))
        assert ("give an .html path" in error if target.suffix != ".html"
                else "is not an explorer page the kit wrote" in error)
    assert notebook.read_text() == '{"cells": []}\n' and notes.read_text() == "# notes\n"
    assert page.read_text() == "<html>my own page</html>\n"
    ours = tmp_path / "explorer.html"
    for _ in range(2):  # its own page it replaces
        assert cli("explore", str(source), "--html", str(ours), cwd=tmp_path).returncode == 0


def test_explore_html_refuses_a_link_that_leads_out_of_its_folder(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    site = tmp_path / "site"
    site.mkdir()
    (site / "explorer.html").symlink_to(elsewhere / "planted.html")
    error = one_line(cli("explore", str(processed(tmp_path)), "--html",
                         str(site / "explorer.html"), cwd=tmp_path))
    assert "link leading out of its folder" in error and list(elsewhere.iterdir()) == []


# ------------------------------------------------------------------------------------- run

@pytest.mark.parametrize("planted", ["r.manifest.json", "r.errors.jsonl", "r.jsonl"])
def test_run_refuses_a_planted_link_leading_out_of_its_folder(stub, tmp_path, planted):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / planted).symlink_to(elsewhere / "created-outside")
    done = run_cli(stub, "--output_file", str(runs / "r.jsonl"), cwd=tmp_path)
    error = one_line(done)
    assert "is a link leading out of its folder" in error and planted in error
    assert list(elsewhere.iterdir()) == []
    assert sorted(p.name for p in runs.iterdir()) == [planted]
