"""Files that are not what the kit expects, and disks that refuse: one line, exit 2, nothing lost."""
from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from collectkit.store import append as store
from collectkit.cli.extract import main as extraction_main
from collection_support import cli_command, lines, manifest, one_line_error, run_cli
from disk_faults import in_mount_namespace, limit_file_size, mount_namespaces_work




def test_exit_1_on_every_run_while_a_planned_problem_is_unfinished(stub, tmp_path):
    stub.set_mode("500")
    out = tmp_path / "r.jsonl"
    for _ in range(2):  # the second run has nothing left to try: still unfinished
        done = run_cli(stub, "--output_file", str(out), "--max_attempts", "1", cwd=tmp_path)
        assert done.returncode == 1 and "unfinished: 3 problems" in done.stderr
    assert manifest(out)["status"] == "unfinished"
    stub.set_mode("ok")
    done = run_cli(stub, "--output_file", str(out), "--max_attempts", "2", cwd=tmp_path)
    assert done.returncode == 0 and len(lines(out)) == 3


@pytest.mark.parametrize("content", [b"my notes, no newline at the end",
                                     b'{"a": 1}\n{"b": 2}\n', b"\x00\x01binary"])
def test_an_existing_file_that_is_not_a_results_file_is_refused_unchanged(stub, tmp_path,
                                                                          content):
    out = tmp_path / "notes.jsonl"
    out.write_bytes(content)
    done = run_cli(stub, "--output_file", str(out), cwd=tmp_path)
    assert done.returncode == 2 and "not a results file" in one_line_error(done)
    assert out.read_bytes() == content
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.jsonl"]


def test_output_file_name_goes_inside_output_dir(stub, tmp_path):
    done = run_cli(stub, "--output_dir", "collected", "--output_file", "mine.jsonl",
                   cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert len(lines(tmp_path / "collected" / "mine.jsonl")) == 3
    assert not (tmp_path / "mine.jsonl").exists()
    elsewhere = tmp_path / "elsewhere" / "given.jsonl"  # a path with a folder part: as given
    done = run_cli(stub, "--output_dir", "collected", "--output_file", str(elsewhere),
                   cwd=tmp_path)
    assert done.returncode == 0 and len(lines(elsewhere)) == 3


def test_a_corrupt_middle_row_is_detected_and_repair_collects_it_again(stub, tmp_path):
    out = tmp_path / "r.jsonl"
    assert run_cli(stub, "--output_file", str(out), problems=4, cwd=tmp_path).returncode == 0
    rows = out.read_bytes().splitlines(keepends=True)
    damaged_id = json.loads(rows[1])["unique_id"]
    # A torn row glued to the next one: it still starts with a valid unique_id.
    rows[1] = rows[1][: len(rows[1]) // 2] + rows[2]
    out.write_bytes(b"".join(rows))
    before = out.read_bytes()
    done = run_cli(stub, "--output_file", str(out), problems=4, cwd=tmp_path)
    error = one_line_error(done)
    assert done.returncode == 2 and f"{out} line 2 is corrupt" in error and "--repair" in error
    assert out.read_bytes() == before
    repaired = run_cli(stub, "--output_file", str(out), "--repair", problems=4, cwd=tmp_path)
    assert repaired.returncode == 0, repaired.stderr
    collected = lines(out)
    assert len(collected) == 4 and len({r["unique_id"] for r in collected}) == 4
    assert len(store.corrupt_path(out).read_text().splitlines()) == 1
    assert damaged_id in {r["unique_id"] for r in collected}


def test_a_corrupt_errors_line_is_named_and_repair_moves_it(stub, tmp_path):
    stub.set_faults([{"kind": "500"}] * 2)
    out = tmp_path / "r.jsonl"
    assert run_cli(stub, "--output_file", str(out), "--max_attempts", "1", problems=4,
                   cwd=tmp_path).returncode == 1
    errors = store.errors_path(out)
    rows = errors.read_text().splitlines(keepends=True)
    errors.write_text(rows[0] + "garbage that is not a row\n" + "".join(rows[1:]))
    done = run_cli(stub, "--output_file", str(out), problems=4, cwd=tmp_path)
    assert done.returncode == 2 and f"{errors} line 2 is corrupt" in one_line_error(done)
    repaired = run_cli(stub, "--output_file", str(out), "--repair", problems=4, cwd=tmp_path)
    assert repaired.returncode == 0, repaired.stderr
    assert store.corrupt_path(errors).read_text() == "garbage that is not a row\n"
    assert len(lines(out)) == 4 and len(lines(errors)) == 2


def test_rows_carry_their_sampling_so_the_check_holds_without_the_manifest(stub, tmp_path):
    out = tmp_path / "r.jsonl"
    assert run_cli(stub, "--output_file", str(out), cwd=tmp_path).returncode == 0
    assert all(r["sampling"]["k_responses"] == 3 for r in lines(out))
    store.manifest_path(out).unlink()
    done = run_cli(stub, "--output_file", str(out), "--k_responses", "2", problems=5,
                   cwd=tmp_path)
    error = one_line_error(done)
    assert done.returncode == 2 and "line 1" in error and "k_responses=3" in error
    assert len(lines(out)) == 3
    mixed = run_cli(stub, "--output_file", str(out), "--k_responses", "2",
                    "--allow_config_change", problems=5, cwd=tmp_path)
    assert mixed.returncode == 0
    assert sorted(len(r["responses"]) for r in lines(out)) == [2, 2, 3, 3, 3]


def test_output_folder_is_a_file_and_output_file_is_a_folder(stub, tmp_path):
    (tmp_path / "afile").write_text("keep me\n")
    done = run_cli(stub, "--output_dir", str(tmp_path / "afile"), cwd=tmp_path)
    assert done.returncode == 2 and "afile" in one_line_error(done)
    assert (tmp_path / "afile").read_text() == "keep me\n"
    (tmp_path / "adir.jsonl").mkdir()
    done = run_cli(stub, "--output_file", str(tmp_path / "adir.jsonl"), cwd=tmp_path)
    assert done.returncode == 2 and "is a folder" in one_line_error(done)


def test_read_only_folder_is_one_line_and_the_file_stays_resumable(stub, tmp_path):
    out = tmp_path / "ro" / "r.jsonl"
    out.parent.mkdir()
    assert run_cli(stub, "--output_file", str(out), problems=2, cwd=tmp_path).returncode == 0
    before = out.read_bytes()
    command = cli_command(stub, "--output_file", str(out), problems=4)
    if os.geteuid() == 0:  # root ignores permission bits: a read-only bind mount instead
        if not mount_namespaces_work():
            pytest.skip("running as root without mount namespaces: no way to make it read-only")
        folder = str(out.parent)
        script = (f"mount --bind {folder} {folder} && mount -o remount,ro,bind {folder} && "
                  'exec "$@"')
        done = subprocess.run(in_mount_namespace(script) + ["sh", *command], cwd=tmp_path,
                              capture_output=True, text=True, timeout=120)
    else:
        out.parent.chmod(0o555)
        out.chmod(0o444)
        try:
            done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True,
                                  timeout=120)
        finally:
            out.parent.chmod(0o755)
            out.chmod(0o644)
    error = one_line_error(done)
    assert done.returncode == 2 and str(out.parent) in error
    assert "Read-only" in error or "Permission denied" in error
    assert out.read_bytes() == before
    finished = run_cli(stub, "--output_file", str(out), problems=4, cwd=tmp_path)
    assert finished.returncode == 0 and len(lines(out)) == 4


@pytest.mark.parametrize("mechanism", ["rlimit_fsize", "tmpfs_full"])
def test_full_disk_mid_run_is_one_line_and_the_file_stays_resumable(stub, tmp_path, mechanism):
    folder = tmp_path / "small"
    folder.mkdir()
    out = folder / "r.jsonl"
    command = cli_command(stub, "--output_file", str(out), problems=120)
    if mechanism == "rlimit_fsize":  # the kernel refuses writes past 48 KiB in this process
        done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True,
                              timeout=120, preexec_fn=limit_file_size(48 * 1024))
        cause = "File too large"
    else:  # a real ENOSPC: a 48 KiB tmpfs over the folder; what it holds is copied out after
        if not mount_namespaces_work():
            pytest.skip("no mount namespaces here (unshare -rm); rlimit_fsize covers the path")
        saved = tmp_path / "saved"
        saved.mkdir()
        script = (f'mount -t tmpfs -o size=48k tmpfs {folder} && "$@"; code=$?; '
                  f"cp -a {folder}/. {saved}/; exit $code")
        done = subprocess.run(in_mount_namespace(script) + ["sh", *command], cwd=tmp_path,
                              capture_output=True, text=True, timeout=120)
        for path in saved.iterdir():
            shutil.copy(path, folder / path.name)
        cause = "No space left on device"
    error = one_line_error(done)
    assert done.returncode == 2 and str(out) in error and cause in error
    if mechanism == "rlimit_fsize":  # the small manifest still fits: it says what happened
        assert manifest(out)["status"] == "failed" and cause in manifest(out)["reason"]
    kept = out.read_bytes().count(b"\n")
    assert 0 < kept < 120
    finished = run_cli(stub, "--output_file", str(out), problems=120, cwd=tmp_path)
    assert finished.returncode == 0, finished.stderr
    rows = lines(out)
    assert len(rows) == 120 and len({r["unique_id"] for r in rows}) == 120
    assert f"{kept} already done" in finished.stdout


def _results_row(unique_id: str) -> dict:
    return {"unique_id": unique_id, "dataset": "math500", "problem": "1+1?", "is_mcq": False,
            "choices": None, "answer_correct": "2", "category": "Algebra", "level": 1,
            "responses": [{"full_response": r"\boxed{2}", "finish_reason": "stop"}]}


def test_grading_a_file_with_a_torn_last_line_reads_the_rest_and_says_so(tmp_path, capsys):
    results = tmp_path / "r.jsonl"
    whole = "".join(json.dumps(_results_row(f"q{i}")) + "\n" for i in range(3))
    results.write_text(whole + '{"unique_id": "q3", "dataset": "ma')
    assert extraction_main(["-i", str(results), "--workers", "1"]) == 0
    assert "skipped 1 incomplete last line" in capsys.readouterr().err
    assert len(lines(tmp_path / "r.processed.jsonl")) == 3


def test_extraction_of_an_empty_file_is_one_line_and_exit_2(tmp_path, capsys):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert extraction_main(["-i", str(empty)]) == 2
    error = capsys.readouterr().err.strip()
    assert "\n" not in error and "empty.jsonl" in error and "empty" in error
    assert not (tmp_path / "empty.processed.jsonl").exists()
