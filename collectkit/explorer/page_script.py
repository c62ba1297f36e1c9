"""The script of the offline explorer file (explore_html.export inlines it; no library, no CDN).

It reads the JSON embedded in the page — rows `[run, view, dataset, category, level, id, preview,
n, right, tokens, score, flags]`, `flags` bit i set when the row passes filter i (computed in
Python by collectkit.explorer.data, so the file and the notebook agree) — and filters, sorts, pages and
shows the problem views Python rendered (escaped) into inert <template class="ck-source">
elements, by cloning them; it never sets innerHTML, and every text it adds is textContent.
Keys: j / ↓ next problem, k / ↑ previous, n / → next page, p / ← previous page.
"""

SCRIPT = r"""
(function () {
  "use strict";
  const D = JSON.parse(document.getElementById("ck-data").textContent);
  const sources = document.querySelectorAll("template.ck-source");
  const S = {run: 0, benchmark: "", category: "", level: "", search: "", sort: "file",
             on: new Set(), page: 0, current: -1};
  const SORTS = {pass_rate: [10, 1], pass_rate_desc: [10, -1], tokens: [9, 1], tokens_desc: [9, -1]};
  let shown = [];
  const bar = document.getElementById("bar"), list = document.getElementById("list"),
        view = document.getElementById("view");

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function select(testid, label, values, key, names) {
    const box = el("select", {"data-testid": testid, "aria-label": label});
    box.appendChild(el("option", {value: ""}, label + ": all"));
    values.forEach((v, i) => box.appendChild(el("option", {value: String(v)}, names ? names[i] : String(v))));
    box.addEventListener("change", () => { S[key] = key === "run" ? Number(box.value || 0) : box.value; apply(true); });
    bar.appendChild(box);
    return box;
  }
  function controls() {
    if (D.runs.length > 1) {
      const runs = select("filter-run", "run", D.runs.map((_, i) => i), "run", D.runs.map(r => "run: " + r));
      runs.firstChild.remove();
    }
    select("filter-benchmark", "benchmark", D.options.benchmark, "benchmark");
    select("filter-category", "category", D.options.category, "category");
    select("filter-level", "level", D.options.level, "level");
    const search = el("input", {type: "search", placeholder: "search the questions",
                                "data-testid": "filter-search", "aria-label": "search"});
    search.addEventListener("input", () => { S.search = search.value.toLowerCase(); apply(true); });
    bar.appendChild(search);
    const sort = el("select", {"data-testid": "sort", "aria-label": "sort"});
    D.sorts.forEach(([name, label]) => sort.appendChild(el("option", {value: name}, "sort: " + label)));
    sort.addEventListener("change", () => { S.sort = sort.value; apply(true); });
    bar.appendChild(sort);
    bar.appendChild(el("br"));
    D.filters.forEach(([name, meaning], bit) => {
      if (name === "flipped" && D.runs.length < 2) return;
      const button = el("button", {"data-testid": "filter-" + name.replace(/_/g, "-"),
                                   "aria-pressed": "false", title: meaning}, name.replace(/_/g, " "));
      button.addEventListener("click", () => {
        if (S.on.has(bit)) S.on.delete(bit); else S.on.add(bit);
        button.setAttribute("aria-pressed", String(S.on.has(bit)));
        apply(true);
      });
      bar.appendChild(button);
    });
    bar.appendChild(el("span", {"data-testid": "count", id: "count"}));
    bar.appendChild(el("div", {id: "note"}, "This file holds " + D.note + "."));
  }
  function keep(r) {
    if (r[0] !== S.run) return false;
    if (S.benchmark && r[2] !== S.benchmark) return false;
    if (S.category && r[3] !== S.category) return false;
    if (S.level && String(r[4]) !== S.level) return false;
    for (const bit of S.on) if (!(r[11] & (1 << bit))) return false;
    return !S.search || D.questions[r[1]].includes(S.search);
  }
  function apply(reset) {
    shown = D.rows.filter(keep);
    const how = SORTS[S.sort];
    if (how) {
      const [col, dir] = how;
      shown.sort((a, b) => (a[col] === null) - (b[col] === null) || dir * ((a[col] ?? 0) - (b[col] ?? 0)));
    }
    if (reset) { S.page = 0; S.current = -1; }
    const total = D.rows.filter(r => r[0] === S.run).length;
    document.getElementById("count").textContent = " " + shown.length + " of " + total + " problems";
    drawList();
  }
  function pages() { return Math.max(1, Math.ceil(shown.length / D.page)); }
  function drawList() {
    list.replaceChildren();
    const start = S.page * D.page;
    shown.slice(start, start + D.page).forEach((r, i) => {
      const row = el("div", {"class": "row", "data-testid": "problem-row", tabindex: "0",
                             "aria-selected": String(start + i === S.current)});
      row.appendChild(el("span", {"class": "score"}, r[8] + "/" + r[7]));
      row.appendChild(document.createTextNode(r[2] + " · " + r[3] + (r[4] === null ? "" : " · L" + r[4]) + " · " + r[6]));
      row.title = r[5];
      row.addEventListener("click", () => show(start + i));
      list.appendChild(row);
    });
    const pager = el("div", {"class": "pager"});
    const prev = el("button", {"data-testid": "page-prev"}, "◀ page"), next = el("button", {"data-testid": "page-next"}, "page ▶");
    prev.addEventListener("click", () => turn(-1));
    next.addEventListener("click", () => turn(1));
    pager.append(prev, el("span", {}, " " + (S.page + 1) + " / " + pages() + " "), next);
    list.appendChild(pager);
  }
  function turn(step) {
    const page = Math.min(pages() - 1, Math.max(0, S.page + step));
    if (page !== S.page) { S.page = page; drawList(); }
  }
  function show(i) {
    if (i < 0 || i >= shown.length) return;
    S.current = i;
    view.replaceChildren(sources[shown[i][1]].content.cloneNode(true));
    if (Math.floor(i / D.page) !== S.page) S.page = Math.floor(i / D.page);
    drawList();
  }
  document.addEventListener("keydown", (e) => {
    if (e.target.closest("input, select, textarea") || e.ctrlKey || e.metaKey || e.altKey) return;
    const step = {j: 1, ArrowDown: 1, k: -1, ArrowUp: -1}[e.key];
    const page = {n: 1, ArrowRight: 1, p: -1, ArrowLeft: -1}[e.key];
    if (step) { show(Math.max(0, S.current + step)); e.preventDefault(); }
    else if (page) { turn(page); e.preventDefault(); }
  });
  controls();
  apply(true);
})();
"""
