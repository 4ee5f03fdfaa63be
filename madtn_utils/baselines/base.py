"""What every baseline estimator shares: input checks and the two final linear SVMs.

Every method of Tables 3-4 (METHOD.md §6) is an estimator on feature matrices with one
API, in scikit-learn's shape: the constructor takes hyperparameters only (keyword-only,
each with a documented default), ``fit(Xs, ys, Xt)`` learns from the labelled source and
the *unlabelled* target, ``predict(X)`` returns labels. Nothing reads a file, and the
target's labels never enter ``fit``.

:func:`check_domains` validates the three inputs at the edge (expected-vs-got
``ValueError``s naming the argument). Two final classifiers, both deterministic:

- :class:`LibsvmLinearSVM`: the final classifier of SVM, IW-SVM, TSRG and DRFS-T, as in Zong et
  al.'s public DR scripts (``svmtrain(labels, X, '-t 0')`` of libsvm, ProphetZ-star/ME-Recognition,
  ``MM2017-TIP2018-Codes_of_DR_V0.2/Example1_exp_CASME2_HS_TSRG.m``): libsvm's C-SVC with the
  linear kernel, hinge loss, one-vs-one over the classes, ``C = 1`` (libsvm's default ``-c``),
  libsvm's default tolerance ``-e 0.001``. It runs scikit-learn's :class:`~sklearn.svm.SVC` (libsvm)
  on the precomputed linear kernel :math:`XX^\\top`, the same problem as ``SVC(kernel="linear")``
  (tested) and much faster on 15,045-dimensional features (the kernel is one matrix product).
- :func:`linear_svm`: liblinear's one-vs-rest squared hinge (:class:`~sklearn.svm.LinearSVC`), kept
  for TCA, SA and GFK's ``classifier="svm"`` option, whose public code does not use Zong et al.'s
  libsvm call (their own classifiers are 1-NN or an SVM of their authors' choice).

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
from sklearn.svm import SVC, LinearSVC

__all__ = ["DomainAdaptationEstimator", "LibsvmLinearSVM", "check_domains", "check_matrix", "linear_svm"]


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


def linear_svm(C: float = 1.0):
    """liblinear's linear SVM (one-vs-rest, squared hinge), seeded: the final classifier of TCA, SA and
    GFK's ``classifier="svm"`` option (see the module doc)."""
    if not C > 0:
        raise ValueError(f"C: expected a positive SVM cost, got {C!r}")
    return LinearSVC(C=C, dual="auto", max_iter=20000, random_state=0)


class LibsvmLinearSVM:
    """libsvm's linear C-SVC (one-vs-one, hinge loss), on the precomputed linear kernel; see the module doc.

    ``fit(X, y, sample_weight=None)`` (per-sample costs :math:`C w_i`, as libsvm's instance weights)
    keeps the training rows, ``predict(X)`` labels by libsvm's one-vs-one vote on :math:`X X_{train}^\\top`.
    Rows of weight 0 are left out before fitting: they cannot change the solution (their cost bounds
    their dual variable at 0), and scikit-learn 1.9's precomputed-kernel SVC mispredicts when they are
    present (measured: every target sample in one class, where ``kernel="linear"`` does not; tested).
    Fitted: ``svc_`` (the :class:`~sklearn.svm.SVC`), ``train_`` (the training rows it kept).
    """

    def __init__(self, C: float = 1.0):
        if not C > 0:
            raise ValueError(f"C: expected a positive SVM cost, got {C!r}")
        self.C = C

    def fit(self, X: np.ndarray, y: np.ndarray, sample_weight=None) -> "LibsvmLinearSVM":
        X, y = np.asarray(X, dtype=np.float64), np.asarray(y)
        if sample_weight is not None:
            sample_weight = np.asarray(sample_weight, dtype=np.float64)
            keep = sample_weight > 0
            X, y, sample_weight = X[keep], y[keep], sample_weight[keep]
        self.train_ = X
        self.svc_ = SVC(kernel="precomputed", C=self.C).fit(X @ X.T, y, sample_weight=sample_weight)
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.svc_.predict(np.asarray(X, dtype=np.float64) @ self.train_.T)


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
