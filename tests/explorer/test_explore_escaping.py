"""Issue 28 item 2, in Python: every value from a processed file is escaped in the offline page
(through the real CLI) and in every HTML value of the notebook widget (its problem view, count and
Save HTML line, which put the category in raw). tests/browser/test_explorer_hostile.py opens
both in Chromium."""
from __future__ import annotations

import json
import re
import subprocess
import sys

import ipywidgets as widgets

from collectkit.explorer.data import Explore
from collectkit.explorer.html import render_problem
from collectkit.explorer.widget import Explorer
from explore_hostile import ATTACK, foreign_markup, hostile_page, hostile_runs, tagged


def html_values(widget) -> list[str]:
    """The value of every ipywidgets HTML in the widget tree (what JupyterLab sets as innerHTML)."""
    found = [widget.value] if isinstance(widget, widgets.HTML) else []
    for child in getattr(widget, "children", ()):
        found += html_values(child)
    return found


def test_the_page_holds_no_markup_from_the_data(tmp_path):
    runs, out = hostile_page(tmp_path)
    html = out.read_text(encoding="utf-8")
    assert foreign_markup(html) == []  # as the browser parses it: no element, no handler
    assert html.count("<script") == 2 and html.count("</script>") == 2  # the page's own
    embedded = re.search(r'<script type="application/json" id="ck-data">(.*?)</script>', html,
                         re.S).group(1)
    assert not set("<>&\u2028\u2029") & set(embedded)  # nothing can close or bend the <script>
    data = json.loads(embedded)
    assert data["runs"] == [f"model={tagged('model one')}", f"model={tagged('model two')}"]
    assert tagged("category one0") in data["options"]["category"]  # shown with textContent
    assert "default-src 'none'; script-src 'sha256-" in html  # only the page's own script runs
    explore = Explore.load(runs)
    for key in explore.table["key"]:  # every problem view, the answer group the issue found raw
        assert foreign_markup(render_problem(explore, key)) == [], key


def test_every_html_value_of_the_widget_is_escaped(tmp_path):
    explorer = Explorer.open(*hostile_runs(tmp_path), html_path=tmp_path / "saved.html")
    explorer.category.value = tagged("category one1")  # the case: the save line
    assert len(explorer.selected) == 1
    explorer.rows[0].click()
    assert explorer.save_html()["kept"] == 1
    values = html_values(explorer.widget)
    assert tagged("category one1") in explorer.saved.value.replace("&lt;", "<").replace(
        "&gt;", ">").replace("&quot;", '"').replace("&#x27;", "'").replace("&amp;", "&")
    for value in values:
        assert foreign_markup(value) == [], value
    explorer.html_path.value = str(tmp_path / "saved.html" / ATTACK / "x.html")  # cannot write
    assert explorer.save_html() == {} and "error: cannot" in explorer.saved.value
    assert foreign_markup(explorer.saved.value) == []


def test_markup_in_answer_group_is_refused_on_read(tmp_path):
    """The issue's case (answer_group put into the page raw): a processed row with markup where
    the kit writes a group number is refused in one line, and no page is written."""
    runs = hostile_runs(tmp_path)
    rows = [json.loads(line) for line in runs[0].read_text(encoding="utf-8").splitlines()]
    rows[0]["responses"][0]["answer_group"] = tagged("answer_group")
    runs[0].write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    out = tmp_path / "x.html"
    done = subprocess.run([sys.executable, "-m", "collectkit", "explore", str(runs[0]), "--html",
                           str(out)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert "answer_group" in done.stderr and "Traceback" not in done.stderr
    assert not out.exists()
