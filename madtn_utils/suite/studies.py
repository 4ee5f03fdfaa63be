"""Tables beyond the paper's: the domain gap, the paper's kernel against the median kernel,
the negative controls, and the shift study, each from the collected runs
(:func:`~madtn_utils.suite.tables.collect_runs`).

The runs they read are named by their overrides (``variant``, e.g. ``mmd_kernel=median``):

- domain gap: every full-input run without overrides (``summary.domain_gap`` of its
  ``metrics.json``: MMD² with one median-heuristic Gaussian, and the balanced accuracy of a
  logistic-regression domain classifier, on the final features of all source and target
  maps; ``init_*`` on the untrained network of the same seed);
- controls (:data:`CONTROLS`): each against the full MADTN of the same task, paired over the
  seeds both have (:mod:`~madtn_utils.suite.paired`): the margin full − control with its 95% t
  interval; a control "separates" only when the interval lies above 0;
- shift study: accuracy against the shift strength, per task and method.

Majority rates come from the summed confusion matrices (rows: true class), i.e. from the
scoring of the finished runs, never from training.

>>> majority_rate([[3, 0, 0], [1, 1, 0], [0, 0, 5]])
0.5
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from madtn_utils.preprocess.domain import FULL
from madtn_utils.suite.grid import CONTROL_RUNS, SHIFT_COMPONENTS
from madtn_utils.suite.tables import variant_name

__all__ = ["CONTROLS", "majority_rate", "gap_table", "kernel_table", "kernel_wide", "controls_table", "shift_table"]

#: Negative controls: name -> (components, variant of the run, λ: None = the params' λ), one per
#: :data:`~madtn_utils.suite.grid.CONTROL_RUNS` entry, in its order.
CONTROLS = {name: (components, variant_name(overrides), None) for name, (components, overrides) in zip(
    ("(a) source labels permuted", "(b) flow channels zeroed (Face)", "(c) MMD sign flipped",
     "(d) apex = onset (no motion)"), CONTROL_RUNS, strict=True)}


def majority_rate(confusion) -> float:
    """The share of the largest true class in a confusion matrix (rows: true class)."""
    c = np.asarray(confusion, dtype=float)
    return float(c.sum(1).max() / c.sum()) if c.sum() else float("nan")


def _pick(runs, task, lam, components=FULL, variant=""):
    got = runs[(runs["task"] == task) & np.isclose(runs["lam"], lam) & (runs["components"] == components)
               & (runs["variant"] == variant)]
    return got.iloc[0] if len(got) else None


def gap_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Per full-input run without overrides: task, λ, accuracy and the domain gap before and after training."""
    got = runs[(runs["components"] == FULL) & (runs["variant"] == "")].sort_values(["task", "lam"])
    cols = {"task": "task", "lam": "lam", "seeds": "seeds", "accuracy_mean": "accuracy", "accuracy_std": "accuracy_std",
            "gap_init_mmd2_median_mean": "mmd2_init", "gap_mmd2_median_mean": "mmd2",
            "gap_mmd2_median_std": "mmd2_std", "gap_init_domain_clf_bacc_mean": "domain_clf_init",
            "gap_domain_clf_bacc_mean": "domain_clf", "gap_domain_clf_bacc_std": "domain_clf_std"}
    return got[list(cols)].rename(columns=cols).reset_index(drop=True)


def kernel_table(runs: pd.DataFrame, *, tasks, lam: float) -> pd.DataFrame:
    """Per task: accuracy and mean F1 with the paper's fixed kernel and with the median kernel (DAN), and λ = 0."""
    rows = []
    for task in tasks:
        for method, lam_, variant in (("paper kernel (σ = 1…16)", lam, ""), ("median kernel (DAN)", lam, "mmd_kernel=median"),
                                      ("λ = 0 (no MMD)", 0.0, "")):
            r = _pick(runs, task, lam_, FULL, variant)
            if r is not None:
                rows.append({"method": method, "task": task, "accuracy": r["accuracy_mean"], "accuracy_std": r["accuracy_std"],
                             "mean_f1": r["mean_f1_mean"], "mean_f1_std": r["mean_f1_std"], "seeds": r["seeds"],
                             "mmd2_after": r["gap_mmd2_median_mean"]})
    return pd.DataFrame(rows, columns=["method", "task", "accuracy", "accuracy_std", "mean_f1", "mean_f1_std", "seeds",
                                       "mmd2_after"])


def kernel_wide(kernels: pd.DataFrame) -> pd.DataFrame:
    """:func:`kernel_table` as methods × tasks, cells ``accuracy ± std`` (%), and the mean over tasks.

    >>> t = pd.DataFrame({"method": ["a", "a"], "task": ["C->H", "H->N"], "accuracy": [0.5, 0.25],
    ...                   "accuracy_std": [0.01, 0.0]})
    >>> kernel_wide(t).iloc[0].tolist()
    ['a', '50.00 ± 1.00', '25.00 ± 0.00', '37.50']
    """
    acc = kernels.pivot(index="method", columns="task", values="accuracy")
    std = kernels.pivot(index="method", columns="task", values="accuracy_std")
    order = list(dict.fromkeys(kernels["method"]))
    tasks = list(dict.fromkeys(kernels["task"]))
    out = pd.DataFrame({t: [f"{100 * acc.loc[m, t]:.2f} ± {100 * std.loc[m, t]:.2f}" for m in order] for t in tasks})
    out.insert(0, "method", order)
    out["mean"] = [f"{100 * acc.loc[m, tasks].mean():.2f}" for m in order]
    return out


def controls_table(runs: pd.DataFrame, *, tasks, lam: float) -> pd.DataFrame:
    """Per task and control: accuracy, the margin full − control paired over the seeds both have, with its 95% t
    interval, whether it separates (the interval above 0), the target's majority rate and the gap after training."""
    from madtn_utils.suite.paired import paired_difference, verdict

    rows = []
    for task in tasks:
        full, zero = _pick(runs, task, lam), _pick(runs, task, 0.0)
        if full is None:
            continue
        entries = [("MADTN (full, λ = %g)" % lam, full), ("λ = 0 (no MMD)", zero)]
        entries += [(name, _pick(runs, task, lam if l is None else l, comp, var)) for name, (comp, var, l) in CONTROLS.items()]
        for name, r in entries:
            if r is None:
                continue
            seeds = sorted(set(full["seed_accuracy"]) & set(r["seed_accuracy"]))
            stats = paired_difference([full["seed_accuracy"][s] for s in seeds], [r["seed_accuracy"][s] for s in seeds]) \
                if seeds and r is not full else None
            separates = "—" if stats is None else {"higher": "yes", "one seed": "one seed (no interval)"}.get(
                verdict(stats), "no")
            rows.append({"task": task, "run": name, "accuracy": r["accuracy_mean"], "accuracy_std": r["accuracy_std"],
                         "margin_vs_full": stats["mean"] if stats else np.nan,
                         "margin_low": stats["t_low"] if stats else np.nan, "margin_high": stats["t_high"] if stats else np.nan,
                         "paired_seeds": len(seeds) if stats else np.nan, "separates": separates,
                         "majority_rate": majority_rate(r["confusion"]), "chance": 1 / 3,
                         "mmd2_after": r["gap_mmd2_median_mean"], "domain_clf_after": r["gap_domain_clf_bacc_mean"],
                         "seeds": r["seeds"]})
    return pd.DataFrame(rows)


def shift_table(runs: pd.DataFrame, *, tasks, lam: float, shift=None) -> pd.DataFrame:
    """The shift study: per task, method (λ = 0, λ, median kernel at λ) and shift strength, accuracy mean ± std.

    ``shift``: the params' ``data.shift``; where all its components have one strength, the runs without shift
    overrides are the study's runs at that strength (:func:`~madtn_utils.suite.grid.grid_for` makes them once)."""
    rows = []
    base = {getattr(shift, c) for c in SHIFT_COMPONENTS} if shift is not None else set()
    for _, r in runs[runs["task"].isin(tasks) & (runs["components"] == FULL)].iterrows():
        parts = dict(p.split("=", 1) for p in r["variant"].split(", ") if "=" in p)
        if len(base) == 1 and not any(c in parts for c in SHIFT_COMPONENTS):
            parts.update(dict.fromkeys(SHIFT_COMPONENTS, str(next(iter(base)))))
        strengths = {parts.get(c) for c in SHIFT_COMPONENTS}
        if len(strengths) != 1 or None in strengths:
            continue  # not a run of the study (its four strengths are set together)
        other = {k: v for k, v in parts.items() if k not in SHIFT_COMPONENTS}
        if np.isclose(r["lam"], 0.0) and not other:
            method = "λ = 0"
        elif np.isclose(r["lam"], lam) and not other:
            method = f"λ = {lam:g} (paper kernel)"
        elif np.isclose(r["lam"], lam) and other == {"mmd_kernel": "median"}:
            method = f"λ = {lam:g} (median kernel)"
        else:
            continue
        rows.append({"task": r["task"], "method": method, "strength": float(strengths.pop()),
                     "accuracy": r["accuracy_mean"], "accuracy_std": r["accuracy_std"], "seeds": r["seeds"],
                     "mmd2_after": r["gap_mmd2_median_mean"]})
    cols = ["task", "method", "strength", "accuracy", "accuracy_std", "seeds", "mmd2_after"]
    return pd.DataFrame(rows, columns=cols).sort_values(["task", "method", "strength"]).reset_index(drop=True)
