"""A report's tables as files: Markdown (the whole page), LaTeX (booktabs leaderboards) and CSV."""

from __future__ import annotations

import numpy as np
import pandas as pd

from harness.report import REFERENCE_LABEL, Report
from harness.report.document import Block
from harness.report.labels import PLOTS, clock_suffix, fmt, has_time_cut, marked, real_in, task_at
from harness.results import SIMULATED_CLOCK


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def to_markdown(blocks: list[Block]) -> str:
    """The page as Markdown (leaderboard.md): tables as pipe tables, plots linked as PNG with their SVG."""
    out: list[str] = []
    for b in blocks:
        if b.kind in ("h1", "h2", "h3"):
            out += ["#" * int(b.kind[1]) + " " + b.text, ""]
        elif b.kind == "p":
            out += [b.text, ""]
        elif b.kind == "list":
            out += [f"- {item}" for item in b.items or []] + [""]
        elif b.kind == "table":
            out.append("| " + " | ".join(_md_cell(h) for h in b.headers or []) + " |")
            out.append("|" + "|".join("---" for _ in b.headers or []) + "|")
            out += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in b.rows or []]
            out.append("")
        elif b.kind == "figure":
            out += [f"![{b.text}]({PLOTS}/{b.figure}.png)", "", f"*{b.text}* ([SVG]({PLOTS}/{b.figure}.svg))", ""]
    return "\n".join(out).rstrip() + "\n"


def _tex(text: str) -> str:
    repl = {
        "\\": r"\textbackslash{}",
        "&": r"\&",
        "%": r"\%",
        "$": r"\$",
        "#": r"\#",
        "_": r"\_",
        "{": r"\{",
        "}": r"\}",
        "~": r"\textasciitilde{}",
        "^": r"\textasciicircum{}",
        "±": r"$\pm$",
        "δ": r"$\delta$",
        "α": r"$\alpha$",
        "–": "--",
        "χ": r"$\chi$",
        "²": r"$^2$",
    }
    return "".join(repl.get(ch, ch) for ch in str(text))


def to_latex(report: Report) -> str:
    """leaderboard.tex: booktabs tables of each leaderboard and each budget's final results, ready to \\input."""
    lines = ["% nas-harness report: leaderboard tables (needs \\usepackage{booktabs})", ""]
    ft = report.final_table.set_index(["budget", "task", "method"])
    clocks = report.result.clocks()
    for lb in report.leaderboards:
        if not lb.methods:
            continue
        cols = "l" + "r" * (len(lb.tasks) + 1)
        lines += [
            "\\begin{table}[t]",
            "\\centering",
            "\\small",
            f"\\caption{{Mean regret $\\pm$ s.e. (number of seeds) "
            f"{_tex(lb.budget.label + clock_suffix(lb.budget.uniform, real_in(clocks, lb.methods)))} "
            "and average rank across "
            f"benchmarks (lower is better). {_tex(lb.friedman_note)}"
            + (f"; Nemenyi CD $= {lb.cd:.3f}$ at $\\alpha = {report.alpha}$" if lb.cd is not None else "")
            + ". Bold: the best method of each benchmark and those not significantly different from it (two-sided "
            "Wilcoxon signed-rank on seed-paired regrets, Mann-Whitney U when the seeds differ; Holm-corrected, "
            f"$\\alpha = {report.alpha}$)"
            + ".}",
            f"\\begin{{tabular}}{{{cols}}}",
            "\\toprule",
            "Method & " + " & ".join(_tex(task_at(lb.budget, t)) for t in lb.tasks) + " & Avg.\\ rank \\\\",
            "\\midrule",
        ]
        for j in np.argsort(lb.avg_ranks, kind="stable"):
            m = lb.methods[j]
            cells = []
            for i, t in enumerate(lb.tasks):
                se = ft.loc[(lb.budget.key, t, m), "regret_se"]
                cell = f"{lb.mean_regret[i, j]:.3f} $\\pm$ {fmt(se)} ({lb.n[i, j]})"
                v = lb.versus_best.get((t, m))
                cells.append(f"\\textbf{{{cell}}}" if v is not None and v.tied else cell)
            lines.append(
                f"{_tex(marked(m, clocks) if has_time_cut(lb.budget) else m)} & "
                + " & ".join(cells)
                + f" & {lb.avg_ranks[j]:.2f} \\\\"
            )
        lines += ["\\bottomrule", "\\end{tabular}", "\\end{table}", ""]
    for b in report.budgets:
        sub = report.final_table[report.final_table["budget"] == b.key]
        lines += [
            "\\begin{table}[t]",
            "\\centering",
            "\\small",
            f"\\caption{{Test accuracy and regret {_tex(b.label + clock_suffix(b.uniform, real_in(clocks)))}: "
            "mean $\\pm$ s.e., median [IQR], n seeds.}}",
            "\\begin{tabular}{lllrllll}",
            "\\toprule",
            "Task & Method & Clock & n & Test & Test median [IQR] & Regret & Regret median [IQR] \\\\",
            "\\midrule",
        ]
        for r in sub.itertuples():
            has_test = report.tasks[r.task].has_test
            test = (
                (
                    f"{fmt(r.test_mean)} $\\pm$ {fmt(r.test_se)}",
                    f"{fmt(r.test_median)} [{fmt(r.test_q25)}, {fmt(r.test_q75)}]",
                )
                if has_test
                else ("n/a", "n/a")
            )
            lines.append(
                f"{_tex(task_at(b, r.task))} & {_tex(r.method)} & {r.clock} & {r.n_seeds} & {test[0]} & "
                f"{_tex(test[1])} & "
                f"{fmt(r.regret_mean)} $\\pm$ {fmt(r.regret_se)} & "
                f"{_tex(f'{fmt(r.regret_median)} [{fmt(r.regret_q25)}, {fmt(r.regret_q75)}]')} \\\\"
            )
        lines += ["\\bottomrule", "\\end{tabular}", "\\end{table}", ""]
    return "\n".join(lines)


def csv_bytes(df: pd.DataFrame) -> bytes:
    """A table as CSV bytes with '\\n' line ends and no index, so the same table gives the same bytes everywhere."""
    return df.to_csv(index=False, lineterminator="\n").encode()


def curves_csv(report: Report) -> pd.DataFrame:
    """Every curve drawn; `clock` is the clock of the method's time ("n/a" for the reference, which has none)."""
    rows = []
    for task, info in report.tasks.items():
        for axis, bands in (("evaluations", info.eval_bands), ("sim_time", info.time_bands)):
            for method, mb in bands.items():
                for metric, b in mb.items():
                    if b is None:
                        continue
                    rows.append(
                        pd.DataFrame(
                            {
                                "task": task,
                                "method": method,
                                "axis": axis,
                                "metric": metric,
                                "x": b.x,
                                "mean": b.mean,
                                "lo": b.lo,
                                "hi": b.hi,
                                "n": b.n,
                                "clock": info.clocks.get(method, SIMULATED_CLOCK),
                            }
                        )
                    )
        ref = info.reference
        if ref is not None:
            for metric, y in (("valid", ref.valid_mean), ("test", ref.test), ("regret", ref.regret)):
                rows.append(
                    pd.DataFrame(
                        {
                            "task": task,
                            "method": REFERENCE_LABEL,
                            "axis": "evaluations",
                            "metric": metric,
                            "x": ref.ks,
                            "mean": y,
                            "lo": np.nan,
                            "hi": np.nan,
                            "n": 0,
                            "clock": "n/a",
                        }
                    )
                )
        for method, b in info.hv_bands.items():
            if b is not None:
                rows.append(
                    pd.DataFrame(
                        {
                            "task": task,
                            "method": method,
                            "axis": "evaluations",
                            "metric": "hypervolume",
                            "x": b.x,
                            "mean": b.mean,
                            "lo": b.lo,
                            "hi": b.hi,
                            "n": b.n,
                            "clock": info.clocks.get(method, SIMULATED_CLOCK),
                        }
                    )
                )
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()


def leaderboard_csv(report: Report) -> pd.DataFrame:
    """leaderboard.csv: the final table with the identifying columns first and the statistics after them."""
    cols = [
        "budget",
        "budget_kind",
        "budget_value",
        "task",
        "method",
        "clock",
        "runs",
        "n_seeds",
        "n_short",
        "n_empty",
        "rank",
        "avg_rank",
    ]
    stats = [c for c in report.final_table.columns if c not in cols]
    return report.final_table[cols + stats]
