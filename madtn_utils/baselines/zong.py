"""Zong et al.'s domain regeneration (DR) framework and TSRG (ACM MM 2017), with the pieces DRFS-T and DRLS share.

A *regenerator* maps a sample x to ``G(x) = Pᵀ k(x)``, where ``k(x) = [k(z_1, x), …, k(z_n, x)]``
over the basis ``Z = [X₁; X₂]`` (n = n₁ + n₂ rows: the domain kept fixed first, then the other)
and ``P`` (n × q) is learned by (notation of the authors' public code, rows = samples)::

    min_P  ‖Y − K₁ᵀP‖²_F  +  λ ‖Pᵀ k_δ‖²  +  μ ‖P‖₁                                    (1)
    K₁ = k(Z, X₁)  (n × n₁),   K₂ = k(Z, X₂)  (n × n₂),   k_δ = K₁1/n₁ − K₂1/n₂

The first term asks the fixed domain to be regenerated unchanged (``G(X₁) ≈ Y``), the second is
the MMD between the regenerated domains (means of ``G(X₁)`` and ``G(X₂)``, linear kernel in the
regenerated space), the third keeps ``P`` sparse. TSRG (= DRFS-S) takes ``X₁ = Xs``, ``Y = Xs``:
the target is regenerated (``G(Xt) = k(Xt, Z) P``) and classified by the linear SVM trained on the
raw source. DRFS-T (``X₁ = Xt``) and DRLS (``Y`` = one-hot source labels) are in :mod:`.regen`.

Solver (:func:`solve_regenerator`): the inexact ALM of the authors' ``IALM_TSRG.m`` with ``P = Q``
split, multiplier ``T`` and penalty κ::

    Q ← (H + κ/2·I)⁻¹ (K₁Y + (κP + T)/2),     H = K₁K₁ᵀ + λ k_δ k_δᵀ     (closed form, eigenbasis of H)
    P ← shrink(Q − T/κ, μ/κ),   T ← T + κ(P − Q),   κ ← min(ρκ, 10¹⁵);   stop when max|P − Q| < tol

Everything is n × n or n × q (q = d for TSRG/DRFS-T): no d × d matrix. ``H`` has rank ≤ n₁ + 1,
so ``(H + κ/2·I)⁻¹`` is applied through the thin SVD of ``[K₁ᵀ; √λ k_δᵀ]``.

Interpretations (the public code differs): (i) the authors start from ``P = T = 1``, κ₀ = 10⁻³,
ρ = 1.1 and allow 10⁶ iterations. Since κ grows geometrically, that stops where ``P = Q`` rather
than exactly at the minimum of (1) (on a small problem 0.03-0.9 % above an exact lasso solve).
Here ``P = T = 0``, κ₀ = μ / max|Y| (the first shrinkage threshold is the largest target value),
ρ = 1.2, at most ``max_iter`` iterations (default 200) and the public code's absolute ``tol`` =
10⁻⁸. On synthetic LBP-TOP-like histograms (n_s = n_t = 150, d = 15,045; four (λ, μ) of the grid)
the public schedule took 183-252 iterations (50-140 s, float64, shared core) and this one 72-89
(2-4 s), ending between 0.65 % below and 0.42 % above the public code's objective (on the tests'
small problems: at most 1 % above it, and within 1 % of an exact lasso solve). (ii) With more
than 1,024 columns in ``Y`` (the features) the iterations run in float32 over blocks of 256 columns,
each block stopping on its own rule (the columns of (1) are independent
lasso problems); otherwise in float64. (iii) Kernels: ``linear`` (the public scripts' choice,
default) or ``rbf`` ``exp(−γ‖x − y‖²)`` (their ``constructKernel`` Gaussian, γ = 1/(2t²)), γ = None
meaning the median heuristic over the basis Z (:func:`~.kernels.median_gamma`). (iv) The final
classifier is the scripts' own, ``svmtrain(X_s_label, Y_s', '-t 0')`` (``Example1_exp_CASME2_HS_TSRG.m``):
libsvm's linear C-SVC, one-vs-one, hinge loss, C = 1 (libsvm's default), as
:class:`~.base.LibsvmLinearSVM`.

Defaults λ = 1, μ = 0.1: the papers tune (λ, μ) on the target's labels over λ ∈ {10⁻³, …, 10³} ×
37 values of μ ∈ [10⁻³, 10] (the public scripts) and state no label-free choice; these are the
centres of those two grids.

RSTR (Zong et al., IEEE TKDE 2022, arXiv 1812.07742) is left out: its objective (the
region-weighted transfer regression, its regularisers and the constraints on the region
weights) and its optimisation steps are in the paper's body, which no stored source reached here
(only abstracts), and no public code of it was found; a version rebuilt from memory would not be
that method.

Zong, Huang, Zheng, Cui, Zhao, "Learning a target sample re-generator for cross-database
micro-expression recognition", ACM MM 2017; Zong, Zheng, Huang, Shi, Cui, Zhao, "Domain
regeneration for cross-database micro-expression recognition", IEEE TIP 2018.

>>> rng = np.random.default_rng(0)
>>> Xs, ys = rng.random((30, 40)), np.repeat([0, 1], 15)
>>> Xs[ys == 1, :8] += 0.5
>>> Xt = rng.random((20, 40)) * 0.8 + 0.3
>>> model = TSRG(lam=1.0, mu=0.01).fit(Xs, ys, Xt)
>>> model.regenerate(Xt).shape, model.converged_
((20, 40), True)
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from madtn_utils.baselines.base import DomainAdaptationEstimator, LibsvmLinearSVM, check_matrix
from madtn_utils.baselines.kernels import KERNELS, check_choice, check_int, check_positive, kernel_matrix, median_gamma

__all__ = ["TSRG", "DomainRegenerator", "regenerator_objective", "solve_regenerator"]

KAPPA_GROWTH, KAPPA_MAX = 1.2, 1e15
_BLOCK, _WIDE = 256, 1024


def regenerator_objective(P, K1, K2, Y, lam: float, mu: float) -> float:
    """The value of (1): ``‖Y − K₁ᵀP‖² + λ‖Pᵀk_δ‖² + μ‖P‖₁``."""
    P = np.asarray(P, np.float64)
    kd = K1.mean(1) - K2.mean(1)
    return float(((Y - K1.T @ P) ** 2).sum() + lam * ((kd @ P) ** 2).sum() + mu * np.abs(P).sum())


def _thin_basis(K1, kd, lam):
    """``V`` (n × r), ``D`` (r) with ``H = K₁K₁ᵀ + λk_δk_δᵀ = V diag(D) Vᵀ`` (the numerically nonzero part)."""
    _, sv, Vt = np.linalg.svd(np.vstack([K1.T, np.sqrt(lam) * kd[None, :]]), full_matrices=False)
    keep = sv > sv[0] * max(K1.shape) * np.finfo(np.float64).eps if sv[0] > 0 else np.zeros(len(sv), bool)
    return Vt[keep].T.copy(), sv[keep] ** 2


def _q_step(V, D, B, P, Th, kappa, *, out=None, scratch=None):
    """``Q = (H + κ/2·I)⁻¹ (B + κ/2·P + Th)`` (B = K₁Y, Th = T/2): the minimiser of the augmented Lagrangian
    in Q, through ``(H + κ/2·I)⁻¹ = V diag(1/(D + κ/2) − 2/κ) Vᵀ + (2/κ) I``; written into ``out``."""
    R = np.multiply(P, kappa / 2, out=scratch)
    R += B
    R += Th
    X = V.T @ R
    X *= (1.0 / (D + kappa / 2) - 2.0 / kappa).astype(B.dtype)[:, None]
    Q = np.matmul(V, X, out=out)
    R *= 2.0 / kappa
    Q += R
    return Q


def _p_step(Q, Th, kappa, mu, *, out=None, scratch=None):
    """``P = shrink(Q − T/κ, μ/κ) = W − clip(W, ±μ/κ)`` with W = Q − T/κ: the minimiser of
    ``μ‖P‖₁ + ⟨T, P − Q⟩ + κ/2‖P − Q‖²``; written into ``out``."""
    W = np.multiply(Th, 2.0 / kappa, out=scratch)
    np.subtract(Q, W, out=W)
    P = np.clip(W, -mu / kappa, mu / kappa, out=out)
    np.subtract(W, P, out=P)
    return P


def _solve_block(V, D, B, mu, kappa0, max_iter, tol):
    """The iterations of :func:`solve_regenerator` on one block of columns, with preallocated buffers."""
    P, Th, Q, R = (np.zeros_like(B) for _ in range(4))
    kappa = kappa0
    for it in range(1, max_iter + 1):
        _q_step(V, D, B, P, Th, kappa, out=Q, scratch=R)
        _p_step(Q, Th, kappa, mu, out=P, scratch=R)
        np.subtract(P, Q, out=Q)  # P − Q
        if max(Q.max(), -Q.min()) < tol:
            return P, it, True
        Th += np.multiply(Q, kappa / 2, out=R)  # T ← T + κ(P − Q), halved
        kappa = min(KAPPA_MAX, kappa * KAPPA_GROWTH)
    return P, max_iter, False


def solve_regenerator(K1, K2, Y, lam: float, mu: float, *, max_iter: int = 200, tol: float = 1e-8):
    """Minimise (1) by the inexact ALM above; returns ``(P (n × q), iterations, converged)``."""
    V, D = _thin_basis(K1, K1.mean(1) - K2.mean(1), lam)
    B = K1 @ Y
    dtype = np.float32 if B.shape[1] > _WIDE else np.float64
    V = V.astype(dtype)
    kappa0 = mu / (float(np.abs(Y).max()) or 1.0)
    P = np.empty(B.shape, dtype)
    n_iter, converged = 0, True
    for j in range(0, B.shape[1], _BLOCK):
        Pb, it, ok = _solve_block(V, D, np.ascontiguousarray(B[:, j:j + _BLOCK], dtype=dtype),
                                  mu, kappa0, max_iter, tol)
        P[:, j:j + _BLOCK] = Pb
        n_iter, converged = max(n_iter, it), converged and ok
    return P, n_iter, converged


class DomainRegenerator(DomainAdaptationEstimator):
    """What TSRG, DRFS-T and DRLS share: hyperparameters, the fit of (1) and ``regenerate(X) = k(X, Z) P``.

    lam (λ >= 0, default 1): weight of the MMD between the regenerated domains; 0 switches adaptation off.
    mu (μ > 0, default 0.1): weight of the sparsity ‖P‖₁.
    kernel ('linear' default, or 'rbf') and gamma (γ > 0, default None = median heuristic; rbf only).
    max_iter (>= 1, default 200) and tol (> 0, default 1e-8): the solver's cap and stopping rule.
    """

    def __init__(self, *, lam=1.0, mu=0.1, kernel="linear", gamma=None, max_iter=200, tol=1e-8):
        self.lam, self.mu, self.kernel, self.gamma = lam, mu, kernel, gamma
        self.max_iter, self.tol = max_iter, tol

    def _check_params(self):
        check_positive("lam", self.lam, inclusive=True)
        check_positive("mu", self.mu)
        check_choice("kernel", self.kernel, KERNELS)
        check_positive("gamma", self.gamma, allow_none=True)
        check_int("max_iter", self.max_iter)
        check_positive("tol", self.tol)
        if hasattr(self, "C"):
            check_positive("C", self.C)

    def _regenerate_fit(self, X1, X2, Y):
        """Learn ``P`` of (1) with ``X₁`` kept (regenerated to ``Y``) and ``X₂`` the other domain."""
        self._check_params()
        self.basis_ = np.vstack([X1, X2])
        self.gamma_ = None if self.kernel == "linear" else self.gamma or median_gamma(self.basis_)
        K = kernel_matrix(self.basis_, self.basis_, kernel=self.kernel, gamma=self.gamma_)
        K1, K2 = K[:, :len(X1)], K[:, len(X1):]
        self.P_, self.n_iter_, self.converged_ = solve_regenerator(
            K1, K2, Y, float(self.lam), float(self.mu), max_iter=self.max_iter, tol=float(self.tol))
        self.objective_ = regenerator_objective(self.P_, K1, K2, Y, self.lam, self.mu)
        if not self.converged_:
            warnings.warn(f"{type(self).__name__}: max|P - Q| still >= tol={self.tol:g} after max_iter="
                          f"{self.max_iter} iterations", ConvergenceWarning, stacklevel=3)

    def regenerate(self, X) -> np.ndarray:
        """``G(X) = k(X, Z) P`` (m × q): samples regenerated by the fitted regenerator."""
        if not hasattr(self, "P_"):
            raise ValueError(f"{type(self).__name__}: call fit(Xs, ys, Xt) before regenerate")
        X = check_matrix(X, "X", n_features=self.n_features_in_)
        return kernel_matrix(X, self.basis_, kernel=self.kernel, gamma=self.gamma_) @ self.P_.astype(np.float64)


class TSRG(DomainRegenerator):
    """Target sample re-generator (= DRFS-S): (1) with ``X₁ = Y = Xs``; the target is regenerated and
    labelled by libsvm's linear SVM (cost ``C`` > 0, default 1) trained on the raw source. Hyperparameters as
    :class:`DomainRegenerator`."""

    def __init__(self, *, lam=1.0, mu=0.1, kernel="linear", gamma=None, C=1.0, max_iter=200, tol=1e-8):
        super().__init__(lam=lam, mu=mu, kernel=kernel, gamma=gamma, max_iter=max_iter, tol=tol)
        self.C = C

    def _fit(self, Xs, ys, Xt):
        self._regenerate_fit(Xs, Xt, Xs)
        self.svm_ = LibsvmLinearSVM(self.C).fit(Xs, ys)

    def _predict(self, X):
        return self.svm_.predict(self.regenerate(X))
