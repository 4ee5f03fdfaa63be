"""Paired comparisons over seeds: the statistics behind every "better", "worse" or "separates".

Two variants trained with the same seeds give paired values a_s, b_s (same initialisation,
batch order and augmentation streams per seed s). With d_s = a_s − b_s over n seeds:

    mean  d̄ = Σ d_s / n,   sd = sqrt(Σ (d_s − d̄)² / (n − 1))
    95% t interval:          d̄ ± t_{0.975, n−1} · sd / √n
    95% bootstrap interval:  the 2.5 and 97.5 percentiles of the mean of n seeds resampled with
                             replacement (10,000 resamples, seeded: the same numbers every time)

and the counts of seeds with d_s > 0, d_s < 0 and d_s = 0. A difference is called clear only
when its t interval excludes 0 (:func:`verdict`); with fewer than 2 seeds there is no interval.

>>> r = paired_difference([0.6, 0.7, 0.8], [0.5, 0.5, 0.6])
>>> round(r["mean"], 4), r["above"], r["below"], round(r["t_low"], 4), round(r["t_high"], 4)
(0.1667, 3, 0, 0.0232, 0.3101)
>>> verdict(r)
'higher'
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

__all__ = ["paired_difference", "verdict", "paired_table", "format_interval"]

_BOOT = 10_000


def paired_difference(a, b, *, confidence: float = 0.95, seed: int = 0) -> dict:
    """Statistics of d = a − b over paired seeds (module docstring); ValueError for unequal lengths or non-finite values."""
    from scipy import stats

    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1 or not len(a):
        raise ValueError(f"paired values: expected two equal-length 1-d arrays (one value per seed), got shapes "
                         f"{a.shape} and {b.shape}")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("paired values: expected finite values, got NaN or inf")
    d, n = a - b, len(a)
    out = {"n": n, "mean": float(d.mean()), "sd": float(d.std(ddof=1)) if n > 1 else float("nan"),
           "above": int((d > 0).sum()), "below": int((d < 0).sum()), "equal": int((d == 0).sum()),
           "t_low": float("nan"), "t_high": float("nan"), "boot_low": float("nan"), "boot_high": float("nan")}
    if n > 1:
        half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * out["sd"] / math.sqrt(n)
        out["t_low"], out["t_high"] = out["mean"] - half, out["mean"] + half
        rng = np.random.default_rng(seed)
        means = d[rng.integers(0, n, size=(_BOOT, n))].mean(1)
        lo, hi = np.quantile(means, [0.5 - confidence / 2, 0.5 + confidence / 2])
        out["boot_low"], out["boot_high"] = float(lo), float(hi)
    return out


def verdict(stats: dict) -> str:
    """``higher`` / ``lower`` when the t interval excludes 0, ``no clear difference`` when it holds 0,
    ``one seed`` without an interval."""
    if not math.isfinite(stats["t_low"]):
        return "one seed"
    if stats["t_low"] > 0:
        return "higher"
    if stats["t_high"] < 0:
        return "lower"
    return "no clear difference"


def format_interval(stats: dict, scale: float = 100.0) -> str:
    """``+1.23 [−0.50, +2.96]`` (points, t interval), or the mean alone for one seed.

    >>> format_interval({"mean": 0.0123, "t_low": -0.005, "t_high": 0.0296})
    '+1.23 [-0.50, +2.96]'
    """
    if not math.isfinite(stats["t_low"]):
        return f"{scale * stats['mean']:+.2f}"
    return f"{scale * stats['mean']:+.2f} [{scale * stats['t_low']:+.2f}, {scale * stats['t_high']:+.2f}]"


def paired_table(values: pd.DataFrame, *, reference: str, group: str = "task", variant: str = "variant",
                 value: str = "accuracy") -> pd.DataFrame:
    """Per ``group`` and ``variant`` of a long table (one row per group, variant and seed): mean, std, and the
    paired difference to the ``reference`` variant over the seeds both have (its row has no difference).

    ValueError naming the group when the reference is missing there.
    """
    rows = []
    for g, part in values.groupby(group, sort=False):
        ref = part[part[variant] == reference].set_index("seed")[value]
        if ref.empty:
            raise ValueError(f"{group} {g}: expected runs of the reference {reference!r}, found none")
        for v, runs in part.groupby(variant, sort=False):
            x = runs.set_index("seed")[value]
            row = {group: g, variant: v, "seeds": len(x), "mean": float(x.mean()),
                   "std": float(x.std(ddof=1)) if len(x) > 1 else 0.0}
            if v != reference:
                common = sorted(set(x.index) & set(ref.index))
                if common:
                    s = paired_difference(x.loc[common].to_numpy(), ref.loc[common].to_numpy())
                    row.update({f"diff_{k}": s[k] for k in ("mean", "t_low", "t_high", "boot_low", "boot_high")},
                               above=s["above"], below=s["below"], equal=s["equal"], paired_seeds=len(common),
                               verdict=verdict(s))
            rows.append(row)
    return pd.DataFrame(rows)
