"""``TCA`` of Tables 3-4: unsupervised transfer component analysis, then the linear SVM.

Pan, Tsang, Kwok, Yang, "Domain adaptation via transfer component analysis", IEEE TNN 22(2),
2011, Sec. IV. With the kernel matrix :math:`K` (:math:`n \\times n`, :math:`n = n_s + n_t`) on source
and target together, the MMD matrix :math:`L` (:math:`L_{ij} = 1/n_s^2` within the source,
:math:`1/n_t^2` within the target, :math:`-1/(n_s n_t)` across) and the centring matrix
:math:`H = I - \\tfrac1n \\mathbf 1\\mathbf 1^\\top`, TCA solves

.. math::

    \\max_W \\operatorname{tr}\\bigl((W^\\top(KLK + \\mu I)W)^{-1} W^\\top KHK W\\bigr),

whose solution :math:`W \\in \\mathbb R^{n\\times m}` is the ``m`` leading eigenvectors of
:math:`(KLK + \\mu I)^{-1} KHK`, found as the symmetric-definite generalised problem
:math:`KHK\\,w = \\lambda (KLK + \\mu I)\\,w` (:func:`tca_components`; ``L`` is rank one,
:math:`L = ee^\\top`, so :math:`KLK = (Ke)(Ke)^\\top`). The embedding of any sample :math:`x` is
:math:`[k(x, x_1), \\dots, k(x, x_n)]\\,W`; the linear SVM is trained on the source's embedding and
applied to the target's. The embedding trades the MMD between the domains' means in the
embedded space, :math:`\\operatorname{tr}(W^\\top KLKW)`, against the variance kept,
:math:`\\operatorname{tr}(W^\\top KHKW)`.

Hyperparameters: ``n_components`` ``m`` (30), ``mu`` (1.0) the regulariser, ``kernel``
(``"linear"`` or ``"rbf"``, default linear) with ``gamma`` (None = median heuristic) for RBF,
``C`` (1.0) the SVM cost, ``preprocess`` (``"l2"``: unit-norm samples, as in the public TCA
scripts of Long and of Wang, so that the kernel's scale and hence ``mu``'s meaning do not depend
on the feature length).

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> Xs = rng.normal(0, 1, (40, 5)); Xt = rng.normal(0, 1, (30, 5)) + 2.0
>>> ys = (Xs[:, 1] > 0).astype(int)
>>> model = TCA(n_components=3).fit(Xs, ys, Xt)
>>> model.eigenvalues_.shape, model.predict(Xt).shape
((3,), (30,))
>>> TCA(mu=0).fit(Xs, ys, Xt)
Traceback (most recent call last):
...
ValueError: mu: expected a finite number > 0, got 0
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import eigh

from madtn_utils.baselines.base import DomainAdaptationEstimator, linear_svm
from madtn_utils.baselines.kernels import (KERNELS, Preprocess, check_choice, check_int, check_positive, kernel_matrix,
                                           median_gamma, sq_distances)

__all__ = ["TCA", "mmd_vector", "tca_components"]


def mmd_vector(n_s: int, n_t: int) -> np.ndarray:
    """``e`` with :math:`L = ee^\\top`: :math:`1/n_s` on the source rows, :math:`-1/n_t` on the target rows."""
    return np.concatenate([np.full(n_s, 1.0 / n_s), np.full(n_t, -1.0 / n_t)])


def tca_components(K: np.ndarray, n_s: int, mu: float, m: int) -> tuple[np.ndarray, np.ndarray]:
    """``(W, eigenvalues)``: the ``m`` leading generalised eigenvectors (n, m) of :math:`KHK` against
    :math:`KLK + \\mu I` and their eigenvalues, largest first; each column's largest-magnitude entry
    is made positive."""
    n = len(K)
    Ke = K @ mmd_vector(n_s, n - n_s)
    KH = K - K.mean(1, keepdims=True)  # K H
    A = KH @ KH.T  # K H K (H idempotent)
    B = np.outer(Ke, Ke) + mu * np.eye(n)
    w, V = eigh((A + A.T) / 2, B, subset_by_index=[n - m, n - 1])
    w, V = w[::-1], V[:, ::-1]
    return V * np.sign(V[np.abs(V).argmax(0), np.arange(m)]), w


class TCA(DomainAdaptationEstimator):
    """Transfer component analysis (unsupervised) with the linear SVM; see the module doc.

    ``n_components`` (30): embedding size ``m``. ``mu`` (1.0): regulariser of ``W``. ``kernel``
    (``"linear"`` | ``"rbf"``) and ``gamma`` (None = median heuristic; RBF only). ``C`` (1.0): SVM
    cost. ``preprocess`` (``"l2"``). Fitted: ``components_`` ``W`` (n, m), ``eigenvalues_`` (m,).
    """

    def __init__(self, *, n_components: int = 30, mu: float = 1.0, kernel: str = "linear",
                 gamma: float | None = None, C: float = 1.0, preprocess: str = "l2"):
        self.n_components = n_components
        self.mu = mu
        self.kernel = kernel
        self.gamma = gamma
        self.C = C
        self.preprocess = preprocess

    def _fit(self, Xs, ys, Xt):
        check_int("n_components", self.n_components)
        check_positive("mu", self.mu)
        check_choice("kernel", self.kernel, KERNELS)
        check_positive("gamma", self.gamma, allow_none=True)
        check_positive("C", self.C)
        n = len(Xs) + len(Xt)
        if self.n_components > n - 1:
            raise ValueError(f"n_components: expected at most n_s + n_t - 1 = {n - 1}, got {self.n_components}")
        self.prep_ = Preprocess(self.preprocess)
        X = np.vstack(self.prep_.fit_transform(Xs, Xt))
        if self.kernel == "rbf":  # one pass over the features: the distances give both the width and K
            D = sq_distances(X, X)
            self.gamma_ = median_gamma(X, distances=D) if self.gamma is None else self.gamma
            K = np.exp(-self.gamma_ * D)
        else:
            self.gamma_, K = None, X @ X.T
        W, self.eigenvalues_ = tca_components(K, len(Xs), self.mu, self.n_components)
        self.components_ = W
        if self.kernel == "linear":  # x -> x X^T W: keep the (features, m) product, not the samples
            self.projection_, self.train_ = X.T @ W, None
        else:
            self.projection_, self.train_ = None, X
        self.svm_ = linear_svm(self.C).fit(K[: len(Xs)] @ W, ys)

    def embed(self, X: np.ndarray) -> np.ndarray:
        """The TCA embedding (n, m) of already-preprocessed samples ``X``."""
        if self.kernel == "linear":
            return X @ self.projection_
        return kernel_matrix(X, self.train_, kernel="rbf", gamma=self.gamma_) @ self.components_

    def _predict(self, X):
        return self.svm_.predict(self.embed(self.prep_.transform(X)))
