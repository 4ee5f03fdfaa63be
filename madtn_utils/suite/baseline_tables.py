"""The report's tables of the baselines beyond Tables 3 and 4 (notebook 08), from :func:`~madtn_utils.suite.baselines.collect_baselines`.

- :func:`real_table`: "Baselines on real features", the published LBP-TOP of SMIC-VIS/NIR: per method and
  task, label-free and oracle accuracy, their difference, and the paper's number (mean F1 alike);
- :func:`flow_table`: the baselines on the composite set's real flow, beside MADTN's network on the same
  input (:func:`madtn_rows`, from the real-data study's runs when they exist);
- :func:`failures_table`: one line per method and task that raised.

Accuracies are fractions (the report prints them in %).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from madtn_utils.baselines.real import REAL_TASKS
from madtn_utils.suite.baselines import FLOW_FEATURES, REAL_FEATURES
from madtn_utils.suite.reference import paper_tables_3_4

__all__ = ["real_table", "flow_table", "madtn_rows", "failures_table"]


def _oracle(r, key: str):
    return r[key] if r["oracle_settings"] > 0 else np.nan


def _ordered(out: pd.DataFrame, methods: list, tasks: list, *, task_first: bool) -> pd.DataFrame:
    """``out`` sorted by method (in ``methods``' order) and task (in ``tasks``' order), task first or method first."""
    m = {v: i for i, v in enumerate(methods)}
    t = {v: i for i, v in enumerate(tasks)}
    out = out.assign(_m=out["method"].map(lambda v: m.get(v, len(m))), _t=out["task"].map(lambda v: t.get(v, len(t))))
    keys = ["_t", "_m"] if task_first else ["_m", "_t"]
    return out.sort_values(keys, kind="stable").drop(columns=["_m", "_t"]).reset_index(drop=True)


def real_table(baselines: pd.DataFrame) -> pd.DataFrame:
    """"Baselines on real features": per method and real task (V->N, N->V), label-free and oracle accuracy and mean
    F1, oracle − label-free, the paper's numbers (Table 3); empty without real records."""
    got = baselines[baselines["features"] == REAL_FEATURES]
    paper = paper_tables_3_4().set_index(["method", "task"])
    rows = []
    for _, r in got.iterrows():
        ref = paper.loc[(r["method"], r["task"])] if (r["method"], r["task"]) in paper.index else None
        rows.append({"method": r["method"], "task": r["task"], "accuracy_label_free": r["accuracy"],
                     "accuracy_oracle": _oracle(r, "oracle_accuracy"),
                     "accuracy_oracle_minus_label_free": _oracle(r, "oracle_accuracy") - r["accuracy"],
                     "accuracy_paper": np.nan if ref is None else ref["accuracy_percent"] / 100,
                     "mean_f1_label_free": r["mean_f1"], "mean_f1_oracle": _oracle(r, "oracle_mean_f1"),
                     "mean_f1_paper": np.nan if ref is None else ref["mean_f1"],
                     "oracle_settings": int(r["oracle_settings"]), "oracle_best": r["oracle_best"], "failed": r["failed"]})
    cols = ["method", "task", "accuracy_label_free", "accuracy_oracle", "accuracy_oracle_minus_label_free", "accuracy_paper",
            "mean_f1_label_free", "mean_f1_oracle", "mean_f1_paper", "oracle_settings", "oracle_best", "failed"]
    return _ordered(pd.DataFrame(rows, columns=cols), list(dict.fromkeys(baselines["method"])), list(REAL_TASKS),
                    task_first=False)


def madtn_rows(values: pd.DataFrame, variants: dict) -> pd.DataFrame:
    """MADTN's network on the real flow, in :func:`flow_table`'s columns: per task and each of ``variants``
    (the real-data study's variant name -> the row's name), the accuracy and mean F1 averaged over seeds.
    ``values``: :func:`~madtn_utils.suite.real.real_values` (one row per run and seed)."""
    got = values[values["variant"].isin(variants)]
    if got.empty:
        return pd.DataFrame(columns=["method", "task", "accuracy_label_free", "mean_f1_label_free", "seeds"])
    mean = got.groupby(["variant", "task"], sort=False).agg(accuracy_label_free=("accuracy", "mean"),
                                                              mean_f1_label_free=("mean_f1", "mean"), seeds=("seed", "nunique"))
    mean = mean.reset_index()
    return mean.assign(method=mean["variant"].map(variants)).drop(columns="variant")


def flow_table(baselines: pd.DataFrame, madtn: pd.DataFrame | None = None, majority: dict | None = None) -> pd.DataFrame:
    """The baselines on the real flow, per task: each method's label-free accuracy and mean F1, the oracle's and
    the difference, with MADTN's rows (:func:`madtn_rows`) first in each task and the target's majority rate
    (``majority``: task -> rate); empty without real-flow records."""
    got = baselines[baselines["features"] == FLOW_FEATURES]
    rows = [{"method": r["method"], "task": r["task"], "accuracy_label_free": r["accuracy"],
             "mean_f1_label_free": r["mean_f1"], "accuracy_oracle": _oracle(r, "oracle_accuracy"),
             "accuracy_oracle_minus_label_free": _oracle(r, "oracle_accuracy") - r["accuracy"],
             "oracle_best": r["oracle_best"], "failed": r["failed"]} for _, r in got.iterrows()]
    cols = ["method", "task", "accuracy_label_free", "mean_f1_label_free", "accuracy_oracle",
            "accuracy_oracle_minus_label_free", "majority", "seeds", "oracle_best", "failed"]
    out = pd.DataFrame(rows, columns=[c for c in cols if c not in ("majority", "seeds")])
    if madtn is not None and len(madtn):
        out = pd.concat([madtn[madtn["task"].isin(set(got["task"]))], out], ignore_index=True)
    tasks = list(dict.fromkeys(got["task"]))
    out = out.assign(majority=out["task"].map(majority or {}), seeds=out.get("seeds", pd.Series(dtype=float)))
    methods = list(dict.fromkeys(list(madtn["method"]) if madtn is not None and len(madtn) else []))
    methods += list(dict.fromkeys(got["method"]))
    return _ordered(out[cols], methods, tasks, task_first=True)


def failures_table(baselines: pd.DataFrame) -> pd.DataFrame:
    """One line per method and task that failed: the label-free fit (its message), or settings of its oracle grid
    (how many, and the first message)."""
    rows = []
    for _, r in baselines.iterrows():
        if r["failed"]:
            rows.append({"features": r["features"], "task": r["task"], "method": r["method"], "fit": "label-free",
                         "message": r["failed"]})
        if r["oracle_failed"]:
            rows.append({"features": r["features"], "task": r["task"], "method": r["method"],
                         "fit": f"oracle: {int(r['oracle_failed'])} of {int(r['oracle_settings'])} settings",
                         "message": r["oracle_failure"]})
    return pd.DataFrame(rows, columns=["features", "task", "method", "fit", "message"])
