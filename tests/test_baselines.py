"""The classical baselines of Tables 3-4: registry, API, determinism, hyperparameter checks, and
one mathematical property per method checked against an independent computation."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.linalg import subspace_angles
from scipy.optimize import minimize
from sklearn.base import clone
from sklearn.svm import SVC, LinearSVC

from madtn_utils.baselines import DEFAULTS, METHODS, ORACLE_GRIDS, n_settings
from madtn_utils.baselines.base import LibsvmLinearSVM
from madtn_utils.baselines.kernels import kernel_matrix, median_gamma
from madtn_utils.baselines.subspace import geodesic_flow, pca_basis, sdm_dimension
from madtn_utils.baselines.svm import kmm_weights, project_box_slab
from madtn_utils.baselines.tca import mmd_vector, tca_components
from madtn_utils.baselines.tkl import tkl_spectrum

MINE = ["SVM", "IW-SVM", "TCA", "GFK", "SA", "TKL"]
SMALL = {"GFK": {"n_components": 4}, "SA": {"n_components": 4}, "TCA": {"n_components": 4}}


def _domains(seed=0, n_s=60, n_t=50, d=12, shift=1.5):
    """Two Gaussian blobs per class; the target is the source translated by ``shift`` along (1, 1, 0, ...)."""
    rng = np.random.default_rng(seed)
    ys, yt = np.arange(n_s) % 2, np.arange(n_t) % 2
    centre = np.zeros(d)
    centre[0] = 2.0
    Xs = rng.normal(0, 1, (n_s, d)) + np.where(ys[:, None] == 1, centre, -centre)
    Xt = rng.normal(0, 1, (n_t, d)) + np.where(yt[:, None] == 1, centre, -centre)
    direction = np.zeros(d)
    direction[:2] = 1.0
    return Xs, ys, Xt + shift * direction, yt


def _make(name, **kw):
    return METHODS[name](**{**DEFAULTS[name], **SMALL.get(name, {}), **kw})


def test_registry_names_defaults_and_grids():
    assert set(MINE) <= set(METHODS) and set(METHODS) == set(DEFAULTS) == set(ORACLE_GRIDS)
    for name in MINE:
        params = METHODS[name]().get_params()
        assert {k: params[k] for k in DEFAULTS[name]} == DEFAULTS[name], name  # constructor defaults = DEFAULTS
        assert 1 <= n_settings(name) <= 40, name
        assert set(ORACLE_GRIDS[name]) <= set(params), name
        clone(METHODS[name](**DEFAULTS[name]))


@pytest.mark.parametrize("name", MINE)
def test_fit_is_deterministic_and_ignores_target_labels(name):
    Xs, ys, Xt, _ = _domains(seed=1)
    first = _make(name).fit(Xs, ys, Xt).predict(Xt)
    again = clone(_make(name)).fit(Xs.copy(), ys.copy(), Xt.copy()).predict(Xt)
    assert first.shape == (len(Xt),) and set(first) <= {0, 1}
    np.testing.assert_array_equal(first, again)


@pytest.mark.parametrize("name,kwargs,message", [
    ("SVM", {"C": -1.0}, "C: expected a finite number > 0, got -1.0"),
    ("SVM", {"preprocess": "pca"}, "preprocess: expected one of ('none', 'l2', 'zscore'), got 'pca'"),
    ("IW-SVM", {"B": 0}, "B: expected a finite number > 0, got 0"),
    ("IW-SVM", {"B": 0.01, "eps": 0.5}, "B: expected B >= 1 - eps = 0.5"),
    ("IW-SVM", {"kernel": "poly"}, "kernel: expected one of ('linear', 'rbf'), got 'poly'"),
    ("IW-SVM", {"gamma": float("nan")}, "gamma: expected a finite number > 0 or None, got nan"),
    ("SA", {"n_components": 0}, "n_components: expected an integer >= 1, got 0"),
    ("SA", {"n_components": 2.5}, "n_components: expected an integer >= 1, got 2.5"),
    ("GFK", {"n_components": "auto"}, "n_components: expected an integer >= 1 or one of ('sdm',), got 'auto'"),
    ("GFK", {"n_components": 7}, "n_components: expected at most 6"),
    ("GFK", {"classifier": "knn"}, "classifier: expected one of ('1nn', 'svm'), got 'knn'"),
    ("TCA", {"n_components": 110}, "n_components: expected at most n_s + n_t - 1 = 109, got 110"),
    ("TCA", {"mu": -1}, "mu: expected a finite number > 0, got -1"),
    ("TCA", {"kernel": "sigmoid"}, "kernel: expected one of ('primal', 'linear', 'rbf'), got 'sigmoid'"),
    ("TKL", {"zeta": 0.9}, "zeta: expected a finite number >= 1, got 0.9"),
    ("TKL", {"gamma": None}, "gamma: expected a finite number > 0, got None"),
    ("TKL", {"n_eig": 51}, "n_eig: expected between 1 and n_t = 50 eigenvectors, got 51"),
    ("TKL", {"n_eig": "all"}, "n_eig: expected an integer >= 1 or one of (None,), got 'all'"),
])
def test_bad_hyperparameters_name_the_parameter(name, kwargs, message):
    Xs, ys, Xt, _ = _domains()
    with pytest.raises(ValueError) as err:
        _make(name, **kwargs).fit(Xs, ys, Xt)
    assert message in str(err.value)


def test_svm_is_libsvms_linear_one_vs_one_svc_with_c_1():
    # issue 17: the authors' scripts call libsvm's svmtrain(y, X, '-t 0'): linear kernel, one-vs-one, hinge, C = 1
    Xs, ys, Xt, _ = _domains(seed=2)
    ys = np.arange(len(Xs)) % 3  # three classes: one-vs-one differs from one-vs-rest
    assert DEFAULTS["SVM"]["C"] == 1.0
    ours = METHODS["SVM"]().fit(Xs, ys, Xt)
    ref = SVC(kernel="linear", C=1.0).fit(Xs, ys)
    assert isinstance(ours.svm_, LibsvmLinearSVM) and ours.svm_.svc_.decision_function_shape == "ovr"
    np.testing.assert_allclose(np.abs(ours.svm_.svc_.dual_coef_), np.abs(ref.dual_coef_), atol=1e-6)
    np.testing.assert_array_equal(ours.predict(Xt), ref.predict(Xt))
    assert ours.svm_.svc_.dual_coef_.shape == (2, len(ours.svm_.svc_.support_))  # 3 classes: pairwise machines
    before = LinearSVC(C=1.0, random_state=0, max_iter=20000).fit(Xs, ys)  # liblinear one-vs-rest: not the same
    assert (before.predict(Xt) != ref.predict(Xt)).any()


@pytest.mark.parametrize("name", ["IW-SVM", "TSRG", "DRFS-T"])
def test_the_authors_final_classifier_is_libsvm_linear(name):
    assert METHODS[name]().get_params()["C"] == 1.0
    Xs, ys, Xt, _ = _domains(seed=3, d=8)
    model = METHODS[name](**({"mu": 0.01} if name != "IW-SVM" else {})).fit(Xs, ys, Xt)
    assert isinstance(model.svm_, LibsvmLinearSVM) and model.svm_.C == 1.0


def test_libsvm_precomputed_equals_linear_kernel_svc_with_zero_weights():
    # scikit-learn's precomputed-kernel SVC mispredicts with zero sample weights: they are dropped first
    Xs, ys, Xt, _ = _domains(seed=4, d=8)
    ys = np.arange(len(Xs)) % 3
    w = np.where(np.arange(len(Xs)) % 4 == 0, 0.0, np.linspace(0.5, 3.0, len(Xs)))
    ours = LibsvmLinearSVM(1.0).fit(Xs, ys, sample_weight=w)
    ref = SVC(kernel="linear", C=1.0).fit(Xs, ys, sample_weight=w)
    np.testing.assert_array_equal(ours.predict(Xt), ref.predict(Xt))
    assert len(ours.train_) == int((w > 0).sum())


# --- KMM / IW-SVM -----------------------------------------------------------------------------------------

def test_box_slab_projection_is_the_euclidean_projection():
    rng = np.random.default_rng(3)
    for _ in range(20):
        v, B = rng.normal(1.0, 3.0, 15), 2.5
        lo, hi = 15 * 0.7, 15 * 1.3
        p = project_box_slab(v, B, lo, hi)
        assert p.min() >= 0 and p.max() <= B and lo - 1e-9 <= p.sum() <= hi + 1e-9
        for _ in range(50):  # variational inequality: (v - p).(q - p) <= 0 for every feasible q
            q = project_box_slab(rng.uniform(0, B, 15) * rng.uniform(0.5, 1.5), B, lo, hi)
            assert np.dot(v - p, q - p) <= 1e-8


def _weighted_mmd2(beta, Xs, Xt, gamma):
    """Squared RKHS distance between the beta-weighted source mean and the target mean (direct)."""
    a = beta / len(Xs)
    b = np.full(len(Xt), 1.0 / len(Xt))
    return (a @ kernel_matrix(Xs, Xs, kernel="rbf", gamma=gamma) @ a + b @ kernel_matrix(Xt, Xt, kernel="rbf", gamma=gamma) @ b
            - 2 * a @ kernel_matrix(Xs, Xt, kernel="rbf", gamma=gamma) @ b)


def test_kmm_weights_feasible_lower_the_mmd_and_match_an_independent_qp_solver():
    Xs, _, Xt, _ = _domains(seed=4, n_s=40, n_t=30, d=5, shift=1.0)
    B, eps = 5.0, 0.2
    beta = kmm_weights(Xs, Xt, B=B, eps=eps)
    assert beta.min() >= 0 and beta.max() <= B + 1e-12 and abs(beta.mean() - 1) <= eps + 1e-12
    gamma = median_gamma(np.vstack([Xs, Xt]))
    assert _weighted_mmd2(beta, Xs, Xt, gamma) < 0.5 * _weighted_mmd2(np.ones(40), Xs, Xt, gamma)
    K = kernel_matrix(Xs, Xs, kernel="rbf", gamma=gamma)
    kappa = 40 / 30 * kernel_matrix(Xs, Xt, kernel="rbf", gamma=gamma).sum(1)
    obj = lambda b: 0.5 * b @ K @ b - kappa @ b  # noqa: E731
    ref = minimize(obj, np.ones(40), jac=lambda b: K @ b - kappa, method="SLSQP", bounds=[(0, B)] * 40,
                   constraints=[{"type": "ineq", "fun": lambda b: 40 * (1 + eps) - b.sum()},
                                {"type": "ineq", "fun": lambda b: b.sum() - 40 * (1 - eps)}],
                   options={"ftol": 1e-12, "maxiter": 1000})
    assert obj(beta) <= ref.fun + 1e-6 * abs(ref.fun)


def test_iw_svm_weights_default_eps_and_use_them():
    Xs, ys, Xt, _ = _domains(seed=5)
    model = _make("IW-SVM").fit(Xs, ys, Xt)
    eps = (np.sqrt(len(Xs)) - 1) / np.sqrt(len(Xs))
    assert model.weights_.shape == (len(Xs),) and abs(model.weights_.mean() - 1) <= eps + 1e-12
    assert model.weights_.std() > 0.1  # a real shift gives non-uniform weights


# --- SA / GFK ---------------------------------------------------------------------------------------------

def test_sa_alignment_is_the_least_squares_map_and_moves_the_source_basis_towards_the_target():
    Xs, ys, Xt, _ = _domains(seed=6)
    Xt = Xt @ np.linalg.qr(np.random.default_rng(6).normal(size=(12, 12)))[0]  # rotate the target
    model = _make("SA", n_components=5, preprocess="none").fit(Xs, ys, Xt)
    Ps, Pt = pca_basis(Xs, 5), model.target_basis_
    M_ref = np.linalg.lstsq(Ps, Pt, rcond=None)[0]  # argmin_M ||Ps M - Pt||_F, computed independently
    np.testing.assert_allclose(model.alignment_, M_ref, atol=1e-10)
    assert np.linalg.norm(Ps @ model.alignment_ - Pt) < np.linalg.norm(Ps - Pt)


def _geodesic_projector(Ps, Pt, t):
    """Projector onto the Grassmann geodesic point at t (Edelman-Arias-Smith: tan form), independent of GFK's."""
    V_, _, _ = np.linalg.svd(Ps.T @ Pt)
    Y = (Pt - Ps @ (Ps.T @ Pt)) @ np.linalg.inv(Ps.T @ Pt)
    U, s, Wt = np.linalg.svd(Y, full_matrices=False)
    theta = np.arctan(s)
    Phi = Ps @ Wt.T @ np.diag(np.cos(t * theta)) + U @ np.diag(np.sin(t * theta))
    return Phi @ Phi.T


def test_gfk_kernel_is_psd_and_equals_the_integral_along_the_geodesic():
    rng = np.random.default_rng(7)
    Ps, Pt = np.linalg.qr(rng.normal(size=(10, 3)))[0], np.linalg.qr(rng.normal(size=(10, 3)))[0]
    E = geodesic_flow(Ps, Pt)
    G = E @ E.T
    assert np.linalg.eigvalsh(G).min() > -1e-12
    ts = np.linspace(0, 1, 401)
    P = np.array([_geodesic_projector(Ps, Pt, t) for t in ts])
    w = np.full(401, 2.0)
    w[1::2], w[0], w[-1] = 4.0, 1.0, 1.0  # Simpson's rule
    integral = np.tensordot(w * (ts[1] - ts[0]) / 3, P, axes=1)
    np.testing.assert_allclose(G, integral, atol=1e-9)
    np.testing.assert_allclose(_geodesic_projector(Ps, Pt, 1.0), Pt @ Pt.T, atol=1e-12)  # endpoint is Pt


def test_gfk_embedding_reproduces_the_kernel():
    Xs, ys, Xt, _ = _domains(seed=8, d=10)
    Xt = Xt @ np.diag(np.linspace(0.2, 3.0, 10))
    model = _make("GFK", n_components=3, preprocess="none").fit(Xs, ys, Xt)
    E = geodesic_flow(pca_basis(Xs, 3), pca_basis(Xt, 3))
    Z = Xt @ model.embedding_
    np.testing.assert_allclose(Z @ Z.T, Xt @ (E @ E.T) @ Xt.T, atol=1e-9)


def test_gfk_classifies_by_1nn_under_the_kernel_by_default():
    # issue 17: Gong et al. classify with 1-NN under G (the paper's experiments, my_kernel_knn of the demo)
    assert DEFAULTS["GFK"]["classifier"] == METHODS["GFK"]().get_params()["classifier"] == "1nn"
    Xs, ys, Xt, _ = _domains(seed=8, d=10)
    ys = np.arange(len(Xs)) % 3
    Xt = Xt @ np.diag(np.linspace(0.2, 3.0, 10))
    model = METHODS["GFK"](n_components=3, preprocess="none").fit(Xs, ys, Xt)
    E = geodesic_flow(pca_basis(Xs, 3), pca_basis(Xt, 3))
    G = E @ E.T
    dist = np.array([[(s - t) @ G @ (s - t) for s in Xs] for t in Xt])  # my_kernel_knn's distance, directly
    np.testing.assert_array_equal(model.predict(Xt), ys[dist.argmin(1)])
    svm = METHODS["GFK"](n_components=3, preprocess="none", classifier="svm").fit(Xs, ys, Xt)  # still an option
    assert svm.predict(Xt).shape == (len(Xt),)


def test_pca_basis_spans_the_top_right_singular_vectors():
    X = np.random.default_rng(9).normal(size=(20, 40)) @ np.diag(np.linspace(3, 0.1, 40))
    P = pca_basis(X, 5)
    Vt = np.linalg.svd(X - X.mean(0), full_matrices=False)[2][:5]
    np.testing.assert_allclose(P.T @ P, np.eye(5), atol=1e-10)
    np.testing.assert_allclose(P @ P.T, Vt.T @ Vt, atol=1e-10)


def test_sdm_picks_the_first_dimension_where_the_subspaces_disagree():
    rng = np.random.default_rng(10)
    Xs, Xt = rng.normal(size=(30, 60)), rng.normal(size=(30, 60)) @ np.diag(np.linspace(0.2, 3, 60))
    d = sdm_dimension(Xs, Xt)

    def sdm(k):  # scipy's principal angles (largest first) between the SVD-based PCA subspaces
        basis = lambda X: np.linalg.svd(X - X.mean(0), full_matrices=False)[2][:k].T  # noqa: E731
        pooled = basis(np.vstack([Xs, Xt]))
        return 0.5 * sum(np.sin(subspace_angles(basis(X), pooled)[0]) for X in (Xs, Xt))

    assert 1 < d < 29 and sdm(d) >= 0.995 and all(sdm(k) < 0.995 for k in range(1, d))
    with pytest.raises(ValueError, match="n_components: the subspace disagreement measure never reached"):
        sdm_dimension(Xs[:, :6], Xt[:, :6])


# --- TCA --------------------------------------------------------------------------------------------------

def _script_tca(Xs, Xt, kernel, dim, lamb, gamma):
    """TCA step by step as Wang's public TCA.py ``fit`` does it (jindongwang/transferlearning): samples as
    columns scaled to unit norm, M over its Frobenius norm, scipy.linalg.eig(a, b), the ``dim`` smallest
    eigenvalues (the finite ones: see below), Z = A^T K, each sample's column of Z scaled to unit norm.
    Returns Z^T (n, dim)."""
    from scipy.linalg import eig

    X = np.hstack([Xs.T, Xt.T])
    X = X / np.linalg.norm(X, axis=0)
    m, n = X.shape
    e = np.concatenate([np.full(len(Xs), 1 / len(Xs)), np.full(len(Xt), -1 / len(Xt))])[:, None]
    M = e @ e.T
    M = M / np.linalg.norm(M, "fro")
    H = np.eye(n) - np.ones((n, n)) / n
    K = {"primal": X, "linear": X.T @ X, "rbf": np.exp(-gamma * kernel_matrix(X.T, X.T, kernel="linear") * -2
                                                      - gamma * ((X * X).sum(0)[:, None] + (X * X).sum(0)[None, :]))}[kernel]
    size = m if kernel == "primal" else n
    w, V = eig(K @ M @ K.T + lamb * np.eye(size), K @ H @ K.T)
    finite = np.flatnonzero(np.abs(w) < 1e8)  # b is singular: LAPACK's w there is +-huge (e.g. -6e14), not an eigenvalue
    A = V[:, finite[np.argsort(w[finite].real)[:dim]]].real
    Z = A.T @ K
    return (Z / np.linalg.norm(Z, axis=0)).T


@pytest.mark.parametrize("kernel", ["primal", "linear", "rbf"])
def test_tca_is_the_public_script_step_for_step(kernel):
    # issue 17: TCA is exactly the public script it cites (M / ||M||_F, unit-norm samples and embeddings)
    Xs, _, Xt, _ = _domains(seed=11, n_s=25, n_t=20, d=60)  # more features than samples, as LBP-TOP
    Xs, Xt = np.abs(Xs), np.abs(Xt)
    model = _make("TCA", kernel=kernel, n_components=4, mu=0.5, gamma=0.7).fit(Xs, np.arange(25) % 2, Xt)
    ours = model.embed(model.prep_.transform(np.vstack([Xs, Xt])))
    ref = _script_tca(Xs, Xt, kernel, 4, 0.5, 0.7)
    signs = np.sign((ours * ref).sum(0))
    np.testing.assert_allclose(ours * signs, ref, atol=1e-7)
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0)


def test_tca_defaults_are_the_scripts_and_the_oracle_grid_reaches_mu_1e_3():
    assert {k: DEFAULTS["TCA"][k] for k in ("kernel", "n_components", "mu", "gamma", "preprocess")} == \
        {"kernel": "primal", "n_components": 30, "mu": 1.0, "gamma": 1.0, "preprocess": "l2"}
    assert min(ORACLE_GRIDS["TCA"]["mu"]) == 1e-3 and "primal" in ORACLE_GRIDS["TCA"]["kernel"]


def test_tca_components_solve_the_normalised_eigenproblem():
    Xs, _, Xt, _ = _domains(seed=11, n_s=25, n_t=20, d=6)
    X = np.vstack([Xs, Xt])
    K, mu = X @ X.T, 0.5
    C, nu = tca_components(K, 25, mu, 3)
    e = mmd_vector(25, 20)
    L, H = np.outer(e, e), np.eye(45) - np.full((45, 45), 1 / 45)
    assert np.allclose(L.sum(), 0) and np.isclose(L[0, 0], 1 / 25**2) and np.isclose(L[0, -1], -1 / (25 * 20))
    M = L / np.linalg.norm(L, "fro")
    A = K @ M @ K + mu * np.eye(45)  # Pan et al.'s (KLK + mu I) with the script's normalised M
    np.testing.assert_allclose(K @ H @ K @ C, A @ C * nu, atol=1e-7 * np.abs(K @ H @ K @ C).max())
    ref = np.sort(np.linalg.eigvals(np.linalg.solve(A, K @ H @ K)).real)[::-1][:3]  # 1/w of the script's smallest w
    np.testing.assert_allclose(nu, ref, rtol=1e-8)
    np.testing.assert_allclose(np.linalg.norm(C, axis=0), 1.0)


@pytest.mark.parametrize("kernel", ["primal", "linear", "rbf"])
def test_tca_embedding_shrinks_the_domain_discrepancy(kernel):
    Xs, ys, Xt, _ = _domains(seed=12, shift=3.0)
    model = _make("TCA", kernel=kernel, preprocess="none", mu=0.1, gamma=None).fit(Xs, ys, Xt)  # RBF: median width
    Zs, Zt = model.embed(Xs), model.embed(Xt)

    def relative_mmd(A, B):  # squared distance of the domain means over the pooled variance (scale-free)
        return np.sum((A.mean(0) - B.mean(0)) ** 2) / np.vstack([A, B]).var(0).sum()

    assert relative_mmd(Zs, Zt) < 0.1 * relative_mmd(Xs, Xt)


def test_linear_tca_beats_plain_svm_when_the_target_is_translated():
    # TCA removes the mean-shift direction; the class direction keeps a component orthogonal to it
    for seed in range(3):
        Xs, ys, Xt, yt = _domains(seed=seed, shift=3.0)
        svm = (METHODS["SVM"]().fit(Xs, ys, Xt).predict(Xt) == yt).mean()
        tca = (_make("TCA", preprocess="none").fit(Xs, ys, Xt).predict(Xt) == yt).mean()
        assert tca >= svm + 0.15, (seed, svm, tca)


# --- TKL --------------------------------------------------------------------------------------------------

def test_tkl_spectrum_is_feasible_and_optimal_against_an_independent_qp_solver():
    rng = np.random.default_rng(13)
    Phi = rng.normal(size=(30, 8)) @ np.diag(np.linspace(1, 0.2, 8))
    K = (lambda A: A @ A.T)(rng.normal(size=(30, 5)))
    for zeta in (1.0, 1.5, 3.0):
        lam = tkl_spectrum(Phi, K, zeta)
        assert lam.min() >= 0 and np.all(lam[:-1] >= zeta * lam[1:] - 1e-12)
        f = lambda x: np.linalg.norm(Phi @ np.diag(x) @ Phi.T - K) ** 2  # noqa: E731
        D = np.eye(8)[:-1] - zeta * np.eye(8)[1:]
        ref = minimize(f, np.zeros(8), method="SLSQP", bounds=[(0, None)] * 8,
                       constraints=[{"type": "ineq", "fun": lambda x: D @ x, "jac": lambda x: D}],
                       options={"ftol": 1e-14, "maxiter": 2000})
        assert f(lam) <= ref.fun + 1e-7 * max(1.0, ref.fun), (zeta, f(lam), ref.fun)


def test_tkl_learnt_kernel_is_psd_and_reproduces_the_source_kernel_better_than_nystrom_alone():
    Xs, ys, Xt, _ = _domains(seed=14)
    model = _make("TKL", preprocess="none", gamma=0.05).fit(Xs, ys, Xt)
    F = model.source_features_
    assert np.linalg.eigvalsh(F @ F.T).min() > -1e-9 and np.all(model.spectrum_[:-1] >= 2.0 * model.spectrum_[1:] - 1e-12)
    K_s = kernel_matrix(Xs, Xs, kernel="rbf", gamma=0.05)
    Phi = kernel_matrix(Xs, Xt, kernel="rbf", gamma=0.05) @ model.nystrom_
    damped = model.target_eigenvalues_[0] * 2.0 ** -np.arange(len(model.spectrum_))  # a feasible spectrum
    assert np.linalg.norm(F @ F.T - K_s) <= np.linalg.norm(Phi @ np.diag(damped) @ Phi.T - K_s)
