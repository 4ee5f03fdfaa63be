"""Tables 3, 4, 5 and the Figure 6 data, from the finished runs of a reproduction.

:func:`collect_runs` reads every ``runs/*/metrics.json`` of a reproduction into one
DataFrame. The table builders put our mean ± std over seeds beside the paper's rows
(``madtn_utils/suite/paper``); every table comes in long form (CSV) and wide form
(Markdown, LaTeX, HTML: methods × tasks). A cell is written like the paper's,
``0.4579 / 46.48`` (mean F1 with 4 decimals / accuracy % with 2), and ours adds the
std over seeds in brackets, ``0.2576 / 38.89 (± 0.1286 / ± 7.86)`` (on a second line
in HTML); :func:`table_note` says so under every table.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import numpy as np
import pandas as pd

from madtn_utils.files import atomic_write_text
from madtn_utils.preprocess.domain import FULL
from madtn_utils.suite.reference import paper_table_5, paper_tables_3_4
from madtn_utils.suite.spec import matching_records
from madtn_utils.train.tasks import TASKS_TYPE_I, TASKS_TYPE_II

__all__ = ["OURS", "FULL", "GAP_KEYS", "variant_name", "collect_runs", "table_3_4", "table_5", "lambda_table", "cell", "wide", "table_note",
           "to_html", "write_table"]

#: The domain-gap measures of ``metrics.json`` ``summary.domain_gap`` collected per run.
GAP_KEYS = ("mmd2_median", "domain_clf_bacc", "init_mmd2_median", "init_domain_clf_bacc")
#: The method name of this reproduction's rows.
OURS = "MADTN (this reproduction)"


def collect_runs(run_root: str | Path, params=None) -> pd.DataFrame:
    """One row per finished run under ``run_root/runs``: task, lam, components, metrics mean/std, confusion.

    With ``params`` (a :class:`~madtn_utils.suite.params.RunParams`), only runs whose recorded
    run hash matches these params are collected (:func:`~madtn_utils.suite.runs.matching_records`);
    runs made with other settings are named in a warning and left out, so they never mix into a table.
    Every number is computed from the run's ``predictions.csv`` (:mod:`~madtn_utils.suite.scores`; the
    domain gap as recorded); ``code``: "" or why the run was made by other training code (marked, not left out).
    """
    rows = []
    for rec in matching_records(run_root, params):
        s = rec["summary"]
        gap = s.get("domain_gap") or {}
        rows.append({
            "task": rec["task"], "lam": float(rec["lam"]), "components": rec["components"],
            "seeds": len(rec["seeds"]), "n_target": rec["n_target_samples"],
            **{f"{k}_{stat}": s[k][stat] for k in ("accuracy", "mean_f1", "uar") for stat in ("mean", "std")},
            "confusion": s["confusion"], "device": rec["device"], "train_seconds": rec["seconds"]["train"],
            "run": rec["run"], "variant": variant_name(rec.get("overrides") or {}),
            "seed_accuracy": {int(x["seed"]): x["accuracy"] for x in rec.get("per_seed") or ()},
            **{f"gap_{k}_{stat}": (gap.get(k) or {}).get(stat) for k in GAP_KEYS for stat in ("mean", "std")},
            "code": rec.get("other_code") or "",
        })
    cols = ["task", "lam", "components", "seeds", "n_target", "accuracy_mean", "accuracy_std", "mean_f1_mean",
            "mean_f1_std", "uar_mean", "uar_std", "confusion", "device", "train_seconds", "run", "variant", "seed_accuracy"]
    cols += [f"gap_{k}_{stat}" for k in GAP_KEYS for stat in ("mean", "std")] + ["code"]
    return pd.DataFrame(rows, columns=cols)


def variant_name(overrides: dict) -> str:
    """``""`` for a run of the paper's grid; else its overrides, ``"mmd_kernel=median"``.

    >>> variant_name({}), variant_name({"train.control": "flip_mmd", "train.mmd_kernel": "median"})
    ('', 'control=flip_mmd, mmd_kernel=median')
    """
    return ", ".join(f"{k.rsplit('.', 1)[-1]}={v}" for k, v in sorted(overrides.items()))


def _need(runs: pd.DataFrame, mask, what: str) -> pd.DataFrame:
    got = runs[mask & (runs["variant"] == "")]  # the paper's tables: runs without overrides
    if got.empty:
        raise ValueError(f"{what}: expected finished runs in the reproduction, found none (run `madtn reproduce` first)")
    return got


def table_3_4(runs: pd.DataFrame, *, table: int, lam: float, baselines: pd.DataFrame | None = None) -> pd.DataFrame:
    """Long table: the paper's rows of Table ``table`` (3 or 4) and ours (full input, λ = ``lam``).

    ``baselines``: our label-free baseline rows in this long form
    (:func:`~madtn_utils.suite.baselines.baseline_long`); each follows the paper's row of its method.
    With baseline rows, the table may lack MADTN runs (``--only baselines``).
    """
    if table not in (3, 4):
        raise ValueError(f"table: expected 3 or 4, got {table}")
    tasks = TASKS_TYPE_I if table == 3 else TASKS_TYPE_II
    paper = paper_tables_3_4()
    paper = paper[paper["table"] == table].assign(source="paper", mean_f1_std=np.nan, accuracy_std=np.nan, n_seeds=np.nan)
    mask = runs["task"].isin(tasks) & (runs["components"] == FULL) & np.isclose(runs["lam"], lam) & (runs["variant"] == "")
    if baselines is not None and len(baselines) and not mask.any():
        return _with_baselines(paper, baselines.iloc[:0], baselines)
    ours = _need(runs, mask, f"Table {table}")
    ours = ours.set_index("task").reindex([t for t in tasks if t in set(ours["task"])]).reset_index()
    mine = pd.DataFrame({
        "table": table, "protocol": "TYPE-I" if table == 3 else "TYPE-II", "method": OURS, "task": ours["task"],
        "mean_f1": ours["mean_f1_mean"], "accuracy_percent": 100 * ours["accuracy_mean"],
        "source": "ours", "mean_f1_std": ours["mean_f1_std"], "accuracy_std": 100 * ours["accuracy_std"],
        "n_seeds": ours["seeds"],
    })
    if len(mine) == len(tasks):
        mine = pd.concat([mine, pd.DataFrame([{
            "table": table, "protocol": mine["protocol"].iloc[0], "method": OURS, "task": "Average",
            "mean_f1": mine["mean_f1"].mean(), "accuracy_percent": mine["accuracy_percent"].mean(), "source": "ours",
            "mean_f1_std": np.nan, "accuracy_std": np.nan, "n_seeds": mine["n_seeds"].min()}])], ignore_index=True)
    return _with_baselines(paper, mine, baselines)


_LONG_3_4 = ["table", "protocol", "source", "method", "task", "mean_f1", "mean_f1_std", "accuracy_percent", "accuracy_std",
             "n_seeds"]


def _with_baselines(paper: pd.DataFrame, mine: pd.DataFrame, baselines: pd.DataFrame | None) -> pd.DataFrame:
    """The paper's rows, each method's rows of ours right after its paper rows, and ours of MADTN last."""
    parts = []
    base = baselines if baselines is not None else mine.iloc[:0]
    for method in dict.fromkeys(paper["method"]):
        parts.append(paper[paper["method"] == method])
        parts.append(base[base["method"] == method])
    parts.append(base[~base["method"].isin(paper["method"])])
    parts.append(mine)
    parts = [p for p in parts if len(p)]
    return pd.concat(parts, ignore_index=True).astype({"n_seeds": "Int64"})[_LONG_3_4]


def table_5(runs: pd.DataFrame, *, lam: float, tasks=("C->H", "C->V", "H->N")) -> pd.DataFrame:
    """Long table: the paper's Table 5 and ours (each input variant on each ablation task)."""
    paper = paper_table_5().assign(source="paper", mean_f1_std=np.nan, accuracy_std=np.nan, n_seeds=np.nan)
    ours = _need(runs, runs["task"].isin(tasks) & np.isclose(runs["lam"], lam), "Table 5")
    order = {c: i for i, c in enumerate(dict.fromkeys(paper["components"]))}
    ours = ours.assign(_o=ours["components"].map(order).fillna(len(order)), _t=ours["task"].map(list(tasks).index)) \
        .sort_values(["_o", "_t"])
    mine = pd.DataFrame({"components": ours["components"], "task": ours["task"], "mean_f1": ours["mean_f1_mean"],
                         "accuracy_percent": 100 * ours["accuracy_mean"], "source": "ours",
                         "mean_f1_std": ours["mean_f1_std"], "accuracy_std": 100 * ours["accuracy_std"],
                         "n_seeds": ours["seeds"]})
    return pd.concat([paper, mine], ignore_index=True).astype({"n_seeds": "Int64"})[
        ["source", "components", "task", "mean_f1", "mean_f1_std", "accuracy_percent", "accuracy_std", "n_seeds"]]


def lambda_table(runs: pd.DataFrame, *, tasks=("C->H", "C->V")) -> pd.DataFrame:
    """Figure 6's data: task, lam, accuracy and mean F1 (mean, std over seeds), full input."""
    got = _need(runs, runs["task"].isin(tasks) & (runs["components"] == FULL), "Figure 6")
    return got[["task", "lam", "accuracy_mean", "accuracy_std", "mean_f1_mean", "mean_f1_std", "seeds"]] \
        .sort_values(["task", "lam"], key=lambda s: s.map(list(tasks).index) if s.name == "task" else s).reset_index(drop=True)


def cell(f1, f1_std=np.nan, acc=np.nan, acc_std=np.nan) -> str:
    """One table cell, ``mean F1 / accuracy %`` with the paper's digits, and the spread when there is one.

    >>> cell(0.45794, np.nan, 46.4812, np.nan)
    '0.4579 / 46.48'
    >>> cell(0.25757, 0.12861, 38.8889, 7.8567)
    '0.2576 / 38.89 (± 0.1286 / ± 7.86)'
    """
    main = f"{f1:.4f} / {acc:.2f}"
    if pd.isna(f1_std) or pd.isna(acc_std):
        return main
    return f"{main} (± {f1_std:.4f} / ± {acc_std:.2f})"


def wide(long: pd.DataFrame, *, row: str = "method") -> pd.DataFrame:
    """Rows ``row`` (with the source), columns tasks, cells :func:`cell`; no index or columns name.

    A spread is shown for ours only where it is a std over at least two seeds.
    """
    spread = long["n_seeds"].ge(2) if "n_seeds" in long else pd.Series(True, index=long.index)
    cells = long.assign(cell=[cell(*v) for v in zip(long["mean_f1"], long["mean_f1_std"].where(spread),
                                                    long["accuracy_percent"], long["accuracy_std"].where(spread))])
    cells["row"] = cells[row] + " [" + cells["source"] + "]"  # [paper], [ours], [ours, real LBP-TOP]
    order_rows = list(dict.fromkeys(cells["row"]))
    order_cols = list(dict.fromkeys(cells["task"]))
    w = cells.pivot(index="row", columns="task", values="cell").reindex(index=order_rows, columns=order_cols).fillna("–")
    w.index.name = w.columns.name = None
    return w


def table_note(long: pd.DataFrame) -> str:
    """What the cells and the ± of a long table mean (for the Markdown, LaTeX and HTML forms)."""
    ours = long[long["source"] == "ours"]
    base = ours[ours["method"] != OURS] if "method" in ours else ours.iloc[:0]
    ours = ours[ours["method"] == OURS] if "method" in ours else ours
    seeds = sorted({int(s) for s in ours["n_seeds"].dropna()}) if "n_seeds" in ours else []
    n = "–".join(str(s) for s in (seeds[:1] + seeds[-1:] if len(seeds) > 1 else seeds)) or "?"
    real = (long["source"] == "ours, real LBP-TOP").any()
    note = "Cells: mean F1 / accuracy (%), with the paper's digits. [paper]: published numbers"
    if len(ours) or not (len(base) or real):
        note += f". [ours]: this reproduction, the model after the last epoch, mean over n = {n} seeds"
        note += ("; (± F1 / ± accuracy) is the standard deviation over those seeds (ddof = 1)" if seeds and seeds[-1] > 1
                 else "; one seed, so no spread")
    if (long["task"] == "Average").any():
        note += "; Average: the mean over the tasks of the per-task means"
    if len(base):
        note += (". Baseline rows [ours]: LBP-TOP features and each method's hyperparameters from its paper, fixed "
                 "before any target label is seen (label-free; notebook 08), one deterministic fit per task")
    if real:
        note += (". [ours, real LBP-TOP]: the same methods and hyperparameters on the LBP-TOP features Zong et al. "
                 "published for SMIC-VIS and SMIC-NIR (the inputs of the paper's V→N and N→V rows), label-free")
    return note + "."


_LATEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
          "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "->": r"$\rightarrow$", "±": r"$\pm$"}


def _latex_escape(text: str) -> str:
    r"""LaTeX-escape ``text`` in one pass; ``->`` and ``±`` become math symbols.

    >>> print(_latex_escape("H->V 0.1 (± 0.2) a_b"))
    H$\rightarrow$V 0.1 ($\pm$ 0.2) a\_b
    """
    return re.sub(r"->|[\\&%$#_{}~^±]", lambda m: _LATEX[m.group(0)], text)


def _arrow(w: pd.DataFrame) -> pd.DataFrame:
    return w.rename(columns=lambda c: str(c).replace("->", "→"))


def to_html(long: pd.DataFrame, *, row: str = "method", classes: str = "tbl") -> str:
    """The wide table as HTML: the spread of ours on a second line, rows of ours marked ``class="ours"``."""
    w = _arrow(wide(long, row=row))
    body = w.map(lambda c: html.escape(c).replace(" (±", "<br><span class='sd'>(±", 1) + ("</span>" if "(±" in c else ""))
    body.index = [html.escape(i) for i in w.index]
    out = body.to_html(classes=classes, border=0, escape=False)
    return re.sub(r"<tr>(\s*<th>[^<]*\[ours[^\]]*\]</th>)", r'<tr class="ours">\1', out)


def write_table(long: pd.DataFrame, folder: str | Path, name: str, *, row: str = "method", caption: str = "") -> list[Path]:
    """``name.csv`` (long), ``name.md`` and ``name.tex`` (wide, with :func:`table_note`) in ``folder``, each atomic."""
    folder = Path(folder)
    w = wide(long, row=row)
    note = table_note(long)
    md = (f"**{caption}**\n\n" if caption else "") + _arrow(w).to_markdown() + f"\n\n{note}\n"
    tex_w = w.map(_latex_escape).rename(columns=_latex_escape)
    tex_w.index = [_latex_escape(i) for i in w.index]
    tex = tex_w.to_latex(caption=_latex_escape(f"{caption}. {note}" if caption else note), label=f"tab:{name}", escape=False)
    return [atomic_write_text(folder / f"{name}.csv", long.to_csv(index=False)),
            atomic_write_text(folder / f"{name}.md", md), atomic_write_text(folder / f"{name}.tex", tex)]
