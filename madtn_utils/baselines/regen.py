"""DRFS-T and DRLS: domain regeneration with the target unchanged, and in the label space (Zong et al., TIP 2018).

Both solve the regenerator problem (1) of :mod:`.zong` (same solver, kernels, defaults and
interpretations; see that module)::

    min_P  ‖Y − K₁ᵀP‖²_F  +  λ ‖Pᵀ k_δ‖²  +  μ ‖P‖₁,     G(x) = Pᵀ k(Z, x),   Z = [X₁; X₂]

- **DRFS-T** (original feature space, target unchanged): ``X₁ = Y = Xt`` (n₁ = n_t, q = d),
  ``X₂ = Xs``. The *source* is regenerated, ``G(Xs) = k(Xs, Z) P``, libsvm's linear SVM
  (:class:`~.base.LibsvmLinearSVM`, cost C, the scripts' ``svmtrain(..., '-t 0')``) is
  trained on ``(G(Xs), ys)`` and applied to the raw target. This is the public
  ``Example2_exp_CASME2_HS_DRFS_T.m``: ``IALM_TSRG`` with the two domains' inputs swapped.
- **DRLS** (label space): ``X₁ = Xs``, ``X₂ = Xt``, ``Y`` = the source's one-hot labels (n_s × c),
  so ``G`` regresses a sample onto label vectors while the MMD term pulls the regenerated target
  labels' mean onto the source's; a sample is labelled by ``argmax_c G(x)_c`` (the public
  ``Example3``'s "Option 1", which classifies without an SVM), classes in ``classes_`` order.

With λ = 0 both reduce to their unadapted base: DRLS to an ℓ₁-regularised kernel regression of
the labels on the source (a lasso per class), DRFS-T to a per-feature lasso of the target on its
own kernel columns. Shapes: ``P_`` is n × d for DRFS-T (float32, see :mod:`.zong`) and n × c for DRLS.

Zong, Zheng, Huang, Shi, Cui, Zhao, "Domain regeneration for cross-database micro-expression
recognition", IEEE TIP 27(5), 2018.

>>> rng = np.random.default_rng(0)
>>> Xs, ys = rng.random((30, 40)), np.repeat([0, 1, 2], 10)
>>> for c in range(3):
...     Xs[ys == c, 10 * c:10 * c + 10] += 1.0
>>> Xt = Xs[::2] * 0.7 + 0.2
>>> drls = DRLS(lam=1.0, mu=0.01).fit(Xs, ys, Xt)
>>> drls.predict(Xt).tolist() == ys[::2].tolist(), drls.P_.shape
(True, (45, 3))
>>> drfst = DRFST(lam=1.0, mu=0.01).fit(Xs, ys, Xt)
>>> drfst.regenerate(Xs).shape, float((drfst.predict(Xt) == ys[::2]).mean())
((30, 40), 1.0)
>>> DRLS(mu=0).fit(Xs, ys, Xt)
Traceback (most recent call last):
...
ValueError: mu: expected a finite number > 0, got 0
"""

from __future__ import annotations

import numpy as np

from madtn_utils.baselines.base import LibsvmLinearSVM
from madtn_utils.baselines.zong import DomainRegenerator

__all__ = ["DRFST", "DRLS"]


class DRFST(DomainRegenerator):
    """DRFS-T: regenerate the source so that it matches the unchanged target, then libsvm's linear SVM.

    Hyperparameters (keyword-only, stored unchanged): ``lam`` (λ >= 0, default 1), ``mu`` (μ > 0,
    default 0.1), ``kernel`` ('linear' default | 'rbf'), ``gamma`` (> 0, default None = median heuristic),
    ``C`` (SVM cost > 0, default 1), ``max_iter`` (default 200), ``tol`` (default 1e-8); as in :mod:`.zong`.
    Fitted: ``P_`` (n × d), ``basis_ = [Xt; Xs]``, ``svm_``, ``objective_``, ``n_iter_``, ``converged_``.
    """

    def __init__(self, *, lam=1.0, mu=0.1, kernel="linear", gamma=None, C=1.0, max_iter=200, tol=1e-8):
        super().__init__(lam=lam, mu=mu, kernel=kernel, gamma=gamma, max_iter=max_iter, tol=tol)
        self.C = C

    def _fit(self, Xs, ys, Xt):
        self._regenerate_fit(Xt, Xs, Xt)
        self.svm_ = LibsvmLinearSVM(self.C).fit(self.regenerate(Xs), ys)

    def _predict(self, X):
        return self.svm_.predict(X)


class DRLS(DomainRegenerator):
    """DRLS: regenerate samples into the label space; a sample's class is the largest regenerated label.

    Hyperparameters (keyword-only, stored unchanged): ``lam`` (λ >= 0, default 1), ``mu`` (μ > 0,
    default 0.1), ``kernel`` ('linear' default | 'rbf'), ``gamma`` (> 0, default None = median heuristic),
    ``max_iter`` (default 200), ``tol`` (default 1e-8); as in :mod:`.zong`. No SVM.
    Fitted: ``P_`` (n × c), ``basis_ = [Xs; Xt]``, ``objective_``, ``n_iter_``, ``converged_``.
    """

    def _fit(self, Xs, ys, Xt):
        labels = (ys[:, None] == self.classes_[None, :]).astype(np.float64)
        self._regenerate_fit(Xs, Xt, labels)

    def _predict(self, X):
        return self.classes_[np.argmax(self.regenerate(X), axis=1)]

    def decision_function(self, X) -> np.ndarray:
        """The regenerated label vectors ``G(X)`` (m × c), columns in ``classes_`` order."""
        return self.regenerate(X)
