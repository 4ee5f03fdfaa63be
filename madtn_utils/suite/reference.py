"""The paper's published numbers (Tables 1, 3, 4, 5), shipped as package data, and their audit.

The CSVs in ``madtn_utils/suite/paper/`` are copies of the paper's tables (Xia et al., ICPR 2020
workshops). :func:`audit_accuracies` checks each reported accuracy against its target's
sample count (METHOD.md §5): an accuracy on an N-sample target must be k/N for some
integer k, up to the two-decimal rounding of the paper. :func:`classify_accuracy` gives
the residual |acc − 100k/N| (nearest k) in points and in units of 100/N (one sample) and
a class, one of :data:`AUDIT_CLASSES`:

- ``exact``: 100k/N rounded to two decimals is the printed value (residual ≤ 0.005);
- ``rounding``: off from it by 0.01 or 0.02 points, a rounding or truncation slip (a
  small fraction of one sample), not an impossible count;
- ``not k/N``: off by more: no k out of N targets gives this accuracy.

>>> is_k_over_n(83.10, 71)
(True, 59)
>>> is_k_over_n(77.54, 130)[0]
False
>>> classify_accuracy(83.11, 71)["audit"], classify_accuracy(77.54, 130)["audit"]
('rounding', 'not k/N')
"""

from __future__ import annotations

from importlib import resources

import pandas as pd

__all__ = ["TARGET_SIZES", "paper_table", "paper_tables_3_4", "paper_table_5", "is_k_over_n", "AUDIT_CLASSES", "classify_accuracy",
           "audit_accuracies"]

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


#: The audit's classes, best first (module docstring).
AUDIT_CLASSES = ("exact", "rounding", "not k/N")


def classify_accuracy(accuracy_percent: float, n: int) -> dict:
    """Nearest k, 100·k/n, the residual in points and in units of 100/n, and the class (module docstring).

    >>> classify_accuracy(83.10, 71)
    {'k': 59, 'k_over_n_percent': 83.0986, 'residual_points': 0.0014, 'residual_samples': 0.001, 'audit': 'exact'}
    """
    acc = float(accuracy_percent)
    k = int(round(acc / 100 * n))
    exact = 100 * k / n
    residual = abs(acc - exact)
    printed_off = abs(round(acc, 2) - round(exact, 2))
    cls = "exact" if residual <= 0.005 + 1e-9 else "rounding" if printed_off <= 0.02 + 1e-9 else "not k/N"
    return {"k": k, "k_over_n_percent": round(exact, 4), "residual_points": round(residual, 4),
            "residual_samples": round(residual * n / 100, 3), "audit": cls}


def audit_accuracies(table: pd.DataFrame) -> pd.DataFrame:
    """Per row with a task ``X->Y``: target N and :func:`classify_accuracy` (k, 100·k/N, residuals, class).

    Average rows get the class ``n/a`` (a mean of tasks need not be k/N). ``residual_samples``
    is the residual in units of 100/N, i.e. in samples.
    """
    rows = []
    for r in table.itertuples(index=False):
        rec = r._asdict()
        if "->" not in r.task:
            rows.append({**rec, "target_n": pd.NA, "k": pd.NA, "k_over_n_percent": None, "residual_points": None,
                         "residual_samples": None, "audit": "n/a"})
            continue
        n = TARGET_SIZES[r.task.split("->")[1]]
        rows.append({**rec, "target_n": n, **classify_accuracy(r.accuracy_percent, n)})
    out = pd.DataFrame(rows)
    return out.astype({"target_n": "Int64", "k": "Int64"}) if len(out) else out
