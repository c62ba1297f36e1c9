"""Issue 28 item 2 in Chromium: processed files with hostile markup in every text field
(tests/explore_hostile.py) run nothing in the explorer and show as text.

- The offline page, written by the real CLI (`python -m collectkit explore --html`), opened from
  file://: every problem of every run opened, the filters' options, the title and note read.
- The notebook widget without JupyterLab (a kernel would make it a notebook test): each HTML value
  the widget builds from data (every problem's view, the Save HTML line with a hostile category,
  its error line, the count) is set as innerHTML of a plain file:// page, which is exactly what
  ipywidgets 8's HTML view does (`this.content.innerHTML = this.model.get("value")`). Its other
  texts (row buttons, dropdown options, tooltips) ipywidgets writes with textContent / a text node.
Nothing may run: `window.__pwned` stays undefined, no dialog opens, no Content-Security-Policy
violation or console error is reported.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from collectkit.explorer.widget import Explorer
from explore_hostile import ATTACK, expected_texts, hostile_page, hostile_runs, tagged
from explorer_checks import open_offline
from lab import CHROMIUM, browser

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).is_file(),
                                reason="needs Debian's chromium: run make test-browser")
WATCH = """window.__violations = [];
document.addEventListener("securitypolicyviolation",
                          e => window.__violations.push(e.violatedDirective + ": " + e.sample));"""
LABELS = [f"model={tagged('model one')}", f"model={tagged('model two')}"]


def watched(context, tmp_path):
    """Dialogs opened in any page of the context (each dismissed) and CSP violations per page."""
    dialogs = []
    context.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    context.add_init_script(WATCH)
    return dialogs


def nothing_ran(page, dialogs, errors) -> None:
    page.wait_for_timeout(300)  # an image's error event, a <details>' toggle: they come async
    assert page.evaluate("window.__pwned") is None
    assert dialogs == [] and page.evaluate("window.__violations") == [] and errors == [], (
        dialogs, page.evaluate("window.__violations"), errors)


def test_the_offline_page_runs_nothing_and_shows_every_field(tmp_path):
    runs, out = hostile_page(tmp_path)
    with browser(tmp_path / "profile") as context:
        dialogs = watched(context, tmp_path)
        page, blocked, errors = open_offline(context, out)
        assert page.title() == "collectkit explorer: " + ", ".join(LABELS)
        assert page.locator("#note").text_content() == f"This file holds 2 of 2 problems of run {LABELS[0]}."
        runs_box = page.get_by_test_id("filter-run")
        assert runs_box.locator("option").all_text_contents() == [f"run: {label}" for label in LABELS]
        for index, run in enumerate(("one", "two")):
            runs_box.select_option(index=index)
            rows = page.get_by_test_id("problem-row")
            assert rows.count() == 2
            for number in range(2):
                row = rows.nth(number)
                assert row.get_attribute("title") == tagged(f"unique_id {number}")
                text = row.text_content()
                for field in (f"dataset {number}", f"category {run}{number}"):
                    assert tagged(field) in text, (field, text)
                row.click()
                nothing_ran(page, dialogs, errors)
                view = page.locator("#view [data-testid=problem]")
                shown = view.text_content()
                for expected in expected_texts(number):
                    assert expected in shown, (expected, shown)
                marks = view.locator("mark.ck-extracted-answer")
                assert marks.all_text_contents() == [  # each run's wrong answer, then its right
                    tagged(f"extracted_answer one{number}"), "2",
                    tagged(f"extracted_answer two{number}"), "2"]
                assert all(marks.nth(i).is_visible() for i in range(4))
            categories = page.get_by_test_id("filter-category")
            every = [tagged(f"category {r}{n}") for r in ("one", "two") for n in range(2)]
            assert categories.locator("option").all_text_contents()[1:] == sorted(every)
            wanted = [tagged(f"category {run}{n}") for n in range(2)]
            categories.select_option(value=wanted[1])
            assert page.get_by_test_id("count").text_content().strip() == "1 of 2 problems"
            categories.select_option(index=0)  # "category: all"
        page.keyboard.press("j")
        nothing_ran(page, dialogs, errors)
        assert blocked == []
        assert page.locator("img, svg, iframe").count() == 0


def test_the_widgets_html_runs_nothing_and_shows_every_field(tmp_path):
    explorer = Explorer.open(*hostile_runs(tmp_path), html_path=tmp_path / "saved.html")
    shown = [(explorer.count.value, ["2 of 2 problems"])]
    for label in LABELS:
        explorer.run.value = label
        for number in range(2):
            explorer.show(number)
            shown.append((explorer.view.value, expected_texts(number)))
    explorer.run.value = LABELS[0]
    explorer.category.value = tagged("category one1")  # the case: the Save HTML line
    assert explorer.save_html()["kept"] == 1
    shown.append((explorer.saved.value, [str(tmp_path / "saved.html"), tagged("category one1"),
                                         LABELS[0]]))
    cannot = tmp_path / "saved.html" / ATTACK / "x.html"  # under a file: cannot be written
    explorer.html_path.value = str(cannot)
    assert explorer.save_html() == {}
    shown.append((explorer.saved.value, ["error: cannot", str(tmp_path / "saved.html")]))
    blank = tmp_path / "blank.html"
    blank.write_text("<!DOCTYPE html><html><body></body></html>")  # `src=x` resolves, fails
    with browser(tmp_path / "profile") as context:
        dialogs = watched(context, tmp_path)
        page = context.new_page()
        errors = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(blank.as_uri())
        for number, (html, texts) in enumerate(shown):
            page.evaluate("""([number, html]) => {
                const host = document.createElement("div");  // ipywidgets' HTML view
                host.id = "host" + number;
                document.body.appendChild(host);
                host.innerHTML = html;
            }""", [number, html])
        nothing_ran(page, dialogs, errors)
        for number, (html, texts) in enumerate(shown):
            text = page.locator(f"#host{number}").text_content()
            for expected in texts:
                assert expected in text, (expected, text)
        assert page.locator("img, svg, iframe").count() == 0
