"""Target-set metrics of the paper (accuracy, mean F1) plus UAR and the confusion matrix.

Labels are fixed to [0, 1, 2] (positive, negative, surprise) so a class missing from a
prediction set still gives a 3x3 confusion matrix and an F1 of 0 for that class.

- accuracy = Σ_i [y_i = ŷ_i] / N, in [0, 1].
- mean_f1 = (1/3) Σ_c F1_c, ``sklearn.metrics.f1_score(average="macro", labels=[0, 1, 2],
  zero_division=0)`` (the paper's "mean F1").
- uar = mean over the classes present in ``y_true`` of recall_c = TP_c / (TP_c + FN_c)
  (MEGC's unweighted average recall; classes absent from the truth are left out).
- confusion: 3x3 counts, rows = true class, columns = predicted class.

>>> m = classification_metrics([0, 0, 1, 1, 2, 2], [0, 1, 1, 1, 2, 0])
>>> round(m["accuracy"], 4), round(m["mean_f1"], 4), round(m["uar"], 4)
(0.6667, 0.6556, 0.6667)
>>> m["confusion"]
[[1, 1, 0], [0, 2, 0], [1, 0, 1]]
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import confusion_matrix as _sk_confusion
from sklearn.metrics import f1_score

__all__ = ["LABELS", "accuracy", "mean_f1", "uar", "confusion", "classification_metrics", "summarize"]

LABELS = (0, 1, 2)


def _arrays(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(y_true).ravel()
    p = np.asarray(y_pred).ravel()
    if t.shape != p.shape:
        raise ValueError(f"y_true, y_pred: expected one length, got {t.size} and {p.size}")
    if t.size == 0:
        raise ValueError("y_true: expected at least one sample, got none")
    for name, a in (("y_true", t), ("y_pred", p)):
        if not np.isin(a, LABELS).all():
            raise ValueError(f"{name}: expected labels in {list(LABELS)}, got {sorted(set(a.tolist()) - set(LABELS))}")
    return t.astype(np.int64), p.astype(np.int64)


def accuracy(y_true, y_pred) -> float:
    """Fraction of correct predictions, in [0, 1]."""
    t, p = _arrays(y_true, y_pred)
    return float((t == p).mean())


def mean_f1(y_true, y_pred) -> float:
    """Unweighted mean of the three per-class F1 scores (sklearn macro F1, labels [0, 1, 2])."""
    t, p = _arrays(y_true, y_pred)
    return float(f1_score(t, p, labels=list(LABELS), average="macro", zero_division=0))


def confusion(y_true, y_pred) -> np.ndarray:
    """3x3 int64 counts, rows true, columns predicted, labels [0, 1, 2]."""
    t, p = _arrays(y_true, y_pred)
    return _sk_confusion(t, p, labels=list(LABELS)).astype(np.int64)


def uar(y_true, y_pred) -> float:
    """Unweighted average recall over the classes present in ``y_true``."""
    cm = confusion(y_true, y_pred)
    support = cm.sum(1)
    present = support > 0
    return float((np.diag(cm)[present] / support[present]).mean())


def classification_metrics(y_true, y_pred) -> dict:
    """{"accuracy", "mean_f1", "uar": float, "confusion": nested 3x3 list of int}."""
    return {
        "accuracy": accuracy(y_true, y_pred),
        "mean_f1": mean_f1(y_true, y_pred),
        "uar": uar(y_true, y_pred),
        "confusion": confusion(y_true, y_pred).tolist(),
    }


def summarize(results) -> dict:
    """Mean and std (ddof=1; 0.0 for one seed) over seeds of accuracy, mean_f1 and uar, plus
    the summed confusion matrix: ``{"task", "seeds", "accuracy": {"mean", "std"}, ..., "confusion"}``."""
    results = list(results)
    if not results:
        raise ValueError("results: expected at least one TaskResult, got none")
    tasks = sorted({r.task for r in results})
    if len(tasks) != 1:
        raise ValueError(f"results: expected runs of one task, got {', '.join(tasks)}")
    out = {"task": tasks[0], "seeds": [r.seed for r in results]}
    for key in ("accuracy", "mean_f1", "uar"):
        v = np.array([r.metrics[key] for r in results], dtype=np.float64)
        out[key] = {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0}
    out["confusion"] = np.sum([r.metrics["confusion"] for r in results], axis=0).astype(int).tolist()
    return out
