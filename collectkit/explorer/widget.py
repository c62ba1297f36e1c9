"""The explorer as ipywidgets, for notebooks 04 and 05 (and Colab):

    from collectkit.explorer.widget import Explorer
    Explorer.open(processed_file)          # or Explorer(runs) with compare.load_runs' dict

Filters, sort and search run on the pandas frame of `collectkit.explorer.data` and the list is paged
(a fixed pool of row buttons), so a run of 12,000 problems x 8 answers stays quick. Elements carry
`ck-…` classes for browser tests: ck-problem-row, ck-filter-<name>, ck-count, and, in the problem
view, ck-response and ck-extracted-answer. "Save HTML" writes the offline file of the problems
the filters keep (collectkit.explorer.html).
"""
from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any, Iterable

import ipywidgets as widgets

from collectkit.explorer.data import FILTERS, SORT_LABELS, Explore, page
from collectkit.explorer.html import STYLE, export, render_problem
from collectkit.store.append import StoreError

PAGE_SIZE = 20
ROW_STYLE = """<style>
.ck-problem-row{width:100%} .ck-problem-row button,.ck-problem-row{justify-content:flex-start}
.ck-problem-row .widget-label-basic,.ck-problem-row{text-align:left;overflow:hidden}
</style>"""
ANY = "(all)"


def _css_name(name: str) -> str:
    return name.replace("_", "-")


class Explorer:
    """One explorer over one or more runs (label -> graded rows); display it as a widget."""

    def __init__(self, runs: dict[str, list[dict[str, Any]]] | Explore,
                 html_path: str | Path = "explorer.html") -> None:
        self.data = runs if isinstance(runs, Explore) else Explore(runs)
        self.page_number, self.current = 0, -1
        self.selected = self.data.select()
        self._build(str(html_path))
        self.refresh()

    @classmethod
    def open(cls, *paths: str | Path, labels: Iterable[str] | None = None,
             html_path: str | Path | None = None) -> "Explorer":
        """Processed (or raw) results files or folders, one run each."""
        data = Explore.load(paths, list(labels) if labels else None)
        first = Path(paths[0])
        default = (first if first.is_dir() else first.parent) / "explorer.html"
        return cls(data, html_path or default)

    # ------------------------------------------------------------------ layout
    def _dropdown(self, name: str, values: list, description: str) -> widgets.Dropdown:
        box = widgets.Dropdown(options=[ANY] + [str(v) for v in values], value=ANY,
                               description=description, layout=widgets.Layout(width="230px"))
        box.add_class(f"ck-filter-{name}")
        box.observe(lambda _: self.refresh(), names="value")
        return box

    def _build(self, html_path: str) -> None:
        data = self.data
        options = data.options()
        self.run = widgets.Dropdown(options=data.labels, value=data.labels[0], description="run",
                                    layout=widgets.Layout(width="260px",
                                                          display=None if len(data.labels) > 1 else "none"))
        self.run.add_class("ck-filter-run")
        self.run.observe(lambda _: self.refresh(), names="value")
        self.benchmark = self._dropdown("benchmark", options["benchmark"], "benchmark")
        self.category = self._dropdown("category", options["category"], "category")
        self.level = self._dropdown("level", options["level"], "level")
        self.search = widgets.Text(placeholder="search the questions", description="search",
                                   continuous_update=False, layout=widgets.Layout(width="300px"))
        self.search.add_class("ck-filter-search")
        self.search.observe(lambda _: self.refresh(), names="value")
        self.sort = widgets.Dropdown(options=[(label, name) for name, label in SORT_LABELS.items()],
                                     value="file", description="sort")
        self.sort.add_class("ck-sort")
        self.sort.observe(lambda _: self.refresh(), names="value")
        self.toggles = {}
        for name, meaning in FILTERS.items():
            toggle = widgets.ToggleButton(description=name.replace("_", " "), tooltip=meaning,
                                          layout=widgets.Layout(width="auto"),
                                          disabled=name == "flipped" and len(data.labels) < 2)
            toggle.add_class(f"ck-filter-{_css_name(name)}")
            toggle.observe(lambda _: self.refresh(), names="value")
            self.toggles[name] = toggle
        self.count = widgets.HTML()
        self.count.add_class("ck-count")
        self.rows = []
        for index in range(PAGE_SIZE):
            row = widgets.Button(layout=widgets.Layout(width="100%", height="auto"))
            row.add_class("ck-problem-row")
            row.on_click(lambda _, index=index: self.show(self.page_number * PAGE_SIZE + index))
            self.rows.append(row)
        self.page_label = widgets.Label()
        buttons = {}
        for name, text, step in (("page-prev", "◀ page", -1), ("page-next", "page ▶", 1),
                                 ("prev", "▲ problem", -1), ("next", "▼ problem", 1)):
            button = widgets.Button(description=text, layout=widgets.Layout(width="auto"))
            button.add_class(f"ck-{name}")
            button.on_click(lambda _, name=name, step=step: self.turn(step) if "page" in name
                            else self.show(max(0, self.current + step)))
            buttons[name] = button
        self.view = widgets.HTML("<p>Click a problem.</p>")
        self.view.add_class("ck-view")
        self.html_path = widgets.Text(value=html_path, description="HTML file",
                                      layout=widgets.Layout(width="420px", min_width="300px"))
        save = widgets.Button(description="Save HTML", icon="download",
                              layout=widgets.Layout(min_width="120px"))
        save.add_class("ck-save-html")
        save.on_click(lambda _: self.save_html())
        self.saved = widgets.HTML()
        self.saved.add_class("ck-save-status")
        listing = widgets.VBox([*self.rows, widgets.HBox([buttons["page-prev"], self.page_label,
                                                          buttons["page-next"]])],
                               layout=widgets.Layout(width="36%"))
        problem = widgets.VBox([widgets.HBox([buttons["prev"], buttons["next"]]), self.view],
                               layout=widgets.Layout(width="64%"))
        self.widget = widgets.VBox([
            widgets.HTML(ROW_STYLE + f"<style>{STYLE}</style>"),
            widgets.HBox([self.run, self.benchmark, self.category, self.level],
                         layout=widgets.Layout(flex_flow="row wrap")),
            widgets.HBox([self.search, self.sort]),
            widgets.HBox([*self.toggles.values(), self.count],
                         layout=widgets.Layout(flex_flow="row wrap")),
            widgets.HBox([listing, problem]),
            widgets.HBox([self.html_path, save, self.saved])])
        self.widget.add_class("ck-explorer")

    # ------------------------------------------------------------------ state
    def selection(self) -> dict[str, Any]:
        """The filters as explore.Explore.select takes them (and explore_html.export)."""
        def chosen(box):
            return None if box.value == ANY else box.value
        level = chosen(self.level)
        return {"filters": [name for name, toggle in self.toggles.items() if toggle.value],
                "run": self.run.value, "benchmark": chosen(self.benchmark),
                "category": chosen(self.category), "level": int(level) if level else None,
                "search": self.search.value.strip(), "sort": self.sort.value}

    def refresh(self) -> None:
        """Apply the filters: new count, first page, no problem chosen."""
        selection = self.selection()
        self.selected = self.data.select(selection.pop("filters"), **selection)
        total = len(self.data.by_run[self.run.value])
        self.count.value = f"<b>{len(self.selected)}</b> of {total} problems"
        self.page_number, self.current = 0, -1
        self.draw_page()

    def draw_page(self) -> None:
        shown, self.page_number, pages = page(self.selected, self.page_number, PAGE_SIZE)
        self.page_label.value = f"page {self.page_number + 1} of {pages}"
        records = shown.to_dict("records")
        for index, row in enumerate(self.rows):
            if index < len(records):
                r = records[index]
                level = "" if r["level"] is None or r["level"] != r["level"] else f" · L{r['level']}"
                row.description = (f"{r['n_right']}/{r['n']} · {r['dataset']} · {r['category']}"
                                   f"{level} · {r['preview']}")
                row.tooltip = str(r["unique_id"])
                row.button_style = "info" if self.page_number * PAGE_SIZE + index == self.current else ""
                row.layout.display = None
            else:
                row.layout.display = "none"

    def turn(self, step: int) -> None:
        self.page_number += step
        self.draw_page()

    def show(self, index: int) -> None:
        """Show the problem at `index` of the filtered list (and turn to its page)."""
        if not 0 <= index < len(self.selected):
            return
        self.current = index
        self.page_number = index // PAGE_SIZE
        self.view.value = render_problem(self.data, self.selected.iloc[index]["key"])
        self.draw_page()

    def save_html(self) -> dict[str, Any]:
        """Write the offline file of what the filters keep (run, filters, sort) to the path box."""
        path = self.html_path.value
        try:
            written = export(self.data, path, self.selection())
        except (OSError, StoreError) as exc:  # every text from a file or the user is escaped
            cause = getattr(exc, "strerror", None) or exc
            message = str(exc) if isinstance(exc, StoreError) else f"cannot write {path}: {cause}"
            self.saved.value = f"<span style='color:#c62828'>error: {escape(message)}</span>"
            return {}
        self.saved.value = escape(f"wrote {path} ({written['bytes'] / 1e6:.1f} MB): "
                                  f"{written['note']}")
        return written

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)
