"""Subspace baselines of Tables 3-4: ``SA`` (subspace alignment) and ``GFK`` (geodesic flow kernel).

Both represent each domain by its PCA basis :math:`P \\in \\mathbb{R}^{D\\times d}` (orthonormal
columns; :func:`pca_basis`, a thin SVD of the centred ``n x D`` data, never a ``D x D`` matrix).
Features are z-scored per domain first (``preprocess="zscore"``), as in both papers' public code.

**SA** (Fernando, Habrard, Sebban, Tuytelaars, ICCV 2013): with source and target bases
:math:`X_S, X_T`, the alignment :math:`M^* = \\arg\\min_M \\lVert X_S M - X_T\\rVert_F = X_S^\\top X_T`;
source samples are mapped to :math:`x X_S M^*` and target samples to :math:`x X_T` (both ``d``-dim),
then the linear SVM. ``n_components`` ``d`` (default 20): the SA paper picks ``d`` by a stability
bound whose constants are not available for these features; 20 is the subspace size of the public
GFK/SA demo scripts and is well below the ~70 target samples of the smallest domain.

**GFK** (Gong, Shi, Sha, Grauman, CVPR 2012): the geodesic :math:`\\Phi(t)` on the Grassmannian
from :math:`P_S` to :math:`P_T` and the kernel :math:`G = \\int_0^1 \\Phi(t)\\Phi(t)^\\top dt`. With
:math:`P_S^\\top P_T = U_1 \\Gamma V^\\top`, :math:`\\Gamma = \\operatorname{diag}(\\cos\\theta_i)` (principal
angles :math:`\\theta_i`) and :math:`R_S U_2 \\Sigma = P_S U_1 \\Gamma - P_T V`, :math:`\\Sigma = \\operatorname{diag}(\\sin\\theta_i)`
(:math:`R_S` the orthogonal complement of :math:`P_S`, never formed):
:math:`\\Phi(t) = P_S U_1 \\Gamma(t) - R_S U_2 \\Sigma(t)` and

.. math::

    G = [P_S U_1,\\; R_S U_2] \\begin{bmatrix}\\Lambda_1 & \\Lambda_2\\\\ \\Lambda_2 & \\Lambda_3\\end{bmatrix}
    [P_S U_1,\\; R_S U_2]^\\top,\\quad
    \\lambda_{1i} = \\tfrac12\\Bigl(1 + \\tfrac{\\sin 2\\theta_i}{2\\theta_i}\\Bigr),\\;
    \\lambda_{2i} = \\tfrac12\\,\\tfrac{\\cos 2\\theta_i - 1}{2\\theta_i},\\;
    \\lambda_{3i} = \\tfrac12\\Bigl(1 - \\tfrac{\\sin 2\\theta_i}{2\\theta_i}\\Bigr)

(the exact integral, as in Gong's code; the paper prints the :math:`\\Lambda` without the
:math:`\\tfrac12`). :func:`geodesic_flow` returns :math:`E` (``D x 2d``) with :math:`G = EE^\\top`, so
:math:`x_i^\\top G x_j = (x_iE)(x_jE)^\\top`. ``classifier="1nn"`` (default): the 1-nearest neighbour
among the source samples under :math:`(x_i - x_j)^\\top G (x_i - x_j) = \\lVert (x_i - x_j)E\\rVert^2`
(ties to the first source sample): the classifier of the GFK paper's experiments (Gong et al., CVPR
2012, whose accuracies are those of 1-NN) and of Gong's public demo (``my_kernel_knn(G, Xs, Ys, Xt,
Yt)``: the same distance, then ``min``). ``"svm"``: liblinear's linear
SVM on :math:`xE`, the SVM with kernel :math:`G` (:func:`~.base.linear_svm`), an option only
(before issue 17 it was the default). ``n_components``
(default ``"sdm"``): the GFK paper's label-free subspace disagreement measure
:math:`\\mathcal D(d) = \\tfrac12(\\sin\\alpha_d + \\sin\\beta_d)`, :math:`\\alpha_d` (:math:`\\beta_d`) the
largest principal angle between the source (target) and the pooled PCA subspaces of size ``d``;
:math:`d^* = \\min\\{d: \\mathcal D(d) \\ge 0.995\\}` (Gong's code rounds to 1.00), or an integer.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> Xs, Xt = rng.normal(0, 1, (30, 8)), rng.normal(0, 1, (25, 8)) @ np.diag(np.arange(1.0, 9.0))
>>> ys = np.arange(30) % 2
>>> Ps, Pt = pca_basis(Xs, 3), pca_basis(Xt, 3)
>>> bool(np.allclose(Ps.T @ Ps, np.eye(3)))
True
>>> E, E0 = geodesic_flow(Ps, Pt), geodesic_flow(Ps, Ps)
>>> E.shape, bool(np.allclose(E0 @ E0.T, Ps @ Ps.T))  # the flow from a subspace to itself: its projector
((8, 6), True)
>>> SA(n_components=3).fit(Xs, ys, Xt).predict(Xt).shape
(25,)
>>> GFK(n_components=3, classifier="1nn").fit(Xs, ys, Xt).predict(Xt[:4]).shape
(4,)
>>> SA(n_components=40).fit(Xs, ys, Xt)
Traceback (most recent call last):
...
ValueError: n_components: expected at most 8 (fewest samples of a domain minus 1, and at most the features), got 40
"""

from __future__ import annotations

import numpy as np

from madtn_utils.baselines.base import DomainAdaptationEstimator, linear_svm
from madtn_utils.baselines.kernels import Preprocess, check_choice, check_int, check_positive, sq_distances

__all__ = ["GFK", "SA", "centre_cross", "geodesic_flow", "pca_basis", "pca_coefficients", "sdm_dimension"]


def centre_cross(K: np.ndarray) -> np.ndarray:
    """:math:`(A - 1\\bar a^\\top)(B - 1\\bar b^\\top)^\\top` from the cross Gram :math:`K = AB^\\top`: each
    side centred by its own mean (double centring)."""
    return K - K.mean(1, keepdims=True) - K.mean(0, keepdims=True) + K.mean()


def pca_coefficients(Kc: np.ndarray, d: int) -> np.ndarray:
    """``C`` (n, d) with :math:`P = X_c^\\top C` the top-``d`` principal directions of ``X`` (orthonormal
    columns), from the centred Gram :math:`K_c = X_c X_c^\\top` (n, n): :math:`C = U_d S_d^{-1}`.

    Signs are fixed (each column of :math:`U_d` has its largest-magnitude entry positive); a ``d``
    beyond the data's rank is a ValueError naming ``n_components``.
    """
    w, U = np.linalg.eigh((Kc + Kc.T) / 2)
    w, U = w[::-1][:d], U[:, ::-1][:, :d]
    if w[-1] <= 1e-10 * max(w[0], 1e-300):
        rank = int((w > 1e-10 * max(w[0], 1e-300)).sum())
        raise ValueError(f"n_components: expected at most the centred data's rank {rank}, got {d}")
    U = U * np.sign(U[np.abs(U).argmax(0), np.arange(d)])
    return U / np.sqrt(w)


def pca_basis(X: np.ndarray, d: int) -> np.ndarray:
    """The top-``d`` principal directions of ``X`` (n, D) as orthonormal columns (D, d), via the Gram."""
    Xc = X - X.mean(0)
    return Xc.T @ pca_coefficients(Xc @ Xc.T, d)


def _max_dim(Xs: np.ndarray, Xt: np.ndarray) -> int:
    return min(len(Xs) - 1, len(Xt) - 1, Xs.shape[1])


def _check_dim(d, Xs, Xt, *, half: bool = False) -> None:
    top = _max_dim(Xs, Xt) if not half else min(_max_dim(Xs, Xt), Xs.shape[1] // 2)
    if d > top:
        what = "and at most half the features" if half else "and at most the features"
        raise ValueError(f"n_components: expected at most {top} (fewest samples of a domain minus 1, {what}), got {d}")


def sdm_dimension(Xs: np.ndarray, Xt: np.ndarray, *, threshold: float = 0.995) -> int:
    """GFK's subspace disagreement measure: the smallest ``d`` with :math:`\\mathcal D(d) \\ge` ``threshold``.

    Works on Gram matrices only: :math:`P_S^\\top P_{S+T} = C_S^\\top (X_{S,c} X_{S+T,c}^\\top) C_{S+T}`.
    Raises ``ValueError`` if no ``d`` up to the largest admissible one reaches it.
    """
    top = min(_max_dim(Xs, Xt), Xs.shape[1] // 2)
    X = np.vstack([Xs, Xt])
    K, ns = X @ X.T, len(Xs)
    pooled = pca_coefficients(centre_cross(K), top)
    cross = [(pca_coefficients(centre_cross(K[rows][:, rows]), top), centre_cross(K[rows]))
             for rows in (slice(0, ns), slice(ns, None))]
    for d in range(1, top + 1):
        cosines = [np.linalg.svd(C[:, :d].T @ Kc @ pooled[:, :d], compute_uv=False)[-1] for C, Kc in cross]
        if 0.5 * sum(np.sqrt(max(0.0, 1.0 - min(c, 1.0) ** 2)) for c in cosines) >= threshold:
            return d
    raise ValueError(f"n_components: the subspace disagreement measure never reached {threshold} for d <= {top}; "
                     "give an integer n_components")


def geodesic_flow(Ps: np.ndarray, Pt: np.ndarray, *, tiny: float = 1e-9) -> np.ndarray:
    """``E`` (D, 2d) with :math:`EE^\\top = \\int_0^1 \\Phi(t)\\Phi(t)^\\top dt`, the GFK of bases ``Ps``, ``Pt`` (D, d)."""
    U1, cos, Vt = np.linalg.svd(Ps.T @ Pt)
    theta = np.arccos(np.clip(cos, 0.0, 1.0))
    sin = np.sin(theta)
    a = Ps @ U1
    ok = sin > tiny  # at theta = 0 the complement direction is undefined and its weights vanish
    b = np.where(ok, (a * cos - Pt @ Vt.T) / np.where(ok, sin, 1.0), 0.0)
    th = np.where(theta > tiny, theta, 1.0)
    sinc = np.where(theta > tiny, np.sin(2 * theta) / (2 * th), 1.0)
    l1, l3 = 0.5 * (1.0 + sinc), 0.5 * (1.0 - sinc)
    l2 = np.where(theta > tiny, 0.5 * (np.cos(2 * theta) - 1.0) / (2 * th), 0.0)
    blocks = np.stack([np.stack([l1, l2], -1), np.stack([l2, l3], -1)], -2)  # (d, 2, 2), PSD
    w, Q = np.linalg.eigh(blocks)
    F = Q * np.sqrt(np.maximum(w, 0.0))[:, None, :]  # blocks = F F^T
    ab = np.stack([a, b], -1)  # (D, d, 2)
    return np.einsum("Dkj,kjm->Dkm", ab, F).reshape(len(Ps), -1)


class SA(DomainAdaptationEstimator):
    """Subspace alignment then the linear SVM; see the module doc.

    ``n_components`` (20): subspace size ``d``. ``C`` (1.0): SVM cost. ``preprocess`` (``"zscore"``).
    """

    def __init__(self, *, n_components: int = 20, C: float = 1.0, preprocess: str = "zscore"):
        self.n_components = n_components
        self.C = C
        self.preprocess = preprocess

    def _fit(self, Xs, ys, Xt):
        check_int("n_components", self.n_components)
        check_positive("C", self.C)
        self.prep_ = Preprocess(self.preprocess)
        Zs, Zt = self.prep_.fit_transform(Xs, Xt)
        _check_dim(self.n_components, Zs, Zt)
        Ps, self.target_basis_ = pca_basis(Zs, self.n_components), pca_basis(Zt, self.n_components)
        self.alignment_ = Ps.T @ self.target_basis_
        self.svm_ = linear_svm(self.C).fit(Zs @ Ps @ self.alignment_, ys)

    def _predict(self, X):
        return self.svm_.predict(self.prep_.transform(X) @ self.target_basis_)


class GFK(DomainAdaptationEstimator):
    """Geodesic flow kernel with 1-NN (or the linear SVM); see the module doc.

    ``n_components`` (``"sdm"`` or an int ``d``). ``classifier`` (``"1nn"``, default | ``"svm"``).
    ``C`` (1.0): SVM cost. ``preprocess`` (``"zscore"``).
    """

    def __init__(self, *, n_components: int | str = "sdm", classifier: str = "1nn", C: float = 1.0,
                 preprocess: str = "zscore"):
        self.n_components = n_components
        self.classifier = classifier
        self.C = C
        self.preprocess = preprocess

    def _fit(self, Xs, ys, Xt):
        check_int("n_components", self.n_components, extra=("sdm",))
        check_choice("classifier", self.classifier, ("1nn", "svm"))
        check_positive("C", self.C)
        self.prep_ = Preprocess(self.preprocess)
        Zs, Zt = self.prep_.fit_transform(Xs, Xt)
        d = sdm_dimension(Zs, Zt) if self.n_components == "sdm" else self.n_components
        _check_dim(d, Zs, Zt, half=True)
        self.n_components_ = d
        self.embedding_ = geodesic_flow(pca_basis(Zs, d), pca_basis(Zt, d))
        Es = Zs @ self.embedding_
        if self.classifier == "svm":
            self.svm_ = linear_svm(self.C).fit(Es, ys)
        else:
            self.source_, self.source_labels_ = Es, ys

    def _predict(self, X):
        E = self.prep_.transform(X) @ self.embedding_
        if self.classifier == "svm":
            return self.svm_.predict(E)
        return self.source_labels_[sq_distances(E, self.source_).argmin(1)]
