"""The explorer's problem view as HTML (shared by the notebook widget) and the offline HTML file.

`export` writes ONE self-contained file: inline CSS and JS, the data embedded as JSON, no CDN, no
server — it opens from file://, in Colab's file browser, as an e-mail attachment. Each problem's
view is rendered here, in Python (every value from a file escaped: they are untrusted), and sits in
the page as an inert <template>; the file's script only filters, sorts, pages and shows (it builds
its DOM with textContent, never innerHTML), the JSON it reads cannot close its <script> tag, and a
Content-Security-Policy lets only the page's own script run and nothing be fetched. Elements carry `data-testid` (problem-row, filter-<name>, response,
extracted-answer, count) and `ck-…` classes for tests. A run too large for one file is cut at
`max_mb` (and `max_problems`), and the file and the return value say what was kept; each view is
written out as it is rendered (never all held at once). An existing
file is replaced only if it is an explorer page the kit wrote (it starts with PAGE_START), never
through a link that leads out of its folder.
"""
from __future__ import annotations

import base64
import errno
import hashlib
import json
import math
from collections import Counter
from html import escape
from pathlib import Path
from typing import Any

import pandas as pd

from collectkit.store import limits as file_limits
from collectkit.explorer.data import FILTERS, SORT_LABELS, Explore, locate_answer
from collectkit.explorer.page_script import SCRIPT
from collectkit.explorer.sources import vote_key
from collectkit.store.append import StoreError, atomic_file, os_errors

PAGE_SIZE = 25
# How every explorer page the kit writes begins (and the older pages, before the CSP line):
# a page is replaced only if it begins so.
PAGE_START = ('<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
              '<meta name="generator" content="collectkit explorer">')
KIT_PAGE_STARTS = (PAGE_START, '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>'
                   'collectkit explorer: ')
TEMPLATE_START, TEMPLATE_END = b'<template class="ck-source">', b"</template>"  # one problem view
FOLD_AFTER_CHARS, KEEP_BEFORE_CHARS = 2_000, 1_200  # fold a long text before the answer
STYLE = """
.ck-problem{font:14px/1.45 system-ui,sans-serif;color:#1b1b1b}
.ck-head{color:#555;font-size:12px;margin-bottom:4px}
.ck-question,.ck-text{white-space:pre-wrap;word-break:break-word}
.ck-question{background:#f6f6f6;border-left:3px solid #888;padding:6px 10px}
.ck-choices li.ck-gold-choice{font-weight:600}
.ck-gold{margin:6px 0}
.ck-runs{display:flex;gap:10px;align-items:flex-start}
.ck-run{flex:1;min-width:0}
.ck-run-head{font-weight:600;margin:6px 0}
.ck-response{border:1px solid #ddd;border-left:5px solid #c62828;border-radius:4px;margin:6px 0;padding:6px 8px}
.ck-response.ck-right{border-left-color:#2e7d32}
.ck-meta{font-size:12px;color:#444;margin-bottom:4px}
.ck-text{font-family:ui-monospace,monospace;font-size:12.5px}
mark.ck-extracted-answer{background:#ffe066;outline:2px solid #f0a500;padding:0 1px}
.ck-reasoning summary,.ck-earlier summary{cursor:pointer;color:#555;font-size:12px}
"""
PAGE_STYLE = """
body{margin:0;font:14px system-ui,sans-serif}
#bar{position:sticky;top:0;background:#fff;border-bottom:1px solid #ccc;padding:8px;z-index:1}
#bar select,#bar input,#bar button{margin:2px 4px 2px 0}
button[aria-pressed=true]{background:#1565c0;color:#fff}
#note{color:#8a4b00;font-size:12px}
#main{display:flex}
#list{width:34%;border-right:1px solid #ddd;padding:6px;box-sizing:border-box}
#view{flex:1;padding:8px;min-width:0}
.row{padding:4px 6px;border-bottom:1px solid #eee;cursor:pointer;font-size:13px}
.row[aria-selected=true]{background:#e3f2fd}
.row .score{display:inline-block;width:3.2em;font-weight:600}
"""


def _level(row: dict[str, Any]) -> str:
    return f" · level {escape(str(row['level']))}" if row.get("level") is not None else ""


def _marked(text: str, span: tuple[int, int] | None) -> str:
    """The response text with its extracted answer in a <mark>; a long text before the answer
    is folded so the answer is always in view."""
    if span is None:
        return f'<div class="ck-text">{escape(text)}</div>'
    start, end = span
    folded, cut = "", 0
    if start > FOLD_AFTER_CHARS:
        cut = text.find("\n", start - KEEP_BEFORE_CHARS, start) + 1 or start - KEEP_BEFORE_CHARS
        folded = (f'<details class="ck-earlier"><summary>{cut:,} earlier characters</summary>'
                  f'<div class="ck-text">{escape(text[:cut])}</div></details>')
    return (f'{folded}<div class="ck-text">{escape(text[cut:start])}<mark class="ck-extracted-answer" '
            f'data-testid="extracted-answer">{escape(text[start:end])}</mark>'
            f'{escape(text[end:])}</div>')


def render_response(number: int, response: dict[str, Any], votes: Counter, is_mcq: bool) -> str:
    text = str(response.get("full_response") or "")
    answer = response.get("extracted_answer")
    right = bool(response.get("is_correct"))
    span = locate_answer(text, answer, is_mcq)
    tokens = (response.get("usage") or {}).get("completion_tokens")
    meta = [f"#{number}", "✓ right" if right else "✗ wrong"]
    if answer is None:
        meta.append("no answer extracted (unparsed)")
    else:
        group = "the right answer" if right else f"group {escape(str(response.get('answer_group')))}"
        meta.append(f"answer <code>{escape(str(answer))}</code> ({group}, "
                    f"{votes[vote_key(response)]} of {sum(votes.values())} votes)")
        if span is None:
            meta.append("not found verbatim in the text")
    meta.append(f"{escape(str(tokens)) if tokens is not None else '?'} tokens")
    meta.append(f"finish {escape(str(response.get('finish_reason')))}")
    reasoning = str(response.get("reasoning_content") or "")
    folded = (f'<details class="ck-reasoning"><summary>reasoning ({len(reasoning):,} chars)'
              f'</summary><div class="ck-text">{escape(str(reasoning))}</div></details>'
              if reasoning else "")
    return (f'<div class="ck-response ck-{"right" if right else "wrong"}" data-testid="response">'
            f'<div class="ck-meta">{" · ".join(meta)}</div>{folded}'
            f'{_marked(text, span)}</div>')


def render_problem(data: Explore, key: str) -> str:
    """One problem: question (choices), gold, and each run's k responses side by side."""
    found = [(label, data.row(label, key)) for label in data.labels]
    found = [(label, row) for label, row in found if row is not None]
    if not found:
        return '<div class="ck-problem">no such problem</div>'
    head = found[0][1]
    is_mcq = bool(head.get("is_mcq") or head.get("choices"))
    parts = [f'<div class="ck-problem" data-testid="problem"><div class="ck-head">'
             f'{escape(str(head.get("unique_id")))} · {escape(str(head.get("dataset")))} · '
             f'{escape(str(head.get("category")))}{_level(head)}</div>'
             f'<div class="ck-question">{escape(str(head.get("problem") or head.get("question") or ""))}</div>']
    choices = head.get("choices") or []
    if choices:
        gold_index = head.get("choice_index_correct")
        parts.append('<ol class="ck-choices" type="A">' + "".join(
            f'<li{" class=ck-gold-choice" if i == gold_index else ""}>{escape(str(c))}</li>'
            for i, c in enumerate(choices)) + "</ol>")
    parts.append(f'<div class="ck-gold">gold answer: <b>{escape(str(head.get("answer_correct")))}'
                 "</b></div><div class=\"ck-runs\">")
    for label, row in found:
        responses = row.get("responses") or []
        votes = Counter(vote_key(r) for r in responses)
        votes.pop(None, None)
        right = sum(bool(r.get("is_correct")) for r in responses)
        parts.append(f'<div class="ck-run"><div class="ck-run-head">{escape(label)}: {right} of '
                     f'{len(responses)} right · {escape(str(row.get("attempts", 1)))} attempt(s)</div>')
        parts += [render_response(i, r, votes, is_mcq) for i, r in enumerate(responses, 1)]
        parts.append("</div>")
    parts.append("</div></div>")
    return "".join(parts)


def describe(selection: dict[str, Any]) -> str:
    """The selection in words ("" when it keeps everything)."""
    parts = [f"filter {name}" for name in selection.get("filters") or []]
    parts += [f"{name} {selection[name]!s}" for name in ("benchmark", "category", "level")
              if selection.get(name) not in (None, "")]
    if selection.get("search"):
        parts.append(f"question contains {selection['search']!r}")
    return ", ".join(parts)


def export(data: Explore, path: str | Path, selection: dict[str, Any] | None = None,
           max_problems: int | None = None, max_mb: float = 25.0) -> dict[str, Any]:
    """Write the explorer of the selected problems to `path`; returns bytes, kept, total, note.
    Each problem's view is rendered and written out in turn (through a temporary file beside
    `path`, renamed at the end), so no more than one view is held at a time."""
    path = Path(path)
    refuse_to_replace(path)
    with os_errors(path):
        special = path.exists() and not path.is_file()
    if special:  # a folder, or a device such as /dev/full: the atomic rename would replace it
        raise StoreError(f"cannot write {path}: it is not a regular file; give an .html file path")
    selection = dict(selection or {})
    run = selection.get("run") or data.labels[0]
    chosen = data.select(selection.get("filters") or (), run=run,
                         benchmark=selection.get("benchmark"), category=selection.get("category"),
                         level=selection.get("level"), search=selection.get("search") or "",
                         sort=selection.get("sort") or "file")
    total, keys, cuts = len(data.by_run[run]), list(chosen["key"]), []
    if max_problems is not None and len(keys) > max_problems:
        keys, cuts = keys[:max_problems], [f"--max-problems {max_problems}"]
    kept: list[str] = []
    size, budget = 0, max_mb * 1e6
    with atomic_file(path) as out:
        written = out.write(page_head(data).encode())
        for key in keys:
            view = render_problem(data, key).encode()
            size += len(view)
            if kept and size > budget:
                cuts.append(f"--max-mb {max_mb:g}")
                break
            kept.append(key)
            written += out.write(TEMPLATE_START + view + TEMPLATE_END)
        where = describe(selection)
        order = SORT_LABELS.get(selection.get("sort") or "file", "file order")
        note = (f"{len(kept)} of {total} problems"
                + (f" of run {run}" if len(data.labels) > 1 else "")
                + (f"; kept: {where}" if where else "")
                + (f"; the first {len(kept)} of {len(chosen)} in {order} ({', '.join(cuts)})"
                   if cuts else ""))
        written += out.write(page_tail(data, kept, note).encode())
    return {"bytes": written, "kept": len(kept), "total": total, "note": note}


def refuse_to_replace(path: Path) -> None:
    """OSError (its strerror one line) unless `path` is free or an explorer page the kit wrote;
    a link leading out of its folder is refused, dangling or not."""
    leads_out = file_limits.link_out(path)
    if leads_out:
        raise OSError(errno.EPERM, leads_out.replace(f"{path} is ", "it is ", 1))
    if not path.is_file():
        return  # free (a folder fails on its own, as IsADirectoryError)
    with open(path, "rb") as handle:
        start = handle.read(max(len(kind.encode()) for kind in KIT_PAGE_STARTS))
    if not any(start.startswith(kind.encode()) for kind in KIT_PAGE_STARTS):
        raise FileExistsError(errno.EEXIST, "it exists and is not an explorer page the kit "
                              "wrote; the kit does not replace it: choose another path")


def _number(value: Any) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


def page_html(data: Explore, views: list[tuple[str, str]], note: str) -> str:
    """The whole page of these (key, view) problem views (export writes the same, in parts)."""
    start, end = TEMPLATE_START.decode(), TEMPLATE_END.decode()
    sources = "".join(f"{start}{view}{end}" for _, view in views)
    return page_head(data) + sources + page_tail(data, [key for key, _ in views], note)


def page_head(data: Explore) -> str:
    """The page up to its problem views."""
    title = escape(", ".join(data.labels))
    return (f'{PAGE_START}'
            f'<meta http-equiv="Content-Security-Policy" content="{POLICY}"><title>collectkit '
            f'explorer: {title}</title><link rel="icon" href="data:,"><style>{PAGE_CSS}</style>'
            f'</head><body><div id="bar"></div><div id="main">'
            f'<div id="list"></div><div id="view"><p>Click a problem (or press j / k).</p></div>'
            f'</div>')


def page_tail(data: Explore, keys: list[str], note: str) -> str:
    """The page after its problem views (of these keys, in this order): the data and the script."""
    index = {key: i for i, key in enumerate(keys)}
    kept = data.table[data.table["key"].isin(index)]
    flags = sum(kept[name].astype(int) * (1 << bit) for bit, name in enumerate(FILTERS))
    rows = [[data.labels.index(r.run), index[r.key], r.dataset, str(r.category),
             None if pd.isna(r.level) else int(r.level), str(r.unique_id),
             r.preview, int(r.n), int(r.n_right), _number(r.tokens), _number(r.score), int(f)]
            for r, f in zip(kept.itertuples(index=False), flags)]
    questions = dict(zip(kept["key"], kept["search_text"]))
    payload = {"note": note, "runs": data.labels, "page": PAGE_SIZE,
               "filters": [[name, meaning] for name, meaning in FILTERS.items()],
               "sorts": list(SORT_LABELS.items()), "rows": rows,
               "questions": [questions[key] for key in keys],
               "options": {"benchmark": sorted(kept["dataset"].astype(str).unique()),
                           "category": sorted(kept["category"].astype(str).unique()),
                           "level": sorted(int(v) for v in kept["level"].dropna().unique())}}
    return (f'<script type="application/json" id="ck-data">{script_json(payload)}'
            f"</script><script>{SCRIPT}</script></body></html>")


def script_json(value: Any) -> str:
    """JSON to embed in a <script> element: no `</script>`, `<!--` or `]]>` can end or bend the
    element, and U+2028/U+2029 (line ends to older JavaScript) are escaped too."""
    text = json.dumps(value, ensure_ascii=False)
    for char in "<>&\u2028\u2029":
        text = text.replace(char, f"\\u{ord(char):04x}")
    return text


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


PAGE_CSS = STYLE + PAGE_STYLE
# Only the page's own script and style, by hash: a tag or handler that slipped into the data
# (inline, or inserted) is refused, and nothing is fetched (the file works offline).
POLICY = (f"default-src 'none'; script-src {_sha256(SCRIPT)}; style-src {_sha256(PAGE_CSS)}; "
          "img-src data:; base-uri 'none'; form-action 'none'")
