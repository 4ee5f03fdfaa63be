"""``SVM`` and ``IW-SVM`` of Tables 3-4, and kernel mean matching (KMM) for the latter's weights.

**SVM** is the paper's classifier alone: libsvm's linear SVM (:class:`~.base.LibsvmLinearSVM`:
one-vs-one, hinge loss, ``C = 1``, the ``svmtrain(..., '-t 0')`` of Zong et al.'s public scripts)
fitted on the source features and applied to the target's. No adaptation.

**IW-SVM** reweights the source samples by kernel mean matching (Huang, Smola, Gretton,
Borgwardt, Schölkopf, "Correcting sample selection bias by unlabeled data", NIPS 2006) and
fits the same libsvm linear SVM with per-sample costs :math:`C\\beta_i` (libsvm's instance
weights). KMM matches the reweighted source mean to the target mean in the RKHS of a kernel :math:`k`:

.. math::

    \\min_\\beta \\tfrac12 \\beta^\\top K \\beta - \\kappa^\\top \\beta
    \\quad\\text{s.t.}\\quad 0 \\le \\beta_i \\le B,\\;
    \\Bigl|\\sum_i \\beta_i - n_s\\Bigr| \\le n_s\\epsilon,

with :math:`K_{ij} = k(x^s_i, x^s_j)` (:math:`n_s \\times n_s`) and
:math:`\\kappa_i = \\frac{n_s}{n_t}\\sum_j k(x^s_i, x^t_j)`. The objective is
:math:`\\tfrac{n_s^2}{2}` times the squared MMD between :math:`\\frac1{n_s}\\sum_i\\beta_i\\phi(x^s_i)`
and the target mean, up to a constant. :func:`kmm_weights` solves this convex QP by accelerated
projected gradient (FISTA with adaptive restart, step :math:`1/\\lambda_{\\max}(K)`); the
projection onto the box intersected with the slab is exact (a piecewise-linear root in the shift
:math:`\\tau` of :math:`\\operatorname{clip}(v - \\tau, 0, B)`). Deterministic.

Hyperparameters (defaults from Huang et al.'s experiments, as the ADAPT library also uses):
``B = 1000`` bounds each weight; ``eps = None`` means :math:`\\epsilon = (\\sqrt{n_s}-1)/\\sqrt{n_s}`;
``kernel = "rbf"`` (Gaussian, as in the paper) with ``gamma = None`` = the median heuristic on
source and target together; ``C = 1`` is libsvm's default cost, as the authors' scripts leave it. Features are used as given
(``preprocess = "none"``): the histograms are already L1-normalised per block.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> Xs, Xt = rng.normal(0, 1, (40, 3)), rng.normal(0.5, 1, (30, 3))
>>> ys = (Xs[:, 0] > 0).astype(int)
>>> beta = kmm_weights(Xs, Xt)
>>> bool(beta.min() >= 0 and beta.max() <= 1000 and abs(beta.mean() - 1) <= (np.sqrt(40) - 1) / np.sqrt(40))
True
>>> IWSVM().fit(Xs, ys, Xt).predict(Xt).shape
(30,)
>>> SVM(C=0).fit(Xs, ys, Xt)
Traceback (most recent call last):
...
ValueError: C: expected a finite number > 0, got 0
"""

from __future__ import annotations

import numpy as np

from madtn_utils.baselines.base import DomainAdaptationEstimator, LibsvmLinearSVM
from madtn_utils.baselines.kernels import (KERNELS, Preprocess, check_choice, check_positive,
                                           kernel_matrix, median_gamma)

__all__ = ["IWSVM", "SVM", "kmm_weights", "project_box_slab"]


def project_box_slab(v: np.ndarray, B: float, lo: float, hi: float) -> np.ndarray:
    """Euclidean projection of ``v`` onto :math:`\\{0 \\le x \\le B,\\; lo \\le \\sum x \\le hi\\}`.

    The projection is :math:`\\operatorname{clip}(v - \\tau, 0, B)` with :math:`\\tau = 0` if that
    sum is feasible, else the :math:`\\tau` at which the (piecewise-linear, non-increasing) sum hits
    the violated bound; found exactly between consecutive breakpoints :math:`v_i, v_i - B`.
    """
    x = np.clip(v, 0.0, B)
    s = x.sum()
    if lo <= s <= hi:
        return x
    target = hi if s > hi else lo
    bps = np.unique(np.concatenate([v - B, v]))
    g = np.clip(v[None, :] - bps[:, None], 0.0, B).sum(1)  # non-increasing in bps, from n*B down to 0
    k = int(np.searchsorted(-g, -target, side="left"))  # first breakpoint with g <= target
    if k == 0 or g[k] == target:
        return np.clip(v - bps[k], 0.0, B)
    t0, t1, g0, g1 = bps[k - 1], bps[k], g[k - 1], g[k]
    return np.clip(v - (t0 + (g0 - target) * (t1 - t0) / (g0 - g1)), 0.0, B)


def kmm_weights(Xs: np.ndarray, Xt: np.ndarray, *, B: float = 1000.0, eps: float | None = None,
                kernel: str = "rbf", gamma: float | None = None, tol: float = 1e-10,
                max_iter: int = 50000) -> np.ndarray:
    """The KMM weights :math:`\\beta` (n_s,) of the source rows ``Xs`` (n_s, d) towards ``Xt`` (n_t, d).

    Raises ``RuntimeError`` if the projected-gradient residual is not below ``tol`` (relative to
    :math:`\\max(1, \\lVert\\kappa\\rVert)`) within ``max_iter`` iterations.
    """
    ns, nt = len(Xs), len(Xt)
    eps = (np.sqrt(ns) - 1.0) / np.sqrt(ns) if eps is None else eps
    if B * ns < ns * (1.0 - eps):
        raise ValueError(f"B: expected B >= 1 - eps = {1 - eps:g} so that the weights can sum to n_s(1 - eps), got {B!r}")
    if gamma is None and kernel == "rbf":
        gamma = median_gamma(np.vstack([Xs, Xt]))
    K = kernel_matrix(Xs, Xs, kernel=kernel, gamma=gamma)
    kappa = (ns / nt) * kernel_matrix(Xs, Xt, kernel=kernel, gamma=gamma).sum(1)
    lo, hi = ns * (1.0 - eps), ns * (1.0 + eps)
    L = max(float(np.linalg.eigvalsh(K)[-1]), 1e-12)
    scale = max(1.0, float(np.linalg.norm(kappa)))
    beta = project_box_slab(np.ones(ns), B, lo, hi)
    y, t = beta.copy(), 1.0
    for _ in range(max_iter):
        new = project_box_slab(y - (K @ y - kappa) / L, B, lo, hi)
        t_new = (1.0 + np.sqrt(1.0 + 4.0 * t * t)) / 2.0
        if np.dot(y - new, new - beta) > 0:  # adaptive restart (O'Donoghue & Candes, 2015)
            y, t_new = new.copy(), 1.0
        else:
            y = new + ((t - 1.0) / t_new) * (new - beta)
        beta, t = new, t_new
        residual = L * np.linalg.norm(beta - project_box_slab(beta - (K @ beta - kappa) / L, B, lo, hi))
        if residual <= tol * scale:
            return beta
    raise RuntimeError(f"kmm_weights: projected gradient did not converge in {max_iter} iterations "
                       f"(residual {residual:.3g} > {tol * scale:.3g})")


class SVM(DomainAdaptationEstimator):
    """libsvm's linear SVM trained on the (preprocessed) source and applied to the target; see the module doc.

    ``C`` (default 1.0): the SVM cost. ``preprocess`` (default ``"none"``): see
    :class:`~.kernels.Preprocess`.
    """

    def __init__(self, *, C: float = 1.0, preprocess: str = "none"):
        self.C = C
        self.preprocess = preprocess

    def _fit(self, Xs, ys, Xt):
        check_positive("C", self.C)
        self.prep_ = Preprocess(self.preprocess)
        Zs, _ = self.prep_.fit_transform(Xs, Xt)
        self.svm_ = LibsvmLinearSVM(self.C).fit(Zs, ys)

    def _predict(self, X):
        return self.svm_.predict(self.prep_.transform(X))


class IWSVM(DomainAdaptationEstimator):
    """Importance-weighted libsvm linear SVM with kernel-mean-matching weights (``weights_``); see the module doc.

    ``C`` (1.0): SVM cost. ``B`` (1000): upper bound on each weight. ``eps`` (None =
    :math:`(\\sqrt{n_s}-1)/\\sqrt{n_s}`): slack of the weights' mean around 1. ``kernel`` (``"rbf"``)
    and ``gamma`` (None = median heuristic): the KMM kernel. ``preprocess`` (``"none"``).
    """

    def __init__(self, *, C: float = 1.0, B: float = 1000.0, eps: float | None = None, kernel: str = "rbf",
                 gamma: float | None = None, preprocess: str = "none"):
        self.C = C
        self.B = B
        self.eps = eps
        self.kernel = kernel
        self.gamma = gamma
        self.preprocess = preprocess

    def _fit(self, Xs, ys, Xt):
        check_positive("C", self.C)
        check_positive("B", self.B)
        check_positive("eps", self.eps, allow_none=True)
        check_positive("gamma", self.gamma, allow_none=True)
        check_choice("kernel", self.kernel, KERNELS)
        self.prep_ = Preprocess(self.preprocess)
        Zs, Zt = self.prep_.fit_transform(Xs, Xt)
        self.weights_ = kmm_weights(Zs, Zt, B=self.B, eps=self.eps, kernel=self.kernel, gamma=self.gamma)
        self.svm_ = LibsvmLinearSVM(self.C).fit(Zs, ys, sample_weight=self.weights_)

    def _predict(self, X):
        return self.svm_.predict(self.prep_.transform(X))
