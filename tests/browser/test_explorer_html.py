"""The offline explorer file in Chromium, from file:// with the network blocked: every filter
button's count against collectkit.explore, the run selector, a problem's responses with their
highlighted answers, keyboard navigation, no console errors. Real processed files (tests/data's
labeled outputs, graded by the CLI); no engine, no JupyterLab."""
from __future__ import annotations

from pathlib import Path

import pytest

from collectkit.explorer.data import Explore
from collectkit.cli import explore
from explorer_checks import check_offline_file, open_offline
from explore_support import labeled_runs
from lab import CHROMIUM, browser

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).is_file(),
                                reason="needs Debian's chromium: run make test-browser")


def test_offline_file_filters_and_shows_problems(tmp_path):
    a, b = labeled_runs(tmp_path)
    out = tmp_path / "explorer.html"
    assert explore.main([str(a), str(b), "--html", str(out)]) == 0
    data = Explore.load([a, b])
    with browser(tmp_path / "profile") as context:
        page, blocked, errors = open_offline(context, out)
        count = page.get_by_test_id("count")
        for run in data.labels:
            page.get_by_test_id("filter-run").select_option(label=f"run: {run}")
            for name, expected in data.counts(run).items():
                if name == "all":
                    assert count.inner_text().strip() == f"{expected} of {expected} problems"
                    continue
                button = page.get_by_test_id(f"filter-{name.replace('_', '-')}")
                button.click()
                assert count.inner_text().strip() == f"{expected} of 141 problems", (run, name)
                rows = page.get_by_test_id("problem-row").count()
                assert rows == min(expected, 25)
                button.click()
        page.get_by_test_id("filter-run").select_option(label="run: a")
        page.get_by_test_id("filter-all-right").click()
        page.get_by_test_id("problem-row").first.click()
        first = page.locator("#view [data-testid=response]").count()
        assert first == sum(len(data.row(run, data.select(["all_right"]).iloc[0]["key"])["responses"])
                            for run in data.labels)
        page.keyboard.press("j")
        assert page.locator("[data-testid=problem-row][aria-selected=true]").count() == 1
        assert not errors and not blocked, (errors, blocked)
        page.close()
        check_offline_file(context, out, a)
