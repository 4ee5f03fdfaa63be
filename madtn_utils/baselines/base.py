"""What every baseline estimator shares: input checks and the final linear SVM.

Every method of Tables 3-4 (METHOD.md §6) is an estimator on feature matrices with one
API, in scikit-learn's shape: the constructor takes hyperparameters only (keyword-only,
each with a documented default), ``fit(Xs, ys, Xt)`` learns from the labelled source and
the *unlabelled* target, ``predict(X)`` returns labels. Nothing reads a file, and the
target's labels never enter ``fit``.

:func:`check_domains` validates the three inputs at the edge (expected-vs-got
``ValueError``s naming the argument) and :func:`linear_svm` is the paper's final
classifier, deterministic.

>>> import numpy as np
>>> Xs, ys, Xt = check_domains(np.eye(4), [0, 1, 0, 1], np.ones((2, 4)))
>>> Xs.dtype, ys.tolist(), Xt.shape
(dtype('float64'), [0, 1, 0, 1], (2, 4))
>>> check_domains(np.eye(4), [0, 1, 0, 1], np.ones((2, 3)))
Traceback (most recent call last):
...
ValueError: Xt: expected 4 columns like Xs, got 3
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.svm import LinearSVC

__all__ = ["DomainAdaptationEstimator", "check_domains", "check_matrix", "linear_svm"]


def check_matrix(X, name: str, *, n_features: int | None = None) -> np.ndarray:
    """``X`` as a finite float64 matrix (n, d) with n >= 1, else ValueError naming ``name``."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"{name}: expected a 2-d feature matrix (samples, features), got shape {X.shape}")
    if X.shape[0] == 0:
        raise ValueError(f"{name}: expected at least one sample, got 0 rows")
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(f"{name}: expected {n_features} columns like Xs, got {X.shape[1]}")
    if not np.isfinite(X).all():
        raise ValueError(f"{name}: expected finite features, got {int((~np.isfinite(X)).sum())} non-finite value(s)")
    return X


def check_domains(Xs, ys, Xt) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(Xs, ys, Xt)`` validated: float64 matrices with the same columns, one integer label per source row,
    at least two classes in the source."""
    Xs = check_matrix(Xs, "Xs")
    ys = np.asarray(ys)
    if ys.ndim != 1 or len(ys) != len(Xs):
        raise ValueError(f"ys: expected one label per row of Xs ({len(Xs)}), got shape {ys.shape}")
    if not np.issubdtype(ys.dtype, np.integer):
        raise ValueError(f"ys: expected integer class labels, got dtype {ys.dtype}")
    if len(np.unique(ys)) < 2:
        raise ValueError(f"ys: expected at least two classes in the source, got {np.unique(ys).tolist()}")
    Xt = check_matrix(Xt, "Xt", n_features=Xs.shape[1])
    return Xs, ys.astype(np.int64), Xt


def linear_svm(C: float = 1.0, *, sample_weight=None):
    """The paper's final classifier: a linear SVM (one-vs-rest, squared hinge, liblinear), seeded.

    ``sample_weight`` is passed to ``fit`` by the caller; it is accepted here only to keep one
    constructor for weighted and unweighted use.
    """
    if not C > 0:
        raise ValueError(f"C: expected a positive SVM cost, got {C!r}")
    return LinearSVC(C=C, dual="auto", max_iter=20000, random_state=0)


class DomainAdaptationEstimator(ClassifierMixin, BaseEstimator):
    """Base of the baselines: ``fit(Xs, ys, Xt)`` learns, ``predict(X)`` labels, ``score`` is accuracy.

    Subclasses implement ``_fit(Xs, ys, Xt)`` (already validated float64 inputs) and
    ``_predict(X)``; :meth:`fit` stores ``n_features_in_`` and ``classes_``.
    """

    def fit(self, Xs, ys, Xt):
        Xs, ys, Xt = check_domains(Xs, ys, Xt)
        self.n_features_in_ = Xs.shape[1]
        self.classes_ = np.unique(ys)
        self._fit(Xs, ys, Xt)
        return self

    def predict(self, X) -> np.ndarray:
        if not hasattr(self, "n_features_in_"):
            raise ValueError(f"{type(self).__name__}: call fit(Xs, ys, Xt) before predict")
        X = check_matrix(X, "X", n_features=self.n_features_in_)
        return np.asarray(self._predict(X), dtype=np.int64)

    def _fit(self, Xs, ys, Xt):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} must implement _fit")

    def _predict(self, X):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} must implement _predict")
