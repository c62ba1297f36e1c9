"""The explorer's offline HTML file, its command line and the notebook widget, on real processed
files (the browser side is in tests/browser/test_explorer_html.py)."""
from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from collectkit.cli import explore
from collectkit.explorer.data import Explore
from collectkit.explorer.widget import Explorer
from explore_support import REPO, labeled_runs


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return labeled_runs(tmp_path_factory.mktemp("labeled"))


def payload(html: str) -> dict:
    """The page's JSON, with the problem views of its <template> elements as "views"."""
    found = re.search(r'<script type="application/json" id="ck-data">(.*?)</script>', html, re.S)
    views = re.findall(r'<template class="ck-source">(.*?)</template>', html, re.S)
    return {**json.loads(found.group(1)), "views": views}


def test_cli_writes_one_self_contained_file(files, tmp_path):
    out = tmp_path / "explorer.html"
    done = subprocess.run([sys.executable, "-m", "collectkit.explore", *map(str, files), "--html",
                           str(out)], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "a: 141 problems; correct" in done.stdout and f"wrote {out}" in done.stdout
    html = out.read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)  # no CDN, no fetch
    assert "@import" not in html and "fetch(" not in html
    for testid in ("problem-row", "filter-", "response", "extracted-answer", "count"):
        assert testid in html, testid
    data = payload(html)
    assert data["runs"] == ["a", "b"] and len(data["views"]) == 141
    assert len(data["rows"]) == 282  # both runs' rows of the kept problems
    assert data["note"] == "141 of 141 problems of run a"
    marks = sum(view.count('data-testid="extracted-answer"') for view in data["views"])
    responses = sum(view.count('data-testid="response"') for view in data["views"])
    rows = Explore.load(files).rows
    parsed = sum(r["extracted_answer"] is not None for row in rows.values() for r in row["responses"])
    assert responses == sum(len(row["responses"]) for row in rows.values())
    assert marks == parsed  # every extracted answer highlighted where it stands


def test_caps_and_filters_say_what_was_kept(files, tmp_path, capsys):
    out = tmp_path / "wrong.html"
    assert explore.main([str(files[0]), "--html", str(out), "--filter", "wrong", "--benchmark",
                         "mmlu_pro", "--max-problems", "5", "--sort", "pass_rate"]) == 0
    wrong = len(Explore.load([files[0]]).select(["wrong"], benchmark="mmlu_pro"))
    note = payload(out.read_text())["note"]
    assert note == (f"5 of 141 problems; kept: filter wrong, benchmark mmlu_pro; the first 5 of "
                    f"{wrong} in pass rate ↑ (--max-problems 5)")
    assert note in capsys.readouterr().out
    small = tmp_path / "small.html"
    assert explore.main([str(files[0]), "--html", str(small), "--max-mb", "0.05"]) == 0
    data = payload(small.read_text())
    assert 0 < len(data["views"]) < 141 and data["note"].endswith("(--max-mb 0.05)")
    assert small.stat().st_size < 0.05e6 + 60_000  # the cap plus the page's own CSS/JS/rows


def test_text_is_escaped_never_markup(files, tmp_path):
    rows = [json.loads(line) for line in files[0].read_text().splitlines()][:3]
    attack = "</script><script>alert(1)</script><img src=x onerror=alert(2)>"
    rows[0]["problem"] = attack
    rows[0]["responses"][0]["full_response"] = attack + " \\boxed{1}"
    source = tmp_path / "attack.processed.jsonl"
    source.write_text("".join(json.dumps(row) + "\n" for row in rows))
    out = tmp_path / "attack.html"
    assert explore.main([str(source), "--html", str(out)]) == 0
    html = out.read_text()
    assert attack not in html and "<img" not in html and "alert(2)" in html
    assert html.count("<script") == 2 and html.count("</script>") == 2  # the page's own two
    assert "&lt;/script&gt;&lt;script&gt;alert(1)" in payload(html)["views"][0]


@pytest.mark.parametrize("args, message", [
    (["missing.processed.jsonl"], "missing.processed.jsonl: no such file or directory"),
    (["{a}", "--html", "{a}"], "give an .html path"),
    (["{a}", "--html", "out.json"], "give an .html path"),
    (["{a}", "--run", "zzz"], "--run 'zzz' is not one of the runs: a"),
    (["{a}", "--max-problems", "0", "--html", "x.html"], "--max-problems must be at least 1"),
])
def test_bad_input_is_one_line_and_writes_nothing(files, tmp_path, args, message):
    before = files[0].read_bytes()
    argv = [arg.format(a=files[0]) for arg in args]
    done = subprocess.run([sys.executable, "-m", "collectkit.explore", *argv], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    error = done.stderr.strip()
    assert error.count("\n") == 0 and "Traceback" not in error and message in error, error
    assert files[0].read_bytes() == before and list(tmp_path.iterdir()) == []


def test_unknown_filter_is_refused_by_argparse(files, tmp_path):
    done = subprocess.run([sys.executable, "-m", "collectkit.explore", str(files[0]), "--filter",
                           "wrongly"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "invalid choice: 'wrongly'" in done.stderr


def test_widget_filters_pages_shows_and_saves(files, tmp_path):
    explorer = Explorer.open(*files, html_path=tmp_path / "saved.html")
    data = explorer.data
    assert "<b>141</b> of 141" in explorer.count.value
    assert all("ck-problem-row" in row._dom_classes for row in explorer.rows)
    assert "ck-filter-all-wrong" in explorer.toggles["all_wrong"]._dom_classes
    explorer.toggles["wrong"].value = True
    explorer.benchmark.value = "math500"
    kept = data.select(["wrong"], benchmark="math500")
    assert f"<b>{len(kept)}</b> of 141" in explorer.count.value
    shown = [row for row in explorer.rows if row.layout.display != "none"]
    assert len(shown) == min(20, len(kept))
    explorer.rows[1].click()
    row = data.row("a", kept.iloc[1]["key"])
    view = explorer.view.value
    assert view.count('class="ck-response') == 2 * len(row["responses"])  # runs a and b
    assert row["problem"][:40] in view.replace("&#x27;", "'")
    assert explorer.rows[1].button_style == "info"
    explorer.run.value = "b"
    assert f"of 141" in explorer.count.value and explorer.current == -1
    written = explorer.save_html()
    assert written["note"].startswith(f"{len(data.select(['wrong'], run='b', benchmark='math500'))} "
                                      "of 141 problems of run b; kept: filter wrong")
    assert (tmp_path / "saved.html").is_file() and "wrote" in explorer.saved.value


def test_response_view_folds_reasoning_and_long_text_but_never_the_answer():
    from collections import Counter

    from collectkit.explorer.html import render_response

    text = "step\n" * 1000 + "so the result is $\\boxed{42}$."
    response = {"full_response": text, "finish_reason": "stop", "reasoning_content": "hmm " * 50,
                "usage": {"completion_tokens": 1234}, "extracted_answer": "42",
                "is_correct": False, "answer_group": 3}
    votes = Counter({("group", 3): 2, "right": 1})
    html = render_response(2, response, votes, is_mcq=False)
    assert html.count("<details") == 2  # the reasoning, and the text long before the answer
    assert '<summary>reasoning (200 chars)</summary>' in html
    shown = html.split("</details>")[-1]  # after both folds: the visible text
    assert '<mark class="ck-extracted-answer" data-testid="extracted-answer">42</mark>' in shown
    assert shown.count("step") <= 1200 // 5 + 1  # at most ~1,200 characters before the answer
    assert "#2 · ✗ wrong · answer <code>42</code> (group 3, 2 of 3 votes)" in html
    assert "1234 tokens · finish stop" in html
    unparsed = render_response(1, {**response, "extracted_answer": None, "reasoning_content": None},
                               votes, is_mcq=False)
    assert "no answer extracted (unparsed)" in unparsed and "<mark" not in unparsed
    assert "<details" not in unparsed  # nothing to keep in view: the whole text shown
