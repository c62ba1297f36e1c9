"""Processed files whose every text field is hostile markup, for the explorer's escaping tests
(tests/explorer/test_explore_escaping.py, tests/browser/test_explorer_hostile.py).

`ATTACK` tries each way out: an element with a handler, a `</script>` that would close the page's
JSON, a quote and `>` that would leave an attribute, `</template>` (the page keeps its views in
templates), a comment opener, U+2028/U+2029 and `]]>`. Every handler sets `window.__pwned` and
opens a dialog, so a browser test sees any that ran. `tagged(field)` prefixes it with the field's
name, so a test can tell which field's text shows literally (or not).
`hostile_runs(folder)` writes two runs, `one/run.processed.jsonl` and `two/run.processed.jsonl`,
over the same problems (unique_id and dataset shared, every other text per run): same file name, so
the explorer labels them by their differing model (`model=[model one]…`) and the model name
reaches the run selector, the title and each run's column. `hostile_page(folder)` writes them
and the page of them with the real CLI (`collectkit explore … --html`).
"""
from __future__ import annotations

import json
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

from explore_support import REPO

ATTACK = ('<img src=x onerror="window.__pwned=1;alert(1)">'
          '</script><script>window.__pwned=2;alert(2)</script>'
          '"><svg onload="window.__pwned=3;alert(3)">'
          "'><details open ontoggle=\"window.__pwned=4;alert(4)\">"
          "</template><!--<script>window.__pwned=5</script>--> \u2028\u2029 ]]>")
SHARED_FIELDS = ("unique_id", "dataset")
ROW_FIELDS = ("category", "problem", "answer_correct", "choice A", "choice B")
# answer_group is an integer: a processed row holding markup there is refused on read
# (store/row_schema.py; test_explore_escaping.py::test_markup_in_answer_group_is_refused_on_read)
RESPONSE_FIELDS = ("full_response", "extracted_answer", "finish_reason", "reasoning_content")


def tagged(field: str) -> str:
    return f"[{field}]{ATTACK}"


def _row(run: str, number: int) -> dict:
    def value(field: str) -> str:
        return tagged(f"{field} {number}" if field in SHARED_FIELDS else f"{field} {run}{number}")

    answer = value("extracted_answer")
    wrong = {"full_response": value("full_response") + " so \\boxed{" + answer + "}",
             "extracted_answer": answer, "is_correct": False,
             "answer_group": 1, "finish_reason": value("finish_reason"),
             "reasoning_content": value("reasoning_content"), "model": value("model"),
             "usage": {"prompt_tokens": 10, "completion_tokens": 20}}
    right = {"full_response": "plain: \\boxed{2}", "extracted_answer": "2", "is_correct": True,
             "answer_group": 0, "finish_reason": "stop", "reasoning_content": None,
             "usage": {"prompt_tokens": 10, "completion_tokens": 5}}
    row = {field: value(field) for field in (*SHARED_FIELDS, *ROW_FIELDS[:3])}
    row.update({"level": 3, "is_mcq": False, "attempts": 1, "status": "ok",
                "choices": [value("choice A"), value("choice B")], "choice_index_correct": 1,
                "model": tagged(f"model {run}"), "protocol": "boxed", "responses": [wrong, right]})
    return row


def hostile_runs(folder: Path, problems: int = 2) -> tuple[Path, Path]:
    paths = []
    for run in ("one", "two"):
        path = folder / run / "run.processed.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(json.dumps(_row(run, i)) + "\n" for i in range(problems)),
                        encoding="utf-8")
        paths.append(path)
    return paths[0], paths[1]


def hostile_page(folder: Path) -> tuple[tuple[Path, Path], Path]:
    """(the two runs, the page) written by the real CLI: `collectkit explore … --html`."""
    runs = hostile_runs(folder)
    out = folder / "explorer.html"
    done = subprocess.run([sys.executable, "-m", "collectkit", "explore", *map(str, runs),
                           "--html", str(out)], cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return runs, out


def expected_texts(number: int) -> list[str]:
    """What problem `number`'s view must show as text: its id and question (of the first run,
    whose row heads the view) and both runs' columns."""
    return ([tagged(f"{field} {number}") for field in SHARED_FIELDS]
            + [tagged(f"{field} one{number}") for field in ROW_FIELDS]
            + [tagged(f"{field} {run}{number}") for run in ("one", "two")
               for field in RESPONSE_FIELDS]
            + [tagged("model one"), tagged("model two")])


# The markup the kit itself writes (page, problem views, widget HTML): anything else came from data.
ALLOWED = {"html": {"lang"}, "head": set(), "meta": {"charset", "http-equiv", "name", "content"},
           "title": set(), "link": {"rel", "href"}, "style": set(), "body": set(),
           "div": {"id", "class", "data-testid"}, "p": set(), "template": {"class"},
           "script": {"type", "id"}, "details": {"class"}, "summary": set(),
           "mark": {"class", "data-testid"}, "code": set(), "ol": {"class", "type"},
           "li": {"class"}, "b": set(), "span": {"style"}}


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, list[str]]] = []

    def handle_starttag(self, tag, attrs):
        self.found.append((tag, [name for name, _ in attrs]))


def foreign_markup(html: str) -> list[tuple[str, list[str]]]:
    """Elements or attributes in `html` that the kit never writes (as the browser's parser
    splits it: a `</script>` in the data would end the script there)."""
    parser = _Tags()
    parser.feed(html)
    parser.close()
    return [(tag, attrs) for tag, attrs in parser.found
            if tag not in ALLOWED or not set(attrs) <= ALLOWED[tag]]
