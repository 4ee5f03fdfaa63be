"""``TKL`` of Tables 3-4: transfer kernel learning, then an SVM with the learnt kernel.

Long, Wang, Sun, Yu, "Domain invariant transfer kernel learning", IEEE TKDE 27(6), 2015. With a
Gaussian kernel :math:`k` on source :math:`X` (:math:`n_s`) and target :math:`Z` (:math:`n_t`) samples:

1. the target kernel's eigensystem :math:`K_Z = \\Phi_Z \\Lambda_Z \\Phi_Z^\\top`, its ``r`` leading
   eigenpairs (``r = min(n_t - 10, 200)`` as in Long's code; :math:`K_Z` gets the code's
   :math:`10^{-6} I` jitter);
2. Nyström extrapolation of the target eigenfunctions to the source,
   :math:`\\Phi_X = K_{XZ}\\Phi_Z\\Lambda_Z^{-1}` (:math:`n_s \\times r`);
3. the spectrum :math:`\\lambda \\in \\mathbb R^r` of the domain-invariant kernel
   :math:`\\bar K = \\Phi\\,\\operatorname{diag}(\\lambda)\\,\\Phi^\\top` (:math:`\\Phi = [\\Phi_X; \\Phi_Z]`) that best
   reproduces the source kernel under the eigenspectrum damping constraint:

   .. math::

       \\min_\\lambda \\lVert \\Phi_X \\operatorname{diag}(\\lambda) \\Phi_X^\\top - K_X \\rVert_F^2
       \\quad\\text{s.t.}\\quad \\lambda_i \\ge \\zeta \\lambda_{i+1}\\;(i < r),\\; \\lambda_i \\ge 0,

   i.e. :math:`\\lambda^\\top (G\\circ G)\\lambda - 2\\,\\operatorname{diag}(\\Phi_X^\\top K_X \\Phi_X)^\\top\\lambda + c`
   with :math:`G = \\Phi_X^\\top\\Phi_X` (:func:`tkl_spectrum`);
4. an SVM with the precomputed kernel :math:`\\bar K` (source rows to train, target rows to predict;
   a new sample :math:`x` is embedded by the same Nyström map :math:`k(x, Z)\\Phi_Z\\Lambda_Z^{-1}`, which for
   the fitted target differs from :math:`\\Phi_Z` only by the :math:`10^{-6}` jitter).

:func:`tkl_spectrum` solves the QP exactly as a non-negative least-squares problem: with
:math:`\\eta_i = \\zeta^{i-1}\\lambda_i` the constraints read :math:`\\eta_1 \\ge \\dots \\ge \\eta_r \\ge 0`,
i.e. :math:`\\eta = T\\nu` with :math:`T` upper-triangular ones and :math:`\\nu \\ge 0`; the quadratic
:math:`\\nu^\\top Q'\\nu - 2c'^\\top\\nu` is written as :math:`\\lVert R\\nu - b\\rVert^2 + \\text{const}` from the
eigendecomposition of :math:`Q'` and handed to Lawson-Hanson NNLS (deterministic).

Hyperparameters (defaults of Long's public TKL code and demo): ``zeta`` (2.0) the damping factor
(>= 1), ``gamma`` (1.0) the Gaussian width :math:`k(a,b) = e^{-\\gamma\\lVert a-b\\rVert^2}` on
unit-norm samples (``preprocess="l2"``, so squared distances lie in [0, 4]), ``n_eig`` (None = the
code's rule), ``C`` (10.0) the SVM cost of the demo.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> Xs = rng.normal(0, 1, (40, 5)); Xt = rng.normal(0, 1, (30, 5)) + 0.5
>>> ys = (Xs[:, 1] > 0).astype(int)
>>> model = TKL().fit(Xs, ys, Xt)
>>> lam = model.spectrum_
>>> len(lam), bool(lam.min() >= 0 and np.all(lam[:-1] >= 2.0 * lam[1:] - 1e-12))
(20, True)
>>> model.predict(Xt).shape
(30,)
>>> TKL(zeta=0.5).fit(Xs, ys, Xt)
Traceback (most recent call last):
...
ValueError: zeta: expected a finite number >= 1, got 0.5
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import nnls
from sklearn.svm import SVC

from madtn_utils.baselines.base import DomainAdaptationEstimator
from madtn_utils.baselines.kernels import Preprocess, check_int, check_positive, kernel_matrix

__all__ = ["TKL", "tkl_spectrum"]

JITTER = 1e-6  # Long's code adds 1e-6 I to the kernel before the eigendecomposition


def tkl_spectrum(Phi_s: np.ndarray, K_s: np.ndarray, zeta: float) -> np.ndarray:
    """The spectrum :math:`\\lambda` (r,) minimising :math:`\\lVert\\Phi_s\\operatorname{diag}(\\lambda)\\Phi_s^\\top - K_s\\rVert_F`
    subject to :math:`\\lambda_i \\ge \\zeta\\lambda_{i+1}`, :math:`\\lambda \\ge 0` (see the module doc)."""
    r = Phi_s.shape[1]
    G = Phi_s.T @ Phi_s
    Q, c = G * G, np.einsum("ij,ik,kj->j", Phi_s, K_s, Phi_s)
    DT = np.triu(np.ones((r, r))) * zeta ** -np.arange(r, dtype=float)[:, None]  # lambda = D T nu
    Qp, cp = DT.T @ Q @ DT, DT.T @ c
    w, U = np.linalg.eigh((Qp + Qp.T) / 2)
    keep = w > w.max() * 1e-14
    R = np.sqrt(w[keep])[:, None] * U[:, keep].T
    b = (U[:, keep].T @ cp) / np.sqrt(w[keep])
    nu, _ = nnls(R, b, maxiter=50 * r)
    return DT @ nu


class TKL(DomainAdaptationEstimator):
    """Transfer kernel learning with a precomputed-kernel SVM; see the module doc.

    ``zeta`` (2.0, >= 1): eigenspectrum damping factor. ``gamma`` (1.0): Gaussian width. ``n_eig``
    (None = min(n_t - 10, 200)): target eigenvectors kept. ``C`` (10.0): SVM cost. ``preprocess``
    (``"l2"``). Fitted: ``spectrum_`` :math:`\\lambda` (r,), ``target_eigenvalues_`` (r,).
    """

    def __init__(self, *, zeta: float = 2.0, gamma: float = 1.0, n_eig: int | None = None, C: float = 10.0,
                 preprocess: str = "l2"):
        self.zeta = zeta
        self.gamma = gamma
        self.n_eig = n_eig
        self.C = C
        self.preprocess = preprocess

    def _fit(self, Xs, ys, Xt):
        check_positive("zeta", self.zeta, minimum=1.0, inclusive=True)
        check_positive("gamma", self.gamma)
        check_int("n_eig", self.n_eig, extra=(None,))
        check_positive("C", self.C)
        nt = len(Xt)
        r = min(nt - 10, 200) if self.n_eig is None else self.n_eig
        if not 1 <= r <= nt:
            raise ValueError(f"n_eig: expected between 1 and n_t = {nt} eigenvectors, got {r}"
                             + (" (min(n_t - 10, 200) with n_eig=None: give n_eig)" if self.n_eig is None else ""))
        self.prep_ = Preprocess(self.preprocess)
        Zs, self.target_ = self.prep_.fit_transform(Xs, Xt)
        K_t = kernel_matrix(self.target_, self.target_, kernel="rbf", gamma=self.gamma) + JITTER * np.eye(nt)
        w, V = np.linalg.eigh((K_t + K_t.T) / 2)
        self.target_eigenvalues_, Phi_t = w[::-1][:r], V[:, ::-1][:, :r]
        self.nystrom_ = Phi_t / self.target_eigenvalues_  # x -> k(x, Z) Phi_Z Lambda_Z^{-1}
        Phi_s = kernel_matrix(Zs, self.target_, kernel="rbf", gamma=self.gamma) @ self.nystrom_
        K_s = kernel_matrix(Zs, Zs, kernel="rbf", gamma=self.gamma) + JITTER * np.eye(len(Zs))
        self.spectrum_ = tkl_spectrum(Phi_s, K_s, self.zeta)
        self.source_features_ = Phi_s * np.sqrt(self.spectrum_)  # K_bar = F F^T
        self.svm_ = SVC(kernel="precomputed", C=self.C).fit(self.source_features_ @ self.source_features_.T, ys)

    def _predict(self, X):
        Phi = kernel_matrix(self.prep_.transform(X), self.target_, kernel="rbf", gamma=self.gamma) @ self.nystrom_
        return self.svm_.predict((Phi * np.sqrt(self.spectrum_)) @ self.source_features_.T)
