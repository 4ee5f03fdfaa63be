"""STM: the selective transfer machine (Chu, De la Torre, Cohn, CVPR 2013).

STM learns a classifier and per-source-sample weights ``s`` together, so that the weighted
source resembles the target in an RKHS while its samples stay easy to classify::

    min_{w, s}  R_w(s) + λ Ω(s)                                                              (1)
    R_w(s) = Σ_c ½(‖w_c‖² + b_c²) + C Σ_i s_i ℓ_i,   ℓ_i = Σ_c max(0, 1 − y_ic (w_cᵀx_i + b_c))²   (2)
    Ω(s)   = ½ sᵀ K s − κᵀ s,   K_ij = k(xs_i, xs_j),   κ_i = (n_s/n_t) Σ_j k(xs_i, xt_j)          (3)
    s.t.   0 <= s_i <= B,   |Σ_i s_i − n_s| <= n_s ε

(3) is ``n_s²/2 · ‖(1/n_s) Σ s_i φ(xs_i) − (1/n_t) Σ φ(xt_j)‖²`` up to a constant (the KMM form).
Solver: alternate convex search, as the paper: from ``s = 1`` (projected on the constraints),
(a) fix s, solve the weighted squared-hinge SVM (2) exactly (its dual, a non-negative least
squares problem per class: ``min_{α>=0} ½αᵀ(Q + diag(1/(2Cs_i)))α − 1ᵀα``, ``Q_ij = y_iy_j(x_iᵀx_j + 1)``,
samples with s_i = 0 left out); (b) fix w, solve the QP ``min_s ½sᵀKs + (Cℓ/λ − κ)ᵀs`` on the
constraint set (accelerated projected gradient with restart, exact projection, up to 5,000 steps,
warm-started). Stop when (1) decreases by less than ``tol`` relative, or after ``max_iter`` rounds,
then refit w on the final s. Every step minimises (1) over its block, so (1) never increases.

Interpretations: STM is binary (AU detection); here c classes share one weight vector s and the
loss sums the one-vs-rest squared hinges (p = 2, as the paper's L^p with p = 2), a linear classifier
with its bias regularised as liblinear's, i.e. the project's :func:`~.base.linear_svm` objective
with sample weights. Ω uses the RBF kernel ``exp(−γ‖x − y‖²)``, γ = 1/median squared distance over
source and target when ``gamma`` is None: the kernel of the IW-SVM baseline's KMM. The paper's values of B, ε, λ were
not reachable here; B = 1000 and ε = (√n_s − 1)/√n_s are KMM's (Huang et al., NIPS 2006; Gretton
et al. 2009), C = 1 and λ = 1 are unit defaults. None is chosen on target labels.

>>> rng = np.random.default_rng(0)
>>> Xs, ys = rng.normal(size=(40, 5)), np.repeat([0, 1], 20)
>>> Xs[ys == 1, 0] += 3
>>> Xt = Xs[Xs[:, 1] > 0] + 0.1
>>> stm = STM(B=5.0, eps=0.2).fit(Xs, ys, Xt)
>>> bool(stm.weights_.min() >= 0 and stm.weights_.max() <= 5 and abs(stm.weights_.sum() - 40) <= 8 + 1e-9)
True
>>> bool(stm.weights_[Xs[:, 1] > 0].mean() > stm.weights_[Xs[:, 1] <= 0].mean())
True
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import cholesky, solve_triangular
from scipy.optimize import nnls

from madtn_utils.baselines.base import DomainAdaptationEstimator, check_matrix
from madtn_utils.baselines.kernels import KERNELS, check_choice, check_int, check_positive, kernel_matrix, median_gamma

__all__ = ["STM", "project_weights", "solve_weights", "weighted_l2_svm"]


def project_weights(v, B: float, lo: float, hi: float) -> np.ndarray:
    """Euclidean projection of ``v`` on ``{0 <= s <= B, lo <= Σs <= hi}``: ``clip(v − τ, 0, B)`` with the
    shift τ found exactly on the breakpoints of the piecewise-linear ``τ ↦ Σ clip(v − τ, 0, B)``."""
    s = np.clip(v, 0.0, B)
    total = s.sum()
    if lo <= total <= hi:
        return s
    target = hi if total > hi else lo
    taus = np.sort(np.concatenate([v, v - B]))
    sums = np.clip(v[None, :] - taus[:, None], 0.0, B).sum(1)  # non-increasing in tau
    k = min(int(np.searchsorted(-sums, -target, side="right")), len(taus) - 1)
    k = max(k, 1)
    t0, t1, g0, g1 = taus[k - 1], taus[k], sums[k - 1], sums[k]
    tau = t0 if g0 == g1 else t0 + (g0 - target) * (t1 - t0) / (g0 - g1)
    return np.clip(v - tau, 0.0, B)


def solve_weights(K, q, B: float, lo: float, hi: float, s0, *, max_iter: int = 5000, tol: float = 1e-10):
    """``argmin ½sᵀKs + qᵀs`` on the constraint set of :func:`project_weights`: FISTA with gradient restart and
    step 1/λ_max(K), from ``s0`` (projected); stops when a projected-gradient step from s moves it by at most
    ``tol·max(1, B)`` (checked every 10 steps). Returns the end point, or the start if that is lower."""
    L = max(float(np.linalg.eigvalsh(K)[-1]), 1e-12)
    f = lambda v: 0.5 * v @ K @ v + q @ v  # noqa: E731
    start = s = project_weights(np.asarray(s0, np.float64), B, lo, hi)
    y, t = s.copy(), 1.0
    for it in range(max_iter):
        s_new = project_weights(y - (K @ y + q) / L, B, lo, hi)
        restart = (y - s_new) @ (s_new - s) > 0
        t_new = 1.0 if restart else (1 + np.sqrt(1 + 4 * t * t)) / 2
        y = s_new if restart else s_new + (t - 1) / t_new * (s_new - s)
        s, t = s_new, t_new
        if it % 10 == 9 and np.abs(project_weights(s - (K @ s + q) / L, B, lo, hi) - s).max() <= tol * max(1.0, B):
            break
    return s if f(s) <= f(start) else start


def weighted_l2_svm(G, Y, C: float, s):
    """Dual coefficients ``A`` (n × c) of the one-vs-rest squared-hinge SVMs with costs ``C·s_i`` on the linear
    Gram matrix ``G``: ``w_c = Σ_i A_ic Y_ic x_i``, ``b_c = Σ_i A_ic Y_ic``; Y is ±1 (n × c)."""
    A = np.zeros(Y.shape)
    on = s > 1e-10 * s.max()
    if not on.any():  # every cost 0: w = 0, b = 0 minimise ½‖w‖² + ½b² (and scipy's nnls aborts on 0 × 0)
        return A
    for c in range(Y.shape[1]):
        y = Y[on, c]
        M = np.outer(y, y) * (G[np.ix_(on, on)] + 1.0) + np.diag(1.0 / (2.0 * C * s[on]))
        L = cholesky(M, lower=True)  # ½αᵀMα − 1ᵀα = ½‖Lᵀα − L⁻¹1‖² + const
        A[on, c] = nnls(L.T, solve_triangular(L, np.ones(len(y)), lower=True), maxiter=50 * len(y))[0]
    return A


class STM(DomainAdaptationEstimator):
    """Selective transfer machine, equations (1)-(3) above.

    Hyperparameters (keyword-only, stored unchanged): ``C`` (> 0, default 1): loss weight;
    ``lam`` (λ > 0, default 1): weight of the distribution match Ω; ``B`` (> 0, default 1000): upper
    bound of a weight; ``eps`` (0 <= ε < 1, default None = (√n_s − 1)/√n_s): slack of Σs around n_s;
    ``kernel`` ('rbf' default | 'linear') and ``gamma`` (> 0, default None = median heuristic) for Ω;
    ``max_iter`` (>= 1, default 20) rounds and ``tol`` (> 0, default 1e-6).
    Fitted: ``weights_`` (n_s), ``coef_`` (c × d), ``intercept_`` (c), ``objective_history_``, ``n_iter_``.
    """

    def __init__(self, *, C=1.0, lam=1.0, B=1000.0, eps=None, kernel="rbf", gamma=None, max_iter=20, tol=1e-6):
        self.C, self.lam, self.B, self.eps = C, lam, B, eps
        self.kernel, self.gamma, self.max_iter, self.tol = kernel, gamma, max_iter, tol

    def _check_params(self, ns: int) -> float:
        for name in ("C", "lam", "B", "tol"):
            check_positive(name, getattr(self, name))
        check_int("max_iter", self.max_iter)
        check_positive("eps", self.eps, allow_none=True, inclusive=True)
        eps = (np.sqrt(ns) - 1) / np.sqrt(ns) if self.eps is None else self.eps
        if eps >= 1:
            raise ValueError(f"eps: expected a number in [0, 1) so that the weights cannot all vanish, got {eps!r}")
        check_choice("kernel", self.kernel, KERNELS)
        check_positive("gamma", self.gamma, allow_none=True)
        if self.B * ns < ns * (1 - eps):
            raise ValueError(f"B: expected B >= 1 - eps = {1 - eps:g} so that the weights can sum to "
                             f"n_s(1 - eps), got {self.B!r}")
        return float(eps)

    def _objective(self, A, Y, G, s, loss, K, kappa) -> float:
        AY = A * Y
        reg = 0.5 * (np.einsum("ic,ij,jc->", AY, G, AY) + (AY.sum(0) ** 2).sum())
        return float(reg + self.C * s @ loss + self.lam * (0.5 * s @ K @ s - kappa @ s))

    def _fit(self, Xs, ys, Xt):
        ns = len(Xs)
        eps = self._check_params(ns)
        Y = np.where(ys[:, None] == self.classes_[None, :], 1.0, -1.0)
        Y = Y[:, 1:] if len(self.classes_) == 2 else Y
        gamma = None if self.kernel == "linear" else self.gamma or median_gamma(np.vstack([Xs, Xt]))
        K = kernel_matrix(Xs, Xs, kernel=self.kernel, gamma=gamma)
        kappa = ns / len(Xt) * kernel_matrix(Xs, Xt, kernel=self.kernel, gamma=gamma).sum(1)
        G = Xs @ Xs.T
        lo, hi = ns * (1 - eps), ns * (1 + eps)
        s = project_weights(np.ones(ns), float(self.B), lo, hi)
        history = []
        for it in range(1, self.max_iter + 1):
            A = weighted_l2_svm(G, Y, self.C, s)
            F = G @ (A * Y) + (A * Y).sum(0)
            loss = (np.maximum(0.0, 1.0 - Y * F) ** 2).sum(1)
            history.append(self._objective(A, Y, G, s, loss, K, kappa))
            s = solve_weights(K, self.C / self.lam * loss - kappa, float(self.B), lo, hi, s)
            history.append(self._objective(A, Y, G, s, loss, K, kappa))
            if history[-3:-2] and history[-3] - history[-1] <= self.tol * abs(history[-3]):
                break
        A = weighted_l2_svm(G, Y, self.C, s)
        self.weights_, self.n_iter_, self.gamma_ = s, it, gamma
        self.coef_, self.intercept_ = (A * Y).T @ Xs, (A * Y).sum(0)
        F = G @ (A * Y) + self.intercept_
        loss = (np.maximum(0.0, 1.0 - Y * F) ** 2).sum(1)
        self.objective_history_ = history + [self._objective(A, Y, G, s, loss, K, kappa)]

    def decision_function(self, X) -> np.ndarray:
        """``X w_cᵀ + b_c``: (m × c), or (m,) for two classes (positive: ``classes_[1]``)."""
        F = check_matrix(X, "X", n_features=self.n_features_in_) @ self.coef_.T + self.intercept_
        return F[:, 0] if len(self.classes_) == 2 else F

    def _predict(self, X):
        F = X @ self.coef_.T + self.intercept_
        return self.classes_[(F[:, 0] > 0).astype(int)] if len(self.classes_) == 2 else self.classes_[F.argmax(1)]
