"""Issue 26 (explore): the explorer opens a results file in bounded memory. Its table keeps counts
and no response text; a problem's row is read from the file when shown; the HTML export writes
each view as it renders it, and its cut and note stay exact; raw files are graded by streaming,
to the rows grade_rows gives."""
from __future__ import annotations

import json
import re

import pytest

from collectkit.analyze import compare
from collectkit.cli import explore
from collectkit.explorer.data import Explore
from collectkit.explorer.html import export, page_html, render_problem
from collectkit.explorer.sources import FileRun
from collectkit.store.results import InputError


def graded_row(uid: str, text: str, right: bool = True) -> dict:
    return {"unique_id": uid, "dataset": "math500", "category": "Algebra", "level": 2,
            "problem": f"What is {uid}?", "answer_correct": "1", "attempts": 1,
            "responses": [{"full_response": text, "finish_reason": "stop",
                           "usage": {"completion_tokens": 7}, "extracted_answer": "1",
                           "is_correct": right, "answer_group": None if right else 0}]}


def write(path, rows, tail: str = "") -> None:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows) + tail, encoding="utf-8")


def test_the_table_holds_no_response_text_and_rows_are_read_on_demand(tmp_path):
    path = tmp_path / "run.processed.jsonl"
    rows = [graded_row(f"p{i}", f"SECRET-{i} " + "x" * 2000 + r" so \boxed{1}") for i in range(6)]
    rows.append(graded_row("p2", "SECRET-later \\boxed{1}", right=False))  # the later row wins
    write(path, rows, tail='{"unique_id": "torn", "answer')  # a torn last line is skipped
    with Explore.load([path]) as data:
        run = data.runs["run"]
        assert isinstance(run, FileRun) and len(run) == 6
        held = repr(vars(data)) + repr(vars(run)) + repr(vars(run.index)) + data.table.to_csv()
        assert "SECRET" not in held  # no response text is kept in memory
        assert list(data.table["unique_id"]) == ["p0", "p1", "p3", "p4", "p5", "p2"]
        assert [row["unique_id"] for row in run] == ["p0", "p1", "p3", "p4", "p5", "p2"]
        text = data.row("run", "math500:p4")["responses"][0]["full_response"]
        assert text.startswith("SECRET-4 ")
        assert data.row("run", "math500:p2")["responses"][0]["full_response"] == \
            "SECRET-later \\boxed{1}"
        assert data.counts("run")["wrong"] == 1 and data.row("run", "math500:nope") is None
        assert data.rows[("run", "math500:p0")] == rows[0] and len(data.rows) == 6


def test_in_memory_runs_keep_working_beside_a_file(tmp_path):
    rows = [graded_row("a", "one \\boxed{1}"), graded_row("b", "two", right=False)]
    path = tmp_path / "file.processed.jsonl"
    write(path, rows)
    memory = Explore({"mem": rows})
    with Explore.load([path]) as from_file:
        for key in ("math500:a", "math500:b"):
            assert memory.row("mem", key) == from_file.row("file", key)
            assert render_problem(memory, key) == render_problem(from_file, key).replace(
                "file:", "mem:")
        assert memory.counts("mem") == from_file.counts("file")


def test_a_raw_file_is_graded_by_streaming_as_load_runs_grades_it(tmp_path):
    path = tmp_path / "raw.jsonl"
    raw = [{"unique_id": f"r{i}", "dataset": "math500", "problem": "1?", "answer_correct": "1",
            "responses": [{"full_response": f"so \\boxed{{{i % 2}}}", "finish_reason": "stop"},
                          {"full_response": "no answer here", "finish_reason": "length"}]}
           for i in range(4)]
    write(path, raw)
    expected = compare.load_runs([path])["raw"]
    with Explore.load([path]) as data:
        assert data.runs["raw"].grading is not None  # graded here, by streaming
        assert list(data.runs["raw"]) == expected
        assert data.row("raw", "math500:r1") == expected[1]
        assert expected[1]["responses"][0]["is_correct"] is True
        assert Explore({"raw": expected}).counts("raw") == data.counts("raw")


def test_folders_labels_and_errors_stay(tmp_path):
    folder = tmp_path / "runs"
    folder.mkdir()
    write(folder / "x.jsonl", [graded_row("a", "t")])
    write(folder / "y.jsonl", [graded_row("a", "t", right=False)])
    with Explore.load([folder], ["one", "two"]) as data:
        assert data.labels == ["one", "two"] and data.counts("two")["flipped"] == 1
    with pytest.raises(InputError, match="1 labels for 2 results files"):
        Explore.load([folder], ["one"])
    (tmp_path / "empty.jsonl").write_text("")
    with pytest.raises(InputError, match="no results rows"):
        Explore.load([tmp_path / "empty.jsonl"])


def test_an_export_past_the_cap_says_exactly_what_it_kept(tmp_path, capsys):
    path = tmp_path / "big.processed.jsonl"
    write(path, [graded_row(f"p{i}", f"{i} " + "y" * 20_000 + " \\boxed{1}") for i in range(10)])
    out = tmp_path / "big.html"
    with Explore.load([path]) as data:
        keys = list(data.table["key"])
        sizes = [len(render_problem(data, key).encode()) for key in keys]
        fits = max(n for n in range(1, 11) if sum(sizes[:n]) <= 0.05e6)
        assert 1 < fits < 10
        written = export(data, out, max_mb=0.05)
        note = f"{fits} of 10 problems; the first {fits} of 10 in file order (--max-mb 0.05)"
        assert written["note"] == note and written["kept"] == fits
        html = out.read_text(encoding="utf-8")
        # the page written in parts is the one page_html makes of the same views, byte for byte
        views = [(key, render_problem(data, key)) for key in keys[:fits]]
        assert html == page_html(data, views, note)
        assert written["bytes"] == len(html.encode()) == out.stat().st_size
    assert html.count('<template class="ck-source">') == fits
    assert re.findall(r"<script[^>]*>", html) == ['<script type="application/json" id="ck-data">',
                                                  "<script>"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.html", "big.processed.jsonl"]
    assert explore.main([str(path), "--html", str(out), "--max-problems", "3"]) == 0
    assert "3 of 10 problems; the first 3 of 10 in file order (--max-problems 3)" in \
        capsys.readouterr().out
