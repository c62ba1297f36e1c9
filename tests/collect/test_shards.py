"""`collectkit run --shard I/N` and `collectkit merge`, through the real CLI against the stub server
over a real socket: four shards merged give the processed rows of one unsharded run, a shard
killed mid-run and rerun loses nothing, and bad shard values or conflicting shards are one line.

The stub runs with --tag-prompt: each response text starts with a hash of the problem's prompt,
so two problems never share a text and the comparison sees whose response each one is.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from collectkit.collect.settings import ConfigError, Settings
from collectkit.collect.shards import shard_file, take_shard, unsharded_file
from collectkit.tasks.load import load_problems
from stub_server import StubServer

PROBLEMS = 12
K = 3
STEM = "stub-model_MATH_500_MMLU_Pro"


def collectkit(*args: str, cwd: Path, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "collectkit", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


def run_args(server: StubServer, out: Path, *extra: str) -> list[str]:
    return ["run", "--model", server.model, "--api-base", server.base_url,
            "--num-problems", str(PROBLEMS), "--k-responses", str(K), "--max-tokens", "64",
            "--max-retries", "0", "--request-timeout", "10", "--retry-backoff-s", "0.05",
            "--quiet", "--output-dir", str(out), *extra]


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def texts(path: Path) -> dict[str, list[str]]:
    return {row["unique_id"]: [r["full_response"] for r in row["responses"]] for row in rows(path)}


def graded(path: Path) -> dict[str, list]:
    """unique_id → each response's (text, extracted answer, correct), from X.processed.jsonl."""
    return {row["unique_id"]: [(r["full_response"], r.get("extracted_answer"), r.get("is_correct"))
                               for r in row["responses"]] for row in rows(path)}


def extract(path: Path, cwd: Path) -> Path:
    done = collectkit("extract", "-i", str(path), "--workers", "1", cwd=cwd)
    assert done.returncode == 0, done.stderr
    return path.with_name(path.name.removesuffix(".jsonl") + ".processed.jsonl")


def one_line(done: subprocess.CompletedProcess) -> str:
    error = done.stderr.strip()
    assert error and "\n" not in error and "Traceback" not in error, done.stderr
    return error


@pytest.fixture(scope="module")
def server():
    with StubServer(extra_args=["--tag-prompt"]) as stub:
        yield stub


@pytest.fixture(scope="module")
def whole(server, tmp_path_factory) -> Path:
    """One unsharded run of the same problems, extracted."""
    out = tmp_path_factory.mktemp("whole")
    done = collectkit(*run_args(server, out), cwd=out)
    assert done.returncode == 0, done.stderr
    return out / f"{STEM}.jsonl"


@pytest.fixture(scope="module")
def shards(server, tmp_path_factory) -> list[Path]:
    out = tmp_path_factory.mktemp("shards")
    for index in range(4):
        done = collectkit(*run_args(server, out, "--shard", f"{index}/4"), cwd=out)
        assert done.returncode == 0, done.stderr
    return [out / f"{STEM}_shard-{index}-of-4.jsonl" for index in range(4)]


def test_each_shard_holds_its_slice_of_the_seeded_order(shards):
    order = [p.unique_id for p in load_problems("both", PROBLEMS)]
    for index, path in enumerate(shards):
        assert sorted(row["unique_id"] for row in rows(path)) == sorted(order[index::4])
        manifest = json.loads(path.with_name(path.stem + ".manifest.json").read_text())
        assert manifest["shard"] == f"{index}/4"
        assert manifest["settings"]["shard"] == f"{index}/4"
        assert manifest["status"] == "finished"


def test_four_shards_merged_give_the_rows_of_one_run(server, shards, whole, tmp_path):
    done = collectkit("merge", *map(str, shards), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    merged = shards[0].with_name(f"{STEM}.jsonl")  # the unsharded name, beside the shards
    assert f"into {merged}: {PROBLEMS} problems" in done.stdout
    assert done.stderr == ""
    assert texts(merged) == texts(whole)  # each problem once, its own texts
    assert len({text for answers in texts(merged).values() for text in answers}) == PROBLEMS * K
    assert graded(extract(merged, tmp_path)) == graded(extract(whole, tmp_path))

    manifest = json.loads(merged.with_name(f"{STEM}.manifest.json").read_text())
    assert manifest["status"] == "finished" and manifest["shard"] is None
    assert [entry["shard"] for entry in manifest["merged_from"]] == ["0/4", "1/4", "2/4", "3/4"]
    assert manifest["totals"]["done"] == PROBLEMS
    assert manifest["totals"]["responses"] == PROBLEMS * K
    # merging again replaces the merge's own output
    fresh = tmp_path / "merged.jsonl"
    for _ in range(2):
        done = collectkit("merge", *map(str, shards), "--output", str(fresh), cwd=tmp_path)
        assert done.returncode == 0, done.stderr
    assert texts(fresh) == texts(whole)
    # the merged file is a results file: the unsharded command resumes it with nothing to do;
    # from then on it is that run's file, which a merge never overwrites, nor any other file
    again = collectkit(*run_args(server, merged.parent), cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert f"{PROBLEMS} already done" in again.stdout
    refused = collectkit("merge", *map(str, shards), cwd=tmp_path)
    assert refused.returncode == 2 and "not the output of a merge" in one_line(refused)
    other = tmp_path / "mine.jsonl"
    other.write_text("keep me\n")
    refused = collectkit("merge", *map(str, shards), "--output", str(other), cwd=tmp_path)
    assert refused.returncode == 2 and "never overwrites" in one_line(refused)
    assert other.read_text() == "keep me\n"


def test_a_problem_in_two_shards_is_kept_once_and_said(shards, whole, tmp_path):
    copy = tmp_path / f"{STEM}_shard-0-of-4.jsonl"
    shutil.copy(shards[0], copy)  # shard 0 collected twice (on two machines)
    output = tmp_path / "merged.jsonl"
    done = collectkit("merge", *map(str, shards), str(copy), "--output", str(output),
                      cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "3 problem(s) were in more than one shard file" in done.stderr
    assert [row["unique_id"] for row in rows(output)].count(rows(copy)[0]["unique_id"]) == 1
    assert texts(output) == texts(whole)


def test_a_missing_shard_is_named(shards, tmp_path):
    output = tmp_path / "merged.jsonl"
    done = collectkit("merge", str(shards[0]), str(shards[2]), "--output", str(output),
                      cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "no file for shard(s) 1/4, 3/4" in done.stderr
    assert len(rows(output)) == len(rows(shards[0])) + len(rows(shards[2]))


def test_shards_of_other_sampling_settings_are_refused(server, shards, tmp_path):
    done = collectkit(*run_args(server, tmp_path, "--shard", "1/4", "--temperature", "0.2"),
                      cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    other = tmp_path / f"{STEM}_shard-1-of-4.jsonl"
    output = tmp_path / "merged.jsonl"
    refused = collectkit("merge", str(shards[0]), str(other), "--output", str(output),
                         cwd=tmp_path)
    assert refused.returncode == 2
    assert "conflicting sampling signatures" in one_line(refused)
    assert "temperature=0.2" in refused.stderr
    assert not output.exists()


def test_shards_of_another_problem_selection_are_refused(shards, tmp_path):
    other = tmp_path / shards[1].name
    shutil.copy(shards[1], other)
    manifest = json.loads(shards[1].with_name(shards[1].stem + ".manifest.json").read_text())
    manifest["settings"]["num_problems"] = "8"  # sliced from another --num-problems
    other.with_name(other.stem + ".manifest.json").write_text(json.dumps(manifest))
    refused = collectkit("merge", str(shards[0]), str(other), "--output",
                         str(tmp_path / "merged.jsonl"), cwd=tmp_path)
    assert refused.returncode == 2
    assert "conflicting problem selections" in one_line(refused)
    assert "num_problems='8'" in refused.stderr


def test_a_shard_killed_mid_run_and_rerun_loses_nothing(shards, whole, tmp_path):
    with StubServer(delay=0.15, extra_args=["--tag-prompt"]) as slow:
        args = run_args(slow, tmp_path, "--shard", "1/4", "--batch-size", "1",
                        "--max-concurrent", "1")
        path = tmp_path / f"{STEM}_shard-1-of-4.jsonl"
        process = subprocess.Popen([sys.executable, "-m", "collectkit", *args], cwd=tmp_path,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while not (path.exists() and path.read_bytes().count(b"\n") >= 1):
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.02)
        os.kill(process.pid, signal.SIGKILL)  # no handler, no final manifest, maybe a torn line
        process.communicate(timeout=30)
        assert process.returncode == -signal.SIGKILL
        landed = len(rows(path))
        assert 1 <= landed < PROBLEMS // 4  # stopped part way
        slow.reset_stats()
        done = collectkit(*args, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert f"{landed} already done" in done.stdout
        assert slow.stats()["total_requests"] == PROBLEMS // 4 - landed  # only what was missing
    output = tmp_path / "merged.jsonl"
    merge = collectkit("merge", str(shards[0]), str(path), str(shards[2]), str(shards[3]),
                       "--output", str(output), cwd=tmp_path)
    assert merge.returncode == 0 and merge.stderr == "", merge.stderr
    assert texts(output) == texts(whole)


def test_a_bad_shard_is_one_line_and_exit_2(tmp_path):
    done = collectkit("run", "--shard", "4/4", "--dry-run", cwd=tmp_path)
    assert done.returncode == 2
    assert one_line(done) == ("error: invalid value for shard: '4/4': I/N needs 0 <= I < N "
                              "(shards count from 0: a SLURM array runs --array=0-3)")


@pytest.mark.parametrize("value", ["-1/4", "1/0", "two/4", "1/4/2", "4"])
def test_shard_values_are_checked(value):
    with pytest.raises(ConfigError, match="invalid value for shard"):
        Settings(shard=value)


def test_slices_are_disjoint_and_cover_the_run():
    problems = list(range(10))
    slices = [take_shard(problems, f"{i}/3") for i in range(3)]
    assert slices == [[0, 3, 6, 9], [1, 4, 7], [2, 5, 8]]
    assert take_shard(problems, "") == problems and take_shard(problems, "0/1") == problems


def test_shard_file_names():
    assert shard_file(Path("r/x.jsonl"), "2/4") == Path("r/x_shard-2-of-4.jsonl")
    assert shard_file(Path("r/x_shard-2-of-4.jsonl"), "2/4") == Path("r/x_shard-2-of-4.jsonl")
    assert shard_file(Path("r/x.jsonl"), "") == Path("r/x.jsonl")
    assert unsharded_file(Path("r/x_shard-2-of-4.jsonl")) == Path("r/x.jsonl")
    assert unsharded_file(Path("r/x.jsonl")) is None
