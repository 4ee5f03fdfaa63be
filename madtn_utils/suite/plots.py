"""Plots: map gallery (Figure 3), confusion matrices (Figure 5), accuracy against λ (Figure 6), and
beyond the paper: the domain gap against λ, the shift study and the baselines' oracle audit.

Every function takes ``ax=None`` (or ``axes=None``), draws, and returns the Axes; none
calls ``show()`` or saves: notebooks save (:func:`save_figure` writes PNG and PDF
atomically).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

__all__ = ["plot_map_gallery", "plot_confusion", "plot_confusion_grid", "plot_lambda_curve", "plot_gap_vs_lambda",
           "plot_shift_study", "plot_oracle_gap", "plot_real_variants", "plot_real_sweep", "save_figure"]

CLASSES = ("positive", "negative", "surprise")


def plot_map_gallery(data, *, per_class: int = 4, axes=None, seed: int = 0):
    """Motion-attention maps (test maps, channels as RGB) of ``per_class`` samples per class; returns the axes grid."""
    import matplotlib.pyplot as plt

    if axes is None:
        _, axes = plt.subplots(len(CLASSES), per_class, figsize=(2.0 * per_class, 2.1 * len(CLASSES)), squeeze=False)
    rng = np.random.default_rng(seed)
    for r, name in enumerate(CLASSES):
        rows = np.flatnonzero(data.labels == r)
        picks = np.sort(rng.choice(rows, size=min(per_class, len(rows)), replace=False)) if len(rows) else []
        for c in range(axes.shape[1]):
            ax = axes[r, c]
            ax.set_xticks([]), ax.set_yticks([])
            if c < len(picks):
                ax.imshow(np.transpose(data.test_maps[picks[c]], (1, 2, 0)))
                ax.set_title(data.sample_ids[picks[c]], fontsize=7)
            else:
                ax.axis("off")
        axes[r, 0].set_ylabel(name)
    return axes


def plot_confusion(confusion, *, ax=None, title: str = "", normalize: bool = True, ylabels: bool = True,
                   xlabel: bool = True, fontsize: float = 9):
    """One 3x3 confusion matrix (rows: true class, columns: predicted) as a heatmap.

    The class names on the y axis are horizontal; ``ylabels=False`` leaves them (and "true")
    off, ``xlabel=False`` leaves off "predicted" (for grids that share the axes).
    """
    import matplotlib.pyplot as plt
    import seaborn as sns

    if ax is None:
        _, ax = plt.subplots(figsize=(3.4, 2.8))
    cm = np.asarray(confusion, dtype=float)
    if cm.shape != (3, 3):
        raise ValueError(f"confusion: expected a 3x3 matrix, got shape {cm.shape}")
    shown = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1) if normalize else cm
    sns.heatmap(shown, annot=True, fmt=".2f" if normalize else ".0f", cmap="Blues", vmin=0,
                vmax=1 if normalize else None, cbar=False, ax=ax, xticklabels=CLASSES,
                yticklabels=CLASSES if ylabels else False, annot_kws={"fontsize": fontsize})
    ax.tick_params(axis="both", labelsize=fontsize, length=0)
    ax.tick_params(axis="x", labelrotation=0)
    ax.tick_params(axis="y", labelrotation=0)
    ax.set_xlabel("predicted" if xlabel else "", fontsize=fontsize)
    ax.set_ylabel("true" if ylabels else "", fontsize=fontsize)
    ax.set_title(title, fontsize=fontsize + 1)
    return ax


def plot_confusion_grid(confusions: dict, *, axes=None, ncols: int = 6):
    """Confusion matrices keyed by task (``"H->V"``, titled ``H→V``), in the given order; returns the axes grid.

    Class names label the y axis of the first column only and "predicted" the lowest matrix
    of each column (the classes are in the same order everywhere), so no label runs into a
    neighbour. Call ``fig.tight_layout()`` after adding a suptitle.
    """
    import matplotlib.pyplot as plt

    n = len(confusions)
    if axes is None:
        nrows = max(1, -(-n // ncols))
        _, axes = plt.subplots(nrows, ncols, figsize=(2.7 * ncols + 0.6, 2.5 * nrows), squeeze=False)
    grid = np.asarray(axes)
    cols = grid.shape[-1] if grid.ndim == 2 else len(grid.ravel())
    flat = grid.ravel()
    for i, (ax, (task, cm)) in enumerate(zip(flat, confusions.items())):
        plot_confusion(cm, ax=ax, title=str(task).replace("->", "→"), ylabels=i % cols == 0, xlabel=i + cols >= n)
    for ax in flat[n:]:
        ax.axis("off")
    return axes


def plot_lambda_curve(table, *, ax=None):
    """Accuracy (%) against λ per task from a DataFrame with columns task, lam, accuracy_mean[, accuracy_std].

    The λ = 0 accuracy of each task is drawn as a dashed horizontal line (no MMD).
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.5))
    for i, (task, group) in enumerate(table.groupby("task", sort=False)):
        group = group.sort_values("lam")
        colour = f"C{i}"
        yerr = group["accuracy_std"] * 100 if "accuracy_std" in group else None
        name = str(task).replace("->", "→")
        ax.errorbar(group["lam"], group["accuracy_mean"] * 100, yerr=yerr, marker="o", capsize=3, color=colour, label=name)
        zero = group[group["lam"] == 0]
        if len(zero):
            ax.axhline(float(zero["accuracy_mean"].iloc[0]) * 100, ls="--", lw=1, color=colour, label=f"{name}, λ = 0")
    ax.set_xlabel("λ (MMD weight)"), ax.set_ylabel("target accuracy (%)")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1), borderaxespad=0)
    return ax


def plot_gap_vs_lambda(table, *, ax=None, measure: str = "mmd2"):
    """The domain gap after training (``measure``: ``mmd2`` or ``domain_clf``, with ``*_std``) against λ per
    task, from :func:`~madtn_utils.suite.studies.gap_table`; dotted: the untrained network's gap."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.5))
    for i, (task, group) in enumerate(table.groupby("task", sort=False)):
        group = group.sort_values("lam")
        name = str(task).replace("->", "→")
        ax.errorbar(group["lam"], group[measure], yerr=group[f"{measure}_std"], marker="o", capsize=3, color=f"C{i}",
                    label=name)
        ax.plot(group["lam"], group[f"{measure}_init"], ls=":", color=f"C{i}", label=f"{name}, untrained")
    ax.set_xlabel("λ (MMD weight)")
    ax.set_ylabel({"mmd2": "MMD² (median-heuristic kernel)", "domain_clf": "domain classifier (balanced acc.)"}[measure])
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1), borderaxespad=0)
    return ax


def plot_shift_study(table, *, task: str, ax=None):
    """Target accuracy (%) against shift strength for each method on ``task``, mean ± std over seeds,
    from :func:`~madtn_utils.suite.studies.shift_table`."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 3.2))
    for i, (method, group) in enumerate(table[table["task"] == task].groupby("method", sort=True)):
        group = group.sort_values("strength")
        ax.errorbar(group["strength"], group["accuracy"] * 100, yerr=group["accuracy_std"] * 100, marker="o", capsize=3,
                    color=f"C{i}", label=method)
    ax.set_title(str(task).replace("->", "→")), ax.set_xlabel("shift strength"), ax.set_ylabel("target accuracy (%)")
    ax.legend(fontsize=7)
    return ax


def plot_oracle_gap(audit, *, ax=None):
    """The oracle audit (:func:`~madtn_utils.suite.baselines.oracle_table`): per method, the mean target accuracy
    with label-free hyperparameters and with the best setting on the target's labels (bars, %), and each task's
    oracle − label-free difference (dots, right axis)."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(7.5, 3.6))
    avg = audit[audit["task"] == "Average"]
    x = np.arange(len(avg))
    ax.bar(x - 0.2, 100 * avg["accuracy_label_free"], 0.4, label="label-free (ours)", color="#4c72b0")
    ax.bar(x + 0.2, 100 * avg["accuracy_oracle"], 0.4, label="oracle (best on target labels)", color="#dd8452")
    ax.set_xticks(x, avg["method"], rotation=30, ha="right")
    ax.set_ylabel("mean target accuracy (%)")
    per_task = audit[audit["task"] != "Average"]
    twin = ax.twinx()
    for i, method in enumerate(avg["method"]):
        gaps = 100 * per_task.loc[per_task["method"] == method, "accuracy_oracle_minus_label_free"].to_numpy()
        twin.plot(np.full(len(gaps), i + 0.2), gaps, "k.", ms=3, alpha=0.6)
    twin.set_ylabel("oracle − label-free per task (points)")
    twin.set_ylim(bottom=0)
    top = float(np.nanmax(100 * avg[["accuracy_label_free", "accuracy_oracle"]].to_numpy())) if len(avg) else 100.0
    ax.set_ylim(0, 1.3 * top)  # room for the legend above the bars
    ax.legend(loc="upper left", fontsize=8, ncol=2)
    return ax


def _mean_interval(x) -> tuple[float, float]:
    """(mean, half-width of its 95% t interval) of per-seed values (half-width 0 for one seed)."""
    from scipy import stats

    x = np.asarray(x, dtype=float)
    if len(x) < 2:
        return float(x.mean()), 0.0
    return float(x.mean()), float(stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x)))


def plot_real_variants(values, variants, *, ax=None):
    """The real-data study: target accuracy (%) per variant (x) and task (colour), mean over seeds with its 95%
    t interval; dashed: each task's target majority rate. ``values``: one row per task, variant and seed."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(1.1 * len(variants) + 2, 3.8))
    tasks = list(dict.fromkeys(values["task"]))
    width = 0.7 / max(len(tasks), 1)
    for i, task in enumerate(tasks):
        part = values[values["task"] == task]
        pts = [(j, *_mean_interval(part.loc[part["variant"] == v, "accuracy"] * 100)) for j, v in enumerate(variants)
               if (part["variant"] == v).any()]
        xs = [j - 0.35 + width * (i + 0.5) for j, *_ in pts]
        ax.errorbar(xs, [m for _, m, _ in pts], yerr=[h for *_, h in pts], fmt="o", capsize=3, color=f"C{i}",
                    label=task.replace("->", "→"))
        ax.axhline(float(part["majority"].iloc[0]) * 100, ls="--", lw=1, color=f"C{i}")
    ax.set_xticks(range(len(variants)), [v.replace("control: ", "control:\n") for v in variants], rotation=30,
                  ha="right", fontsize=8)
    ax.set_ylabel("target accuracy (%)")
    ax.legend(fontsize=8, title="task (dashed: majority)", title_fontsize=8)
    return ax


def plot_real_sweep(values, *, ax=None):
    """Target accuracy (%) against λ (the paper's kernel) per task, mean with its 95% t interval over seeds;
    ``values`` holds a ``lam`` column and only the sweep's runs."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(4.6, 3.6))
    for i, (task, part) in enumerate(values.groupby("task", sort=False)):
        pts = [(lam, *_mean_interval(g["accuracy"] * 100)) for lam, g in part.groupby("lam")]
        ax.errorbar([p[0] for p in pts], [p[1] for p in pts], yerr=[p[2] for p in pts], marker="o", capsize=3,
                    color=f"C{i}", label=task.replace("->", "→"))
        ax.axhline(pts[0][1], ls=":", lw=1, color=f"C{i}")
    ax.set_xlabel("λ (paper kernel)")
    ax.set_ylabel("target accuracy (%)")
    ax.legend(fontsize=8, title="task (dotted: λ = 0)", title_fontsize=8)
    return ax


def save_figure(fig, path: str | Path, *, formats=("png", "pdf"), dpi: int = 150) -> list[Path]:
    """Write ``fig`` as ``path`` with each suffix in ``formats``, each via a temp file and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    written = []
    for fmt in formats:
        final = path.with_suffix(f".{fmt}")
        tmp = final.with_name(f".{final.name}.tmp-{os.getpid()}")
        fig.savefig(tmp, format=fmt, dpi=dpi, bbox_inches="tight")
        os.replace(tmp, final)
        written.append(final)
    return written
