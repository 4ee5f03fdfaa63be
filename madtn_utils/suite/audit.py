"""The audit of the published accuracies (k/N, METHOD.md §5): the table and the text of the report's audit section."""

from __future__ import annotations

import pandas as pd

from madtn_utils.suite.reference import AUDIT_CLASSES, audit_accuracies, paper_table_5, paper_tables_3_4

__all__ = ["audit_table", "audit_summary", "audit_html"]


def audit_table() -> pd.DataFrame:
    """Every published per-task accuracy of Tables 3, 4 and 5 with its k/N audit (``reference.classify_accuracy``)."""
    audit = pd.concat([audit_accuracies(paper_tables_3_4()).assign(table=lambda d: d["table"].astype(str)),
                       audit_accuracies(paper_table_5()).assign(table="5", method=lambda d: "MADTN (" + d["components"] + ")")],
                      ignore_index=True)
    return audit[audit["audit"] != "n/a"][["table", "method", "task", "accuracy_percent", "target_n", "k", "k_over_n_percent",
                                           "residual_points", "residual_samples", "audit"]].reset_index(drop=True)


def audit_summary(audit: pd.DataFrame) -> str:
    """The audit paragraph: how many accuracies fall in each class.

    >>> print(audit_summary(audit_table()))  # doctest: +ELLIPSIS
    An accuracy ... Of the 156 published per-task accuracies ..., 133 are exact ..., 16 are rounding slips ... and 7 are not k/N ...
    """
    count = audit["audit"].value_counts()
    exact, rounding, bad = (int(count.get(c, 0)) for c in AUDIT_CLASSES)
    return ("An accuracy on an N-sample target must be 100·k/N for an integer k (N from Table 1: C 130, H 164, V 71, "
            f"N 71). Of the {len(audit)} published per-task accuracies (Tables 3, 4 and 5; Table 5's full-map rows "
            f"repeat three of Tables 3 and 4), with k the nearest count, {exact} are exact (100·k/N rounds to the "
            f"printed value: residual ≤ 0.005 points), {rounding} are rounding slips (0.01–0.02 points from 100·k/N "
            "rounded, a few hundredths of one sample: a rounding or truncation error, not an impossible count) and "
            f"{bad} are not k/N (farther off: those runs did not use exactly N targets, averaged several runs, or the "
            "number is a typo). Residuals are |accuracy − 100·k/N| in points and in units of 100/N (one target sample).")


def audit_html(audit: pd.DataFrame) -> str:
    shown = audit.rename(columns={"accuracy_percent": "accuracy (%)", "target_n": "N", "k_over_n_percent": "100·k/N",
                                  "residual_points": "residual (points)", "residual_samples": "residual (× 100/N)",
                                  "audit": "class"})
    fmt = {"accuracy (%)": "{:.2f}".format, "100·k/N": "{:.4f}".format, "residual (points)": "{:.4f}".format,
           "residual (× 100/N)": "{:.3f}".format}
    shown = shown.assign(task=shown["task"].str.replace("->", "→"))
    off = shown[shown["class"] != "exact"].sort_values("class", key=lambda s: s.map(AUDIT_CLASSES.index), kind="stable")
    return (f"<h3>The {len(off)} accuracies that are not exact</h3>"
            + off.to_html(classes="tbl audit", border=0, index=False, formatters=fmt)
            + f"<details><summary>All {len(shown)} audited accuracies</summary>"
            + shown.to_html(classes="tbl audit", border=0, index=False, formatters=fmt) + "</details>")
