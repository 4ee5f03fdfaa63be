"""Shared helpers of the kernel baselines: kernels in the sample space, feature preprocessing,
and hyperparameter checks.

Everything works on ``n x n`` (or ``n x m``) matrices of samples; nothing forms a ``d x d``
matrix, so the 15,045-dimensional LBP-TOP histograms cost one ``X @ Y.T`` per kernel.

Kernels, for rows ``a`` of ``A`` and ``b`` of ``B``:

* ``linear``: :math:`k(a, b) = a^\\top b`;
* ``rbf``: :math:`k(a, b) = \\exp(-\\gamma \\lVert a - b \\rVert^2)`, with
  ``gamma=None`` meaning the median heuristic :math:`\\gamma = 1 / \\operatorname{median}_{i<j}
  \\lVert x_i - x_j \\rVert^2` over the rows given to :func:`median_gamma`.

Preprocessing (:class:`Preprocess`), chosen per method after that method's public code:

* ``none``: the features as given (the benchmark's histograms, each block summing to 1);
* ``l2``: each sample scaled to unit Euclidean norm (Long et al.'s TCA/JDA/TKL scripts);
* ``zscore``: each domain standardised by its own mean and standard deviation (Gong et al.'s
  GFK and Fernando et al.'s SA scripts); a constant feature keeps scale 1. ``transform``
  (used by ``predict``) applies the *target's* statistics: predict is for target samples.

>>> import numpy as np
>>> A = np.array([[0.0, 0.0], [3.0, 4.0]])
>>> sq_distances(A, A).tolist()
[[0.0, 25.0], [25.0, 0.0]]
>>> kernel_matrix(A, A, kernel="rbf", gamma=0.04).round(4).tolist()
[[1.0, 0.3679], [0.3679, 1.0]]
>>> prep = Preprocess("zscore")
>>> Zs, Zt = prep.fit_transform(A, A + 1)
>>> Zt.tolist(), prep.transform(np.array([[2.5, 3.0]])).tolist()
([[-1.0, -1.0], [1.0, 1.0]], [[0.0, 0.0]])
>>> Preprocess("l2").fit_transform(A, A)[1].tolist()
[[0.0, 0.0], [0.6, 0.8]]
>>> check_choice("kernel", "poly", ("linear", "rbf"))
Traceback (most recent call last):
...
ValueError: kernel: expected one of ('linear', 'rbf'), got 'poly'
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = ["KERNELS", "PREPROCESSING", "Preprocess", "check_choice", "check_int", "check_positive",
           "kernel_matrix", "median_gamma", "sq_distances"]

KERNELS = ("linear", "rbf")
PREPROCESSING = ("none", "l2", "zscore")


def check_positive(name: str, value, *, allow_none: bool = False, minimum: float = 0.0,
                   inclusive: bool = False) -> None:
    """ValueError unless ``value`` is a real number > ``minimum`` (>= if ``inclusive``; None where allowed)."""
    if value is None and allow_none:
        return
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and np.isfinite(value)
    if not ok or not (value >= minimum if inclusive else value > minimum):
        allowed = " or None" if allow_none else ""
        raise ValueError(f"{name}: expected a finite number {'>=' if inclusive else '>'} {minimum:g}{allowed}, got {value!r}")


def check_int(name: str, value, *, minimum: int = 1, extra: tuple = ()) -> None:
    """ValueError unless ``value`` is an int >= ``minimum`` or one of the strings/values in ``extra``."""
    if (isinstance(value, str) or value is None) and value in extra:
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        alt = f" or one of {extra}" if extra else ""
        raise ValueError(f"{name}: expected an integer >= {minimum}{alt}, got {value!r}")


def check_choice(name: str, value, choices: tuple) -> None:
    """ValueError unless ``value`` is one of ``choices``."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name}: expected one of {choices}, got {value!r}")


def sq_distances(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances between the rows of ``A`` (n, d) and ``B`` (m, d): (n, m), >= 0."""
    D = (A * A).sum(1)[:, None] + (B * B).sum(1)[None, :] - 2.0 * (A @ B.T)
    return np.maximum(D, 0.0)


def median_gamma(X: np.ndarray, *, distances: np.ndarray | None = None) -> float:
    """The median heuristic :math:`1 / \\operatorname{median}_{i<j} \\lVert x_i - x_j\\rVert^2` (1.0 if all rows
    coincide); ``distances`` may pass the precomputed ``sq_distances(X, X)``."""
    D = sq_distances(X, X) if distances is None else distances
    D = D[np.triu_indices(len(D), 1)]
    D = D[D > 0]
    return 1.0 / float(np.median(D)) if len(D) else 1.0


def kernel_matrix(A: np.ndarray, B: np.ndarray, *, kernel: str, gamma: float | None = None) -> np.ndarray:
    """The (n, m) kernel between rows of ``A`` and ``B``; ``gamma`` is required for ``rbf``."""
    check_choice("kernel", kernel, KERNELS)
    if kernel == "linear":
        return A @ B.T
    if gamma is None:
        raise ValueError("gamma: expected a positive RBF width for kernel='rbf', got None")
    return np.exp(-gamma * sq_distances(A, B))


class Preprocess:
    """Feature preprocessing fitted on the two domains: ``none``, ``l2`` or per-domain ``zscore``.

    ``fit_transform(Xs, Xt)`` stores the target's statistics and returns both transformed
    matrices; ``transform(X)`` maps new (target) samples like the target.
    """

    def __init__(self, how: str):
        check_choice("preprocess", how, PREPROCESSING)
        self.how = how

    @staticmethod
    def _stats(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mu, sd = X.mean(0), X.std(0)
        return mu, np.where(sd > 1e-12 * max(1.0, float(np.abs(X).max())), sd, 1.0)

    def _apply(self, X: np.ndarray, stats) -> np.ndarray:
        if self.how == "l2":
            norm = np.linalg.norm(X, axis=1, keepdims=True)
            return X / np.where(norm > 0, norm, 1.0)
        if self.how == "zscore":
            return (X - stats[0]) / stats[1]
        return X

    def fit_transform(self, Xs: np.ndarray, Xt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        s_stats = self._stats(Xs) if self.how == "zscore" else None
        self.target_stats_ = self._stats(Xt) if self.how == "zscore" else None
        return self._apply(Xs, s_stats), self._apply(Xt, self.target_stats_)

    def transform(self, X: np.ndarray) -> np.ndarray:
        return self._apply(X, self.target_stats_)
