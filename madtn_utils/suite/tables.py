"""Tables 3, 4, 5 and the Figure 6 data, from the finished runs of a reproduction.

:func:`collect_runs` reads every ``runs/*/metrics.json`` of a reproduction into one
DataFrame. The table builders put our mean ± std over seeds beside the paper's rows
(``madtn_utils/data``); every table comes in long form (CSV) and wide form
(Markdown, LaTeX: methods × tasks, cells ``mean F1 / accuracy %``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from madtn_utils.files import atomic_write_text
from madtn_utils.suite.reference import paper_table_5, paper_tables_3_4
from madtn_utils.train.tasks import TASKS_TYPE_I, TASKS_TYPE_II

__all__ = ["OURS", "FULL", "collect_runs", "table_3_4", "table_5", "lambda_table", "wide", "write_table"]

#: The method name of this reproduction's rows.
OURS = "MADTN (this reproduction)"
FULL = "onOF-Face-endOF"


def collect_runs(run_root: str | Path) -> pd.DataFrame:
    """One row per finished run under ``run_root/runs``: task, lam, components, metrics mean/std, confusion."""
    rows = []
    for path in sorted(Path(run_root).glob("runs/*/metrics.json")):
        rec = json.loads(path.read_text())
        s = rec["summary"]
        rows.append({
            "task": rec["task"], "lam": float(rec["lam"]), "components": rec["components"],
            "seeds": len(rec["seeds"]), "n_target": rec["n_target_samples"],
            **{f"{k}_{stat}": s[k][stat] for k in ("accuracy", "mean_f1", "uar") for stat in ("mean", "std")},
            "confusion": s["confusion"], "device": rec["device"], "train_seconds": rec["seconds"]["train"],
            "run": path.parent.name,
        })
    cols = ["task", "lam", "components", "seeds", "n_target", "accuracy_mean", "accuracy_std", "mean_f1_mean",
            "mean_f1_std", "uar_mean", "uar_std", "confusion", "device", "train_seconds", "run"]
    return pd.DataFrame(rows, columns=cols)


def _need(runs: pd.DataFrame, mask, what: str) -> pd.DataFrame:
    got = runs[mask]
    if got.empty:
        raise ValueError(f"{what}: expected finished runs in the reproduction, found none (run `madtn reproduce` first)")
    return got


def table_3_4(runs: pd.DataFrame, *, table: int, lam: float) -> pd.DataFrame:
    """Long table: the paper's rows of Table ``table`` (3 or 4) and ours (full input, λ = ``lam``)."""
    if table not in (3, 4):
        raise ValueError(f"table: expected 3 or 4, got {table}")
    tasks = TASKS_TYPE_I if table == 3 else TASKS_TYPE_II
    paper = paper_tables_3_4()
    paper = paper[paper["table"] == table].assign(source="paper", mean_f1_std=np.nan, accuracy_std=np.nan)
    ours = _need(runs, runs["task"].isin(tasks) & (runs["components"] == FULL) & np.isclose(runs["lam"], lam),
                 f"Table {table}")
    ours = ours.set_index("task").reindex([t for t in tasks if t in set(ours["task"])]).reset_index()
    mine = pd.DataFrame({
        "table": table, "protocol": "TYPE-I" if table == 3 else "TYPE-II", "method": OURS, "task": ours["task"],
        "mean_f1": ours["mean_f1_mean"], "accuracy_percent": 100 * ours["accuracy_mean"],
        "source": "ours", "mean_f1_std": ours["mean_f1_std"], "accuracy_std": 100 * ours["accuracy_std"],
    })
    if len(mine) == len(tasks):
        mine = pd.concat([mine, pd.DataFrame([{
            "table": table, "protocol": mine["protocol"].iloc[0], "method": OURS, "task": "Average",
            "mean_f1": mine["mean_f1"].mean(), "accuracy_percent": mine["accuracy_percent"].mean(), "source": "ours",
            "mean_f1_std": np.nan, "accuracy_std": np.nan}])], ignore_index=True)
    return pd.concat([paper, mine], ignore_index=True)[
        ["table", "protocol", "source", "method", "task", "mean_f1", "mean_f1_std", "accuracy_percent", "accuracy_std"]]


def table_5(runs: pd.DataFrame, *, lam: float, tasks=("C->H", "C->V", "H->N")) -> pd.DataFrame:
    """Long table: the paper's Table 5 and ours (each input variant on each ablation task)."""
    paper = paper_table_5().assign(source="paper", mean_f1_std=np.nan, accuracy_std=np.nan)
    ours = _need(runs, runs["task"].isin(tasks) & np.isclose(runs["lam"], lam), "Table 5")
    order = {c: i for i, c in enumerate(dict.fromkeys(paper["components"]))}
    ours = ours.assign(_o=ours["components"].map(order).fillna(len(order)), _t=ours["task"].map(list(tasks).index)) \
        .sort_values(["_o", "_t"])
    mine = pd.DataFrame({"components": ours["components"], "task": ours["task"], "mean_f1": ours["mean_f1_mean"],
                         "accuracy_percent": 100 * ours["accuracy_mean"], "source": "ours",
                         "mean_f1_std": ours["mean_f1_std"], "accuracy_std": 100 * ours["accuracy_std"]})
    return pd.concat([paper, mine], ignore_index=True)[
        ["source", "components", "task", "mean_f1", "mean_f1_std", "accuracy_percent", "accuracy_std"]]


def lambda_table(runs: pd.DataFrame, *, tasks=("C->H", "C->V")) -> pd.DataFrame:
    """Figure 6's data: task, lam, accuracy and mean F1 (mean, std over seeds), full input."""
    got = _need(runs, runs["task"].isin(tasks) & (runs["components"] == FULL), "Figure 6")
    return got[["task", "lam", "accuracy_mean", "accuracy_std", "mean_f1_mean", "mean_f1_std", "seeds"]] \
        .sort_values(["task", "lam"], key=lambda s: s.map(list(tasks).index) if s.name == "task" else s).reset_index(drop=True)


def _cell(f1, f1_std, acc, acc_std) -> str:
    if pd.isna(f1_std):
        return f"{f1:.4f} / {acc:.2f}"
    return f"{f1:.4f}±{f1_std:.4f} / {acc:.2f}±{acc_std:.2f}"


def wide(long: pd.DataFrame, *, row: str = "method") -> pd.DataFrame:
    """Rows ``row`` (with the source), columns tasks, cells ``mean F1 / accuracy %`` (± std for ours)."""
    cells = long.assign(cell=[_cell(*v) for v in long[["mean_f1", "mean_f1_std", "accuracy_percent", "accuracy_std"]].itertuples(index=False)])
    cells["row"] = cells[row] + np.where(cells["source"] == "ours", " [ours]", " [paper]")
    order_rows = list(dict.fromkeys(cells["row"]))
    order_cols = list(dict.fromkeys(cells["task"]))
    return cells.pivot(index="row", columns="task", values="cell").reindex(index=order_rows, columns=order_cols).fillna("–")


def write_table(long: pd.DataFrame, folder: str | Path, name: str, *, row: str = "method", caption: str = "") -> list[Path]:
    """``name.csv`` (long), ``name.md`` and ``name.tex`` (wide) in ``folder``, each written atomically."""
    folder = Path(folder)
    w = wide(long, row=row)
    md = (f"**{caption}**\n\n" if caption else "") + w.to_markdown() + "\n\nCells: mean F1 / accuracy (%); ours: mean±std over seeds.\n"
    tex = w.to_latex(caption=caption or None, label=f"tab:{name}", escape=True)
    return [atomic_write_text(folder / f"{name}.csv", long.to_csv(index=False)),
            atomic_write_text(folder / f"{name}.md", md), atomic_write_text(folder / f"{name}.tex", tex)]
