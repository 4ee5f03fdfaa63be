"""``TCA`` of Tables 3-4: unsupervised transfer component analysis, exactly as Wang's public script, then the linear SVM.

Pan, Tsang, Kwok, Yang, "Domain adaptation via transfer component analysis", IEEE TNN 22(2),
2011, Sec. IV, as implemented by Jindong Wang's public script (``jindongwang/transferlearning``,
``code/traditional/TCA/TCA.py``, class ``TCA``, method ``fit``; its ``TCA.m`` is the same), the
script this module follows step for step:

1. each sample scaled to unit Euclidean norm (``X /= norm(X, axis=0)``; ``preprocess="l2"``);
2. the MMD matrix :math:`M = ee^\\top / \\lVert ee^\\top\\rVert_F` (:math:`e_i = 1/n_s` on the source,
   :math:`-1/n_t` on the target: Pan et al.'s :math:`L`, normalised by its Frobenius norm
   :math:`\\lVert e\\rVert^2`), and the centring matrix :math:`H = I - \\tfrac1n \\mathbf 1\\mathbf 1^\\top`;
3. with the script's ``kernel_type`` (``kernel``): ``"primal"`` (the script's default) takes the
   samples themselves, :math:`a = XMX^\\top + \\mu I_D`, :math:`b = XHX^\\top` (:math:`X` the D × n
   matrix of samples as columns); ``"linear"`` and ``"rbf"`` take the kernel matrix :math:`K` of all
   :math:`n = n_s + n_t` samples, :math:`a = KMK + \\mu I_n`, :math:`b = KHK` (Pan et al.'s form;
   ``rbf``: :math:`e^{-\\gamma\\lVert x - y\\rVert^2}`, the script's ``gamma = 1``);
4. ``scipy.linalg.eig(a, b)``: the ``n_components`` eigenvectors of the smallest eigenvalues
   :math:`w` of :math:`a v = w\\, b v`, each of unit Euclidean norm (scipy normalises them so);
5. the embedding :math:`Z = A^\\top X` (primal) or :math:`A^\\top K`, then each sample's embedding
   scaled to unit Euclidean norm (``Z /= norm(Z, axis=0)``).

Computation (same result, no D × D matrix): the smallest :math:`w` of :math:`a v = w b v` are the
largest :math:`\\nu = 1/w` of the symmetric-definite problem :math:`b v = \\nu a v` (:math:`a` is
positive definite), solved by :func:`tca_components` on a design matrix :math:`F` (n × q) with
:math:`a = F^\\top M F + \\mu I_q`, :math:`b = F^\\top H F`: :math:`F = K` for ``linear``/``rbf``; for
``primal``, :math:`F = VS` from the thin SVD :math:`X = USV^\\top` (an eigenvector of a finite
:math:`w` lies in the span of the samples, where :math:`v = Uc` and the D-dim problem is the q-dim one
in :math:`c`, with :math:`\\lVert v\\rVert = \\lVert c\\rVert`). A sample :math:`x` embeds as :math:`(U^\\top x)\\,C`
(primal) or :math:`k(x, X)\\,C`, then unit norm. Eigenvector signs are fixed (largest-magnitude entry
positive); neither the SVM nor the norms depend on them.
The script's own ``eig(a, b)`` cannot be followed literally here: :math:`b` is singular (rank at most
n - 1), and LAPACK returns, for its null space, eigenvalues of about :math:`\\pm 10^{14}` rather than
infinity (measured: -6.1e14 with 60 features and 45 samples), which the script's ``argsort`` takes
first when negative; with 15,045 features it would also be a 15,045² problem. The finite eigenvalues
are the problem's (the test compares with the script's steps on those).

Departures from the script, both METHOD.md §6's: the script classifies with 1-NN
(``fit_predict``), the MADTN tables with a linear SVM (:func:`~.base.linear_svm`, cost ``C``);
``predict`` embeds any sample, where the script embeds the fitted target only (the same numbers on it).

Before issue 17 this module solved Pan et al.'s problem with the unnormalised :math:`L`, the kernel
form of a linear kernel, and no normalisation of the embedding: with :math:`n_s = n_t = 71`,
:math:`\\lVert ee^\\top\\rVert_F = 2/71`, so the script's μ = 1 weighs the MMD term 35.5 times more.

Hyperparameters (the script's defaults): ``n_components`` (``dim`` = 30), ``mu`` (``lamb`` = 1.0),
``kernel`` (``kernel_type`` = ``"primal"``; or ``"linear"``, ``"rbf"``), ``gamma`` (1.0; ``None`` =
the median heuristic; RBF only), ``preprocess`` (``"l2"``, the script's step 1), and ``C`` (1.0) the SVM cost.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> Xs = rng.normal(0, 1, (40, 5)); Xt = rng.normal(0, 1, (30, 5)) + 2.0
>>> ys = (Xs[:, 1] > 0).astype(int)
>>> model = TCA(n_components=3).fit(Xs, ys, Xt)
>>> model.eigenvalues_.shape, model.predict(Xt).shape
((3,), (30,))
>>> bool(np.allclose(np.linalg.norm(model.embed(Xt), axis=1), 1.0))
True
>>> TCA(mu=0).fit(Xs, ys, Xt)
Traceback (most recent call last):
...
ValueError: mu: expected a finite number > 0, got 0
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import eigh

from madtn_utils.baselines.base import DomainAdaptationEstimator, linear_svm
from madtn_utils.baselines.kernels import (Preprocess, check_choice, check_int, check_positive, kernel_matrix,
                                           median_gamma, sq_distances)

__all__ = ["TCA", "TCA_KERNELS", "mmd_vector", "tca_components"]

#: The script's ``kernel_type`` values.
TCA_KERNELS = ("primal", "linear", "rbf")


def mmd_vector(n_s: int, n_t: int) -> np.ndarray:
    """``e`` with :math:`L = ee^\\top`: :math:`1/n_s` on the source rows, :math:`-1/n_t` on the target rows."""
    return np.concatenate([np.full(n_s, 1.0 / n_s), np.full(n_t, -1.0 / n_t)])


def tca_components(F: np.ndarray, n_s: int, mu: float, m: int) -> tuple[np.ndarray, np.ndarray]:
    """``(C, nu)``: the ``m`` eigenvectors (q, m) of the *smallest* eigenvalues :math:`w` of
    :math:`(F^\\top MF + \\mu I)\\,c = w\\,F^\\top HF\\,c` (:math:`M = ee^\\top/\\lVert ee^\\top\\rVert_F`), as
    :math:`\\nu = 1/w`, largest first; each column of unit Euclidean norm, its largest-magnitude entry positive.
    ``F`` (n, q): the design of the module doc, source rows first."""
    n, q = F.shape
    e = mmd_vector(n_s, n - n_s)
    Fe = F.T @ e
    a = np.outer(Fe, Fe) / (e @ e) + mu * np.eye(q)  # F^T M F + mu I, with ||e e^T||_F = ||e||^2
    Fc = F - F.mean(0)  # H F
    b = Fc.T @ Fc  # F^T H F (H symmetric, idempotent)
    nu, C = eigh((b + b.T) / 2, (a + a.T) / 2, subset_by_index=[q - m, q - 1])
    nu, C = nu[::-1], C[:, ::-1]
    C = C / np.linalg.norm(C, axis=0)
    return C * np.sign(C[np.abs(C).argmax(0), np.arange(m)]), nu


def _unit_rows(Z: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(Z, axis=1, keepdims=True)
    return Z / np.where(norm > 0, norm, 1.0)


class TCA(DomainAdaptationEstimator):
    """Transfer component analysis (unsupervised, Wang's script) with the linear SVM; see the module doc.

    ``n_components`` (30): embedding size. ``mu`` (1.0): the script's ``lamb``. ``kernel``
    (``"primal"`` | ``"linear"`` | ``"rbf"``) and ``gamma`` (1.0, None = median heuristic; RBF only). ``C``
    (1.0): SVM cost. ``preprocess`` (``"l2"``). Fitted: ``components_`` ``C`` (q, m), ``eigenvalues_``
    :math:`\\nu` (m,), ``projection_`` (D, m; primal and linear).
    """

    def __init__(self, *, n_components: int = 30, mu: float = 1.0, kernel: str = "primal",
                 gamma: float | None = 1.0, C: float = 1.0, preprocess: str = "l2"):
        self.n_components = n_components
        self.mu = mu
        self.kernel = kernel
        self.gamma = gamma
        self.C = C
        self.preprocess = preprocess

    def _fit(self, Xs, ys, Xt):
        check_int("n_components", self.n_components)
        check_positive("mu", self.mu)
        check_choice("kernel", self.kernel, TCA_KERNELS)
        check_positive("gamma", self.gamma, allow_none=True)
        check_positive("C", self.C)
        n = len(Xs) + len(Xt)
        if self.n_components > n - 1:
            raise ValueError(f"n_components: expected at most n_s + n_t - 1 = {n - 1}, got {self.n_components}")
        self.prep_ = Preprocess(self.preprocess)
        X = np.vstack(self.prep_.fit_transform(Xs, Xt))
        self.gamma_, self.train_ = None, None
        if self.kernel == "primal":  # X^T = U S V^T: the design V S, a sample x maps to U^T x
            U, S, Vt = np.linalg.svd(X.T, full_matrices=False)
            keep = S > S[0] * max(X.shape) * np.finfo(np.float64).eps
            basis, F = U[:, keep], Vt[keep].T * S[keep]
        elif self.kernel == "linear":
            basis, F = X.T, X @ X.T
        else:  # one pass over the features: the distances give both the width and K
            D = sq_distances(X, X)
            self.gamma_ = median_gamma(X, distances=D) if self.gamma is None else float(self.gamma)
            basis, F, self.train_ = None, np.exp(-self.gamma_ * D), X
        if self.n_components > F.shape[1]:
            raise ValueError(f"n_components: expected at most the samples' rank {F.shape[1]}, got {self.n_components}")
        self.components_, self.eigenvalues_ = tca_components(F, len(Xs), self.mu, self.n_components)
        self.projection_ = None if basis is None else basis @ self.components_  # x -> x projection_
        self.svm_ = linear_svm(self.C).fit(_unit_rows(F[: len(Xs)] @ self.components_), ys)

    def embed(self, X: np.ndarray) -> np.ndarray:
        """The TCA embedding (n, m) of already-preprocessed samples ``X``, each row of unit norm."""
        if self.projection_ is not None:
            return _unit_rows(X @ self.projection_)
        return _unit_rows(kernel_matrix(X, self.train_, kernel="rbf", gamma=self.gamma_) @ self.components_)

    def _predict(self, X):
        return self.svm_.predict(self.embed(self.prep_.transform(X)))
