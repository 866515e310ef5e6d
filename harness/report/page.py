"""A report as one self-contained, offline, interactive HTML page: index.html.

What a dashboard gives, in one file with no network: a table of contents per section and task,
Plotly curves (harness.report.interactive: hover values, zoom, methods toggled in the legend,
per-seed curves from a dropdown), tables sorted by a click on their header (a few lines of own
JavaScript below), and from every table row that names runs a link to each run's folder,
manifest.json and run.log, relative to the report's folder. plotly.js is inlined once (~4.8 MB);
figures Plotly does not draw (critical-difference diagrams, op histograms) are the inline SVG
of harness.report.plots. Every user string is escaped: html.escape in the page, JSON with `<`,
`>`, `&` and `/` escaped inside scripts.

`#selftest` after the page's address makes the page check itself once loaded (count the charts,
sort a table by a click) and write the outcome as JSON into `<html data-selftest>`, which a
headless browser's `--dump-dom` shows (tests/test_report_html.py).
"""

from __future__ import annotations

import base64
import html
import math
import os
import re
from pathlib import Path
from urllib.parse import quote

from harness.report.document import TIE_MARK, Block
from harness.report.labels import PLOTS, REAL_MARK, method_title, slug

RUNS_TABLE_ID = "all-runs"  # the table of every run, one row each (the self-test sorts it)

_CSS = """
*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#222;background:#fff;\
line-height:1.45}
#toc{position:fixed;top:0;left:0;bottom:0;width:250px;overflow-y:auto;background:#f6f7f9;\
border-right:1px solid #dde;padding:1rem .8rem;font-size:.85rem}
#toc b{display:block;margin-bottom:.4rem;font-size:.95rem}
#toc ul{list-style:none;margin:0;padding:0}#toc ul ul{padding-left:.9rem;font-size:.8rem}
#toc a{display:block;padding:.12rem .3rem;color:#234;text-decoration:none;border-radius:3px;\
overflow:hidden;text-overflow:ellipsis;white-space:nowrap}#toc a:hover{background:#e3e8ef}
main{margin-left:250px;padding:1rem 2rem 4rem;max-width:1500px}
h1{border-bottom:2px solid #444;margin-top:.4rem}h2{border-bottom:1px solid #bbb;margin-top:2.4rem}
a.anchor{display:block;position:relative;top:-.6rem}
.tablewrap{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;margin:.6rem 0 1.2rem;font-size:.84rem}
th,td{border:1px solid #d4d4d4;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#eef1f5;position:sticky;top:0}
table.sortable th{cursor:pointer;user-select:none;white-space:nowrap}
table.sortable th::after{content:" \\2195";color:#aaa;font-size:.75em}
table.sortable th[aria-sort=ascending]::after{content:" \\2191";color:#333}
table.sortable th[aria-sort=descending]::after{content:" \\2193";color:#333}
tr:nth-child(even) td{background:#fafbfc}tbody tr:hover td{background:#fff7dd}
figure{margin:1rem 0 1.6rem}figure svg{max-width:100%;height:auto}
figcaption{font-size:.85rem;color:#555}figcaption a{color:#555}
code{background:#f2f2f2;padding:0 .2rem;border-radius:2px}
details summary{cursor:pointer;color:#1a5fb4;white-space:nowrap}details ul{margin:.2rem 0;padding-left:1rem}
td a{color:#1a5fb4}.muted{color:#777}
@media (max-width:900px){#toc{position:static;width:auto;border:0}main{margin-left:0}}
"""

# Sorting: a click on a header sorts by that column, ascending, then descending. A cell sorts by
# its data-sort attribute, else by its leading number, else by its text; cells without a value
# ("–", "?", empty) go last either way.
_JS = r"""
(function(){
'use strict';
function key(td){
  var raw=td.hasAttribute('data-sort')?td.getAttribute('data-sort'):td.textContent;
  var text=raw.trim();
  if(text===''||text==='\u2013'||text==='?'||text==='n/a')return {missing:true};
  var m=text.match(/^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?/i);
  return m?{num:parseFloat(m[0]),text:text}:{text:text.toLowerCase()};
}
function compare(a,b){
  if(a.missing||b.missing)return 0;
  if(a.num!==undefined&&b.num!==undefined)return a.num-b.num;
  if(a.num!==undefined)return -1;
  if(b.num!==undefined)return 1;
  return a.text<b.text?-1:a.text>b.text?1:0;
}
function sortBy(th){
  var table=th.closest('table'),body=table.tBodies[0],col=th.cellIndex;
  var dir=th.getAttribute('aria-sort')==='ascending'?'descending':'ascending',sign=dir==='ascending'?1:-1;
  Array.prototype.forEach.call(table.tHead.rows[0].cells,function(c){c.removeAttribute('aria-sort');});
  th.setAttribute('aria-sort',dir);
  var rows=Array.prototype.map.call(body.rows,function(r,i){return {r:r,i:i,k:key(r.cells[col]||r)};});
  rows.sort(function(x,y){
    if(x.k.missing!==y.k.missing)return x.k.missing?1:-1;
    return sign*compare(x.k,y.k)||x.i-y.i;
  });
  rows.forEach(function(x){body.appendChild(x.r);});
}
document.querySelectorAll('table.sortable th').forEach(function(th){
  th.setAttribute('tabindex','0');th.title='sort by this column';
  th.addEventListener('click',function(){sortBy(th);});
  th.addEventListener('keydown',function(e){if(e.key==='Enter'||e.key===' '){e.preventDefault();sortBy(th);}});
});
function ids(table){
  return Array.prototype.map.call(table.tBodies[0].rows,function(r){return r.getAttribute('data-run');});
}
function selftest(){
  var out={plots:document.querySelectorAll('.js-plotly-plot').length,
           svgs:document.querySelectorAll('.js-plotly-plot .main-svg').length,
           traces:0,seedTraces:0,injected:document.querySelectorAll('img[src="x"],img[src$="/x"]').length};
  document.querySelectorAll('.js-plotly-plot').forEach(function(gd){
    (gd.data||[]).forEach(function(t){out.traces++;if(t.meta==='seed')out.seedTraces++;});
  });
  var table=document.getElementById('RUNS_TABLE_ID');
  if(table){
    var th=table.querySelector('th[data-key="regret"]');
    out.before=ids(table);th.click();out.ascending=ids(table);th.click();out.descending=ids(table);
  }
  var gd=document.querySelector('.js-plotly-plot'),menu=gd&&gd.layout.updatemenus&&gd.layout.updatemenus[0];
  function done(){document.documentElement.setAttribute('data-selftest',JSON.stringify(out));}
  if(!menu){done();return;}
  out.drawnBefore=gd.querySelectorAll('.scatterlayer .trace').length;
  var args=menu.buttons[1].args;  // the dropdown's "each seed" entry, as a click on it applies it
  Plotly.restyle(gd,args[0],args[1]).then(function(){
    out.seedsShown=gd.data.filter(function(t){return t.meta==='seed'&&t.visible===true;}).length;
    out.seedsInFirst=gd.data.filter(function(t){return t.meta==='seed';}).length;
    out.drawnAfter=gd.querySelectorAll('.scatterlayer .trace').length;
    done();
  },function(e){out.error=String(e);done();});
}
if(location.hash==='#selftest'){window.addEventListener('load',function(){setTimeout(selftest,300);});}
})();
""".replace("RUNS_TABLE_ID", RUNS_TABLE_ID)


def _inline(text: str) -> str:
    escaped = html.escape(text)
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)


def _svg_inline(svg: bytes) -> str:
    text = svg.decode("utf-8")
    start = text.find("<svg")
    return text[start:] if start >= 0 else text


class _Links:
    """Relative links from the report's folder to run folders, and which runs a table row stands for.

    A run is linked from many rows (the leaderboards, the per-budget tables, the run table): its link,
    its files' presence and its list item are computed once, and the report folder is resolved once.
    """

    def __init__(self, report, out: Path | None) -> None:
        self.runs = list(report.result.runs) if report is not None else []
        self.tasks = sorted({r.task for r in self.runs}, key=len, reverse=True)  # longest first: prefix matching
        root = Path(report.result.root) if report is not None else Path(".")
        self.out = Path(out) if out is not None else root / "report"
        self.titles: dict[str, str] = {}
        self._out_resolved = os.path.realpath(self.out)
        self._parents: dict[str, str] = {}  # a run folder's parent (the results folder) -> its real path
        self._folders: dict[str, str] = {}  # run path -> its folder relative to the report's
        self._hrefs: dict[tuple[str, str], str] = {}  # (run path, file name) -> escaped relative link
        self._files: dict[tuple[str, str], bool] = {}
        self._items: dict[str, str] = {}  # run path -> its <li>

    def _real(self, path: str) -> str:
        """The real path of a run folder: its parent resolved once for all runs, unless the folder is a link."""
        parent, name = os.path.split(path)
        if not name or os.path.islink(path):
            return os.path.realpath(path)
        real_parent = self._parents.get(parent)
        if real_parent is None:
            real_parent = self._parents[parent] = os.path.realpath(parent)
        return os.path.join(real_parent, name)

    def href(self, run, name: str = "") -> str:
        """The escaped relative link from the report folder to the run's folder (or its file `name`)."""
        key = (str(run.path), name)
        link = self._hrefs.get(key)
        if link is None:
            rel = self._folders.get(key[0])
            if rel is None:
                rel = os.path.relpath(self._real(key[0]), self._out_resolved).replace(os.sep, "/")
                self._folders[key[0]] = rel
            link = self._hrefs[key] = html.escape(quote(rel + "/" + name), quote=True)
        return link

    def _has(self, run, name: str) -> bool:
        key = (str(run.path), name)
        found = self._files.get(key)
        if found is None:
            found = self._files[key] = os.path.isfile(os.path.join(key[0], name))
        return found

    def file(self, run, name: str, text: str) -> str:
        """A link to the run's file `name`, or a grey "no ..." when the run left none (a killed run has no manifest)."""
        if not self._has(run, name):
            return f'<span class="muted">no {html.escape(text)}</span>'
        return f'<a href="{self.href(run, name)}">{html.escape(text)}</a>'

    def item(self, run) -> str:
        """The run's entry in a row's list of runs: seed, folder, manifest, log (and status if not complete)."""
        cached = self._items.get(str(run.path))
        if cached is not None:
            return cached
        seed = "?" if run.seed is None else str(run.seed)
        status = "" if run.status == "complete" else f' <span class="muted">({html.escape(run.status)})</span>'
        item = self._items[str(run.path)] = (
            f'<li>seed {html.escape(seed)}: <a href="{self.href(run)}">{html.escape(run.run_id)}</a> · '
            f'{self.file(run, "manifest.json", "manifest")} · {self.file(run, "run.log", "log")}{status}</li>'
        )
        return item

    def names(self, run) -> tuple[str, str]:
        """How a table may name the run's method: its label (`re`) or its title ("Regularized evolution")."""
        if run.method not in self.titles:
            self.titles[run.method] = method_title(run.method)
        return run.method, self.titles[run.method]

    def task_of(self, heading: str) -> str | None:
        """The task a section heading is about (`nb201/cifar10 after 100 evaluations` -> nb201/cifar10)."""
        return next((t for t in self.tasks if heading == t or heading.startswith(t + " ")), None)

    def row_runs(self, headers: list[str], row: list[str], task: str | None) -> list | None:
        """The runs a table row stands for; None when the table has no method or run column."""
        cols = {h: i for i, h in enumerate(headers)}
        if "run" in cols:
            return [r for r in self.runs if r.run_id == row[cols["run"]]]
        if "method" not in cols:
            return None
        method = row[cols["method"]].removesuffix(TIE_MARK).removesuffix(REAL_MARK)
        task = row[cols["task"]] if "task" in cols else task
        return sorted(
            (r for r in self.runs if method in self.names(r) and (task is None or r.task == task)),
            key=lambda r: (r.task, r.status != "complete", -1 if r.seed is None else r.seed, r.run_id),
        )

    def cell(self, runs: list) -> str:
        if not runs:
            return '<td data-sort="0">–</td>'
        tasks = sorted({r.task for r in runs})
        groups = [(t, [r for r in runs if r.task == t]) for t in tasks]
        items = "".join(
            (f"<li><b>{html.escape(t)}</b><ul>" if len(groups) > 1 else "")
            + "".join(self.item(r) for r in rs)
            + ("</ul></li>" if len(groups) > 1 else "")
            for t, rs in groups
        )
        n = len(runs)
        summary = f"{n} run{'s' if n != 1 else ''}"
        return f'<td data-sort="{n}"><details><summary>{summary}</summary><ul>{items}</ul></details></td>'


def _table(block: Block, links: _Links, task: str | None, table_id: str = "") -> str:
    headers = list(block.headers or [])
    rows = block.rows or []
    runs = [links.row_runs(headers, row, task) for row in rows]
    linked = any(r is not None for r in runs)
    head = "".join(f"<th>{_inline(h)}</th>" for h in headers) + ("<th>runs</th>" if linked else "")
    body = []
    for row, row_runs in zip(rows, runs, strict=True):
        cells = "".join(f"<td>{_inline(c)}</td>" for c in row)
        if linked:
            cells += links.cell(row_runs or [])
        body.append(f"<tr>{cells}</tr>")
    ident = f' id="{html.escape(table_id)}"' if table_id else ""
    return (
        f'<div class="tablewrap"><table class="sortable"{ident}><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def _final(run, column: str) -> tuple[str, str]:
    """(text, sort key) of a run's last value in `column`; an en dash when it has none.

    Read through `Run.column` (a numpy array), not the trajectory's DataFrame: building one per run
    for a single value cost more than the rest of the page.
    """
    try:
        values = run.column(column)
    except KeyError:  # no trajectory, or no such column
        return "–", ""
    if values.size == 0:
        return "–", ""
    value = float(values[-1])
    return ("–", "") if not math.isfinite(value) else (f"{value:.4g}", repr(value))


def _runs_section(links: _Links) -> list[str]:
    """Every run found, one row each, with its folder, manifest and log: the table a results browser starts from."""
    if not links.runs:
        return []
    head = [("run", "run"), ("status", "status"), ("task", "task"), ("method", "method"), ("seed", "seed"),
            ("evaluations", "evaluations"), ("regret", "final regret"), ("test", "final incumbent test"),
            ("files", "files")]  # fmt: skip
    rows = []
    for r in sorted(links.runs, key=lambda r: (r.task, r.method, -1 if r.seed is None else r.seed, r.run_id)):
        regret, regret_key = _final(r, "regret")
        test, test_key = _final(r, "incumbent_test_mean")
        n = str(r.n_rows) if r.column_names else "–"  # no trajectory: no count
        cells = [
            f'<td><a href="{links.href(r)}"><code>{html.escape(r.run_id)}</code></a></td>',
            f"<td>{html.escape(r.status)}</td>",
            f"<td>{html.escape(r.task)}</td>",
            f"<td>{html.escape(r.method)}</td>",
            f"<td>{'?' if r.seed is None else r.seed}</td>",
            f"<td>{n}</td>",
            f'<td data-sort="{regret_key}">{regret}</td>',
            f'<td data-sort="{test_key}">{test}</td>',
            f'<td>{links.file(r, "manifest.json", "manifest.json")} · {links.file(r, "run.log", "run.log")}</td>',
        ]
        rows.append(f'<tr data-run="{html.escape(r.run_id, quote=True)}">{"".join(cells)}</tr>')
    head_html = "".join(f'<th data-key="{k}">{html.escape(t)}</th>' for k, t in head)
    return [
        '<a class="anchor" id="run-folders"></a><h2>Run folders</h2>',
        "<p>Every run found, with links (relative to this report's folder) to its folder, manifest and log. "
        "Click a column header to sort.</p>",
        f'<div class="tablewrap"><table class="sortable" id="{RUNS_TABLE_ID}"><thead><tr>{head_html}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>",
    ]


def _figure(block: Block, files: dict[str, bytes], interactive: dict[str, str]) -> str:
    stem = block.figure
    downloads = [f"{PLOTS}/{stem}.{ext}" for ext in ("png", "svg") if f"{PLOTS}/{stem}.{ext}" in files]
    links = " · ".join(f'<a href="{html.escape(quote(p), quote=True)}">{html.escape(p.rsplit(".", 1)[1].upper())}</a>'
                       for p in downloads)  # fmt: skip
    caption = _inline(block.text) + (f' <span class="muted">(for papers: {links})</span>' if links else "")
    if stem in interactive:
        content = interactive[stem]
    elif f"{PLOTS}/{stem}.svg" in files:
        content = _svg_inline(files[f"{PLOTS}/{stem}.svg"])
    else:
        data = base64.b64encode(files[f"{PLOTS}/{stem}.png"]).decode()
        content = f'<img alt="{html.escape(block.text)}" src="data:image/png;base64,{data}">'
    return f"<figure>{content}<figcaption>{caption}</figcaption></figure>"


def _anchor(text: str, used: set[str]) -> str:
    base = slug(text)[:60]
    name, i = base, 2
    while name in used:
        name, i = f"{base}-{i}", i + 1
    used.add(name)
    return name


def to_html(blocks: list[Block], files: dict[str, bytes], report=None, out: str | Path | None = None) -> str:
    """index.html: the page, interactive where a report is given, working offline and alone.

    `report` (a harness.report.Report) gives the Plotly figures and the run links; `out` is the
    folder index.html is written to (default RESULTS/report), which the run links are relative to.
    """
    interactive: dict[str, str] = {}
    if report is not None:
        from harness.report.interactive import figure_html, figures

        interactive = {stem: figure_html(fig, stem) for stem, fig in figures(report).items()}
    links = _Links(report, Path(out) if out is not None else None)
    used: set[str] = set()
    toc: list[tuple[str, str, list[tuple[str, str]]]] = []
    parts: list[str] = []
    task: str | None = None
    for b in blocks:
        if b.kind == "h1":
            parts.append(f"<h1>{_inline(b.text)}</h1>")
        elif b.kind in ("h2", "h3"):
            anchor = _anchor(b.text, used)
            if b.kind == "h2":
                toc.append((anchor, b.text, []))
                task = None
            else:
                if toc:
                    toc[-1][2].append((anchor, b.text))
                task = links.task_of(b.text)
            parts.append(f'<a class="anchor" id="{anchor}"></a><{b.kind}>{_inline(b.text)}</{b.kind}>')
        elif b.kind == "p":
            parts.append(f"<p>{_inline(b.text)}</p>")
        elif b.kind == "list":
            parts.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in b.items or []) + "</ul>")
        elif b.kind == "table":
            parts.append(_table(b, links, task))
        elif b.kind == "figure":
            parts.append(_figure(b, files, interactive))
    runs_part = _runs_section(links)
    if runs_part:
        toc.append(("run-folders", "Run folders", []))
        parts += runs_part
    nav = "".join(
        f'<li><a href="#{a}">{html.escape(t)}</a>'
        + ("<ul>" + "".join(f'<li><a href="#{sa}" title="{html.escape(st)}">{html.escape(st)}</a></li>'
                            for sa, st in subs) + "</ul>" if subs else "")
        + "</li>"
        for a, t, subs in toc
    )  # fmt: skip
    head = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>NAS benchmark report</title>",
        f"<style>{_CSS}</style>",
    ]
    if interactive:
        from harness.report.interactive import plotly_js

        head.append(f'<script type="text/javascript">{plotly_js()}</script>')
    head.append("</head><body>")
    page = [*head, f'<nav id="toc"><b>Contents</b><ul>{nav}</ul></nav>', "<main>", *parts, "</main>"]
    page.append(f"<script>{_JS}</script>")
    page.append("</body></html>")
    return "\n".join(page) + "\n"
