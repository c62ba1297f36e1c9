"""Text holding line-break characters round-trips byte for byte through the real CLI, collect →
extract → explore (--html) → export; and every bundled benchmark, collected in full, reads back
with every row (issue 24, item 1: MMLU-Pro question 5215 holds a U+0085)."""
from __future__ import annotations

import html
import json
import re
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

sys.path.insert(0, str(Path(__file__).parents[1]))
from collection_support import lines  # noqa: E402
from stub_server import StubServer  # noqa: E402

from collectkit.tasks.load import load_problems  # noqa: E402

BREAKS = ["\x85", "\u2028", "\u2029", "\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e"]
ODD = "".join(f"part{i}{char}" for i, char in enumerate(BREAKS)) + "end"
ANSWER = f"{ODD} The answer is (A). \\boxed{{42}}"  # the stub answers "[choice=i] " + this
QUESTION = f"What is 6 times 7? {ODD}"
CHOICES = [f"seven {char}" for char in BREAKS[:5]] + [f"{char} eight" for char in BREAKS[5:]]
DATA = [{"unique_id": "open", "question": QUESTION, "choices": None, "choice_index_correct": None,
         "explanation_correct": ODD, "answer_correct": "42", "category": "arithmetic"},
        {"unique_id": "mcq", "question": QUESTION, "choices": CHOICES, "choice_index_correct": 0,
         "explanation_correct": None, "answer_correct": "A", "category": "arithmetic"}]


def collectkit(*args: str, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "collectkit", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0 and "Traceback" not in done.stderr, (args[0], done.stderr)
    return done


def collect(stub: StubServer, out: Path, dataset: str, *extra: str) -> subprocess.CompletedProcess:
    return collectkit("run", "--model", stub.model, "--api_base", stub.base_url, "--dataset",
                      dataset, "--max_tokens", "16", "--max_retries", "0", "--output_file",
                      str(out), "--quiet", *extra, cwd=out.parent)


def html_views(page: Path) -> list[str]:
    """The problem views embedded in an explorer file, their text as a reader sees it (tags
    gone, entities decoded)."""
    text = page.read_bytes().decode("utf-8")  # not read_text: it would turn a \r into \n
    views = re.findall(r'<template class="ck-source">(.*?)</template>', text, re.S)
    return [html.unescape(re.sub(r"<[^>]+>", "", view)) for view in views]


@pytest.fixture
def stub():
    with StubServer(completion_tokens=1, answer_text=ANSWER) as server:
        yield server


def test_line_breaks_round_trip_through_collect_extract_explore_export(tmp_path, stub):
    data = tmp_path / "odd.jsonl"  # raw U+0085/U+2028/U+2029, as json.dumps(ensure_ascii=False)
    data.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in DATA),
                    encoding="utf-8")
    out = tmp_path / "r.jsonl"
    collect(stub, out, str(data), "--k_responses", "2")
    raw = out.read_bytes()
    for char in ("\x85", "\u2028", "\u2029"):  # escaped: no reader of any tool breaks there
        assert char.encode() not in raw
    assert len(raw.decode().splitlines()) == 2 and raw.count(b"\n") == 2
    texts = {f"[choice={i}] {ANSWER}" for i in range(2)}
    collectkit("extract", "-i", str(out), cwd=tmp_path)
    for name in (out, tmp_path / "r.processed.jsonl"):
        rows = {row["unique_id"]: row for row in lines(name)}
        assert set(rows) == {"open", "mcq"}
        for row in rows.values():
            assert row["problem"] == QUESTION
            assert {r["full_response"] for r in row["responses"]} == texts
        assert rows["mcq"]["choices"] == CHOICES and rows["open"]["explanation_correct"] == ODD
    again = collect(stub, out, str(data), "--k_responses", "2")  # readers and resume agree
    assert "2 already done" in again.stdout and out.read_bytes() == raw

    listed = collectkit("explore", str(tmp_path / "r.processed.jsonl"), "--html",
                        str(tmp_path / "x.html"), cwd=tmp_path)
    assert "2 problems" in listed.stdout
    views = html_views(tmp_path / "x.html")
    assert len(views) == 2
    for view in views:
        assert QUESTION in view and all(text in view for text in texts)
    assert all(choice in next(v for v in views if CHOICES[0] in v) for choice in CHOICES)

    collectkit("export", str(tmp_path / "r.processed.jsonl"), "--out", str(tmp_path / "export"),
               "--format", "responses", cwd=tmp_path)
    table = pq.read_table(tmp_path / "export" / "responses.parquet").to_pylist()
    assert len(table) == 4 and {r["full_response"] for r in table} == texts
    assert {r["problem"] for r in table} == {QUESTION}
    assert [r["choices"] for r in table if r["unique_id"] == "mcq"] == [CHOICES] * 2


def test_a_file_written_before_the_escape_still_reads(tmp_path, stub):
    """Results written by an older kit hold U+0085/U+2028/U+2029 raw: extract grades them and a
    resume counts them done."""
    data = tmp_path / "odd.jsonl"
    data.write_text("".join(json.dumps(row) + "\n" for row in DATA), encoding="utf-8")
    out = tmp_path / "r.jsonl"
    collect(stub, out, str(data), "--k_responses", "1")
    old = out.read_text(encoding="utf-8")
    for char in ("\x85", "\u2028", "\u2029"):
        old = old.replace(f"\\u{ord(char):04x}", char)
    out.write_text(old, encoding="utf-8")
    assert len(old.splitlines()) > 2  # what broke the old readers
    collectkit("extract", "-i", str(out), cwd=tmp_path)
    rows = lines(tmp_path / "r.processed.jsonl")
    assert [r["full_response"] for row in rows for r in row["responses"]] == [
        f"[choice=0] {ANSWER}"] * 2
    again = collect(stub, out, str(data), "--k_responses", "1")
    assert "2 already done" in again.stdout


@pytest.mark.slow
def test_every_bundled_benchmark_in_full_reads_back_with_every_row(tmp_path, stub):
    """math500 and mmlu_pro (the benchmarks shipped offline; aime, gsm8k and gpqa load from the
    Hub) in full, k=1: 12,532 rows through extract, explore and export (~45 s on 2 cores)."""
    problems = {p.unique_id: p for p in load_problems("both")}
    out = tmp_path / "all.jsonl"
    collect(stub, out, "both", "--num_problems", "all", "--k_responses", "1",
            "--max_concurrent", "64")
    collectkit("extract", "-i", str(out), cwd=tmp_path)
    processed = tmp_path / "all.processed.jsonl"
    rows = {row["unique_id"]: row for row in lines(processed)}
    assert set(rows) == set(problems)
    for uid in ("mmlu_pro/5215", "mmlu_pro/11355"):  # U+0085 and other odd characters
        assert rows[uid]["problem"] == problems[uid].question
        assert rows[uid]["choices"] == list(problems[uid].choices)
    listed = collectkit("explore", str(processed), "--html", str(tmp_path / "all.html"),
                        "--max-mb", "200", cwd=tmp_path)
    assert f"all: {len(problems)} problems" in listed.stdout
    assert f"{len(problems)} of {len(problems)} problems" in listed.stdout
    collectkit("export", str(processed), "--out", str(tmp_path / "export"), "--format",
               "responses", cwd=tmp_path)
    table = pq.read_table(tmp_path / "export" / "responses.parquet",
                          columns=["unique_id", "problem", "full_response"]).to_pydict()
    assert sorted(table["unique_id"]) == sorted(problems)
    assert table["problem"][table["unique_id"].index("mmlu_pro/5215")] == problems[
        "mmlu_pro/5215"].question
    assert set(table["full_response"]) == {f"[choice=0] {ANSWER}"}
