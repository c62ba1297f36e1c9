"""The explorer in a real Chromium: the notebook widget in JupyterLab (notebook 04, after Run All)
and the offline HTML file opened from file:// with every other URL aborted.

Both are driven the same way: narrow the list to one problem known from the processed file (the
question search, then a filter that keeps it), check the count the page shows against
collectkit.explore, click the problem, and check its k responses appear with each extracted answer
highlighted (a visible <mark> holding exactly that answer).
"""
from __future__ import annotations

import json
from pathlib import Path

from collectkit.explorer.data import Explore, locate_answer


def pick_problem(processed: Path) -> tuple[dict, str, str]:
    """(row, filter that keeps it, search text): the first problem with an extracted answer."""
    rows = [json.loads(line) for line in processed.read_text(encoding="utf-8").splitlines()]
    for row in rows:
        responses = row["responses"]
        if any(r.get("extracted_answer") is not None for r in responses):
            name = "wrong" if not all(r["is_correct"] for r in responses) else "correct"
            return row, name, row["problem"].strip().split("\n")[0][:40].strip()
    raise AssertionError(f"{processed}: no response has an extracted answer")


def expected_marks(row: dict) -> list[str]:
    return [r["full_response"][slice(*span)] for r in row["responses"]
            if (span := locate_answer(r["full_response"], r.get("extracted_answer"),
                                      bool(row.get("is_mcq"))))]


def check_problem_view(view, row: dict) -> None:
    """The problem's k responses (of the first run's column), each extracted answer visible in
    a mark."""
    view = view.locator(".ck-run").first
    responses = view.locator("[data-testid=response]")
    responses.first.wait_for(timeout=30_000)
    assert responses.count() == len(row["responses"]), (responses.count(), row["unique_id"])
    marks = view.locator("mark.ck-extracted-answer[data-testid=extracted-answer]")
    wanted = expected_marks(row)
    assert wanted and marks.all_inner_texts() == wanted, (marks.all_inner_texts(), wanted)
    for index in range(marks.count()):
        assert marks.nth(index).is_visible()


def use_the_explorer(page, processed: Path) -> Path:
    """In notebook 04: search, filter, click the problem, check it; Save HTML. Returns the file."""
    row, name, search = pick_problem(processed)
    data = Explore.load([processed])
    explorer = page.panel.locator(".ck-explorer")
    explorer.wait_for(timeout=60_000)
    count = explorer.locator(".ck-count")
    assert count.inner_text().strip() == f"{len(data.select())} of {len(data.select())} problems"
    box = explorer.locator(".ck-filter-search input")
    box.fill(search)
    box.press("Enter")
    kept = data.select([name], search=search)
    explorer.locator(f".ck-filter-{name}").click()
    count.filter(has_text=f"{len(kept)} of").wait_for(timeout=30_000)
    index = list(kept["unique_id"]).index(row["unique_id"])
    explorer.locator(".ck-problem-row").nth(index).click()
    check_problem_view(explorer.locator(".ck-view"), row)
    explorer.locator(".ck-save-html").click()
    explorer.locator(".ck-save-status").filter(has_text="wrote").wait_for(timeout=30_000)
    box.fill("")  # the search cleared: every problem the filter keeps, the same one opened
    box.press("Enter")
    kept = data.select([name])
    count.filter(has_text=f"{len(kept)} of").wait_for(timeout=30_000)
    explorer.locator(".ck-problem-row").nth(list(kept["unique_id"]).index(row["unique_id"])).click()
    check_problem_view(explorer.locator(".ck-view"), row)
    return processed.parent / "explorer.html"


def screenshot_explorer(page, path: Path, height: int = 1100) -> None:
    """The explorer's top `height` pixels (filters, list, the open problem) for the README."""
    page.page.set_viewport_size({"width": 1280, "height": height})
    explorer = page.panel.locator(".ck-explorer")
    explorer.evaluate("element => element.scrollIntoView({block: 'start'})")
    page.page.wait_for_timeout(300)
    box = explorer.bounding_box()
    page.page.screenshot(path=str(path), clip={
        "x": box["x"], "y": box["y"], "width": box["width"],
        "height": min(box["height"], height - box["y"])})
    page.page.set_viewport_size({"width": 1280, "height": 900})


def open_offline(context, path: Path):
    """The file in a new page, every non-file URL aborted; (page, blocked URLs, console errors)."""
    page = context.new_page()
    blocked, errors = [], []

    def route(request_route):
        url = request_route.request.url
        if url.startswith("file://"):
            request_route.continue_()
        else:
            blocked.append(url)
            request_route.abort()

    page.route("**/*", route)
    page.on("console", lambda message: errors.append(message.text)
            if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(path.resolve().as_uri())
    page.get_by_test_id("count").wait_for(timeout=30_000)
    return page, blocked, errors


def check_offline_file(context, path: Path, processed: Path) -> None:
    """The exported file: the same problem found by search and filter, shown with its marks."""
    row, name, search = pick_problem(processed)
    page, blocked, errors = open_offline(context, path)
    data = Explore.load([processed])
    page.get_by_test_id("filter-search").fill(search)
    page.get_by_test_id(f"filter-{name}").click()
    kept = data.select([name], search=search)
    assert page.get_by_test_id("count").inner_text().strip().startswith(f"{len(kept)} of")
    index = list(kept["unique_id"]).index(row["unique_id"])
    page.get_by_test_id("problem-row").nth(index).click()
    check_problem_view(page.locator("#view"), row)
    page.keyboard.press("k")  # keyboard navigation does not break the page
    assert not errors and not blocked, (errors, blocked)
    page.close()
