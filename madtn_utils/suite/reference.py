"""The paper's published numbers (Tables 1, 3, 4, 5), shipped as package data, and their audit.

The CSVs in ``madtn_utils/suite/paper/`` are copies of the paper's tables (Xia et al., ICPR 2020
workshops). :func:`audit_accuracies` checks each reported accuracy against its target's
sample count (METHOD.md §5): an accuracy on an N-sample target must be k/N for some
integer k, up to the two-decimal rounding of the paper.

>>> is_k_over_n(83.10, 71)
(True, 59)
>>> is_k_over_n(77.54, 130)[0]
False
"""

from __future__ import annotations

from importlib import resources

import pandas as pd

__all__ = ["TARGET_SIZES", "paper_table", "paper_tables_3_4", "paper_table_5", "is_k_over_n", "audit_accuracies"]

#: Target sample counts of Table 1, by task letter.
TARGET_SIZES = {"C": 130, "H": 164, "V": 71, "N": 71}


def paper_table(name: str) -> pd.DataFrame:
    """``paper_table_1``, ``paper_tables_3_4`` or ``paper_table_5`` as a DataFrame."""
    try:
        with resources.files("madtn_utils.suite.paper").joinpath(f"{name}.csv").open() as fh:
            return pd.read_csv(fh)
    except FileNotFoundError:
        raise ValueError(f"paper table {name!r}: expected paper_table_1, paper_tables_3_4 or paper_table_5") from None


def paper_tables_3_4() -> pd.DataFrame:
    """Columns table, protocol, method, task, mean_f1, accuracy_percent (one row per method and task, incl. Average)."""
    return paper_table("paper_tables_3_4")


def paper_table_5() -> pd.DataFrame:
    """Columns components, task, mean_f1, accuracy_percent."""
    return paper_table("paper_table_5")


def is_k_over_n(accuracy_percent: float, n: int, *, tol: float = 0.005 + 1e-9) -> tuple[bool, int]:
    """Whether ``accuracy_percent`` equals 100·k/n for an integer k, up to rounding to 2 decimals."""
    k = round(accuracy_percent / 100 * n)
    return abs(100 * k / n - accuracy_percent) <= tol, int(k)


def audit_accuracies(table: pd.DataFrame) -> pd.DataFrame:
    """Per row with a task ``X->Y``: target N, nearest k, 100·k/N, and whether the accuracy is k/N.

    Average rows are marked ``n/a`` (a mean of tasks need not be k/N).
    """
    rows = []
    for r in table.itertuples(index=False):
        rec = r._asdict()
        if "->" not in r.task:
            rows.append({**rec, "target_n": None, "k": None, "k_over_n_percent": None, "is_k_over_n": "n/a"})
            continue
        n = TARGET_SIZES[r.task.split("->")[1]]
        ok, k = is_k_over_n(float(r.accuracy_percent), n)
        rows.append({**rec, "target_n": n, "k": k, "k_over_n_percent": round(100 * k / n, 2), "is_k_over_n": "yes" if ok else "no"})
    return pd.DataFrame(rows)
