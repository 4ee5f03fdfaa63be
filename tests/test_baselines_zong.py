"""Zong et al.'s regenerators (TSRG, DRFS-T, DRLS) and STM: each step against an independent computation."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize
from sklearn.base import clone
from sklearn.linear_model import Lasso
from sklearn.svm import SVC, LinearSVC

from madtn_utils.baselines import DEFAULTS, METHODS, ORACLE_GRIDS, make, n_settings
from madtn_utils.baselines.base import linear_svm
from madtn_utils.baselines.kernels import kernel_matrix
from madtn_utils.baselines.regen import DRFST, DRLS
from madtn_utils.baselines.stm import STM, project_weights, solve_weights, weighted_l2_svm
from madtn_utils.baselines.zong import TSRG, _p_step, _q_step, _thin_basis, regenerator_objective, solve_regenerator

# sklearn's Lasso is the independent reference, run to a tolerance it reports as unmet at a duality gap near 1e-15
pytestmark = pytest.mark.filterwarnings("ignore:Objective did not converge:sklearn.exceptions.ConvergenceWarning")


def _histograms(n, shift, rng, nh=6, nb=10, c=3):
    """``n`` samples of ``nh`` concatenated ``nb``-bin histograms (each sums to 1), class- and domain-dependent."""
    y = np.arange(n) % c
    base = np.linspace(1.0, 2.0, nb)[None, :] + np.arange(nh)[:, None] * 0.1
    alpha = base[None] + 2.0 * (np.arange(nb)[None, None, :] % c == y[:, None, None]) + shift * np.arange(nb)[::-1]
    h = rng.gamma(alpha * 5)
    return (h / h.sum(2, keepdims=True)).reshape(n, -1), y


@pytest.fixture(scope="module")
def domains():
    rng = np.random.default_rng(0)
    Xs, ys = _histograms(36, 0.0, rng)
    Xt, _ = _histograms(30, 0.6, rng)
    return Xs, ys, Xt


def _problem(domains, ns=36, nt=30):
    Xs, _, Xt = domains[0][:ns], None, domains[2][:nt]
    Z = np.vstack([Xs, Xt])
    K = kernel_matrix(Z, Z, kernel="linear")
    return K[:, :len(Xs)], K[:, len(Xs):], Xs


def _lagrangian(Q, P, T, kappa, K1, kd, Y, lam):
    return (((Y - K1.T @ Q) ** 2).sum() + lam * ((kd @ Q) ** 2).sum() + (T * (P - Q)).sum()
            + kappa / 2 * ((P - Q) ** 2).sum())


def test_q_step_zeroes_the_numerical_gradient_of_the_augmented_lagrangian(domains):
    K1, K2, Y = _problem(domains)
    lam, kappa, rng = 0.5, 3.0, np.random.default_rng(1)
    kd = K1.mean(1) - K2.mean(1)
    V, D = _thin_basis(K1, kd, lam)
    P, T = rng.normal(size=(len(K1), Y.shape[1])), rng.normal(size=(len(K1), Y.shape[1]))
    Q = _q_step(V, D, K1 @ Y, P, T / 2, kappa)
    for Qx, stationary in ((Q, True), (Q + 1e-2 * rng.normal(size=Q.shape), False)):
        E = rng.normal(size=Q.shape)
        h = 1e-4
        slope = (_lagrangian(Qx + h * E, P, T, kappa, K1, kd, Y, lam)
                 - _lagrangian(Qx - h * E, P, T, kappa, K1, kd, Y, lam)) / (2 * h)
        assert (abs(slope) < 1e-4 * np.abs(E).sum()) == stationary


def test_p_step_satisfies_the_subgradient_condition_of_its_prox():
    rng = np.random.default_rng(2)
    Q, T = rng.normal(size=(8, 5)), rng.normal(size=(8, 5))
    kappa, mu = 2.0, 1.5
    P = _p_step(Q, T / 2, kappa, mu)
    g = T + kappa * (P - Q)  # gradient of the smooth part
    assert np.allclose(g[P != 0], -mu * np.sign(P[P != 0]))
    assert np.all(np.abs(g[P == 0]) <= mu + 1e-12) and 0 < (P == 0).sum() < P.size


@pytest.mark.parametrize("lam,mu", [(0.5, 1e-3), (10.0, 1e-2), (0.0, 1e-3), (100.0, 1.0)])
def test_regenerator_is_within_one_percent_of_an_independent_lasso(domains, lam, mu):
    """(1) column by column is a lasso ‖[y; 0] − A p‖² + μ‖p‖₁ with A = [K₁ᵀ; √λ k_δᵀ]: sklearn's
    coordinate descent solves it to high precision; the ALM stops once P = Q, slightly above that
    minimum (as the public code does), and never below it."""
    K1, K2, Y = _problem(domains, 18, 15)
    Y = Y[:, :4]
    P, _, converged = solve_regenerator(K1, K2, Y, lam, mu)
    A = np.vstack([K1.T, np.sqrt(lam) * (K1.mean(1) - K2.mean(1))])
    ref = np.column_stack([
        Lasso(alpha=mu / (2 * len(A)), fit_intercept=False, tol=1e-15, max_iter=1_000_000)
        .fit(A, np.append(Y[:, j], 0.0)).coef_ for j in range(Y.shape[1])])
    ours, theirs = (regenerator_objective(M, K1, K2, Y, lam, mu) for M in (P, ref))
    assert converged and theirs * (1 - 1e-6) <= ours <= theirs * 1.01
    assert regenerator_objective(np.zeros_like(P), K1, K2, Y, lam, mu) > 1.1 * ours  # the check can fail


def _public_ialm(K1, K2, Y, lam, mu):
    """The authors' IALM_TSRG.m schedule, written here independently: P = T = 1, κ₀ = 1e-3, ρ = 1.1."""
    kd = K1.mean(1) - K2.mean(1)
    D, U = np.linalg.eigh(K1 @ K1.T + lam * np.outer(kd, kd))
    P = np.ones((len(K1), Y.shape[1]))
    T, kappa = P.copy(), 1e-3
    for _ in range(100_000):
        Q = U @ ((U.T @ (K1 @ Y + (kappa * P + T) / 2)) / (D + kappa / 2)[:, None])
        P = np.sign(Q - T / kappa) * np.maximum(np.abs(Q - T / kappa) - mu / kappa, 0)
        if np.abs(P - Q).max() < 1e-8:
            return P
        T, kappa = T + kappa * (P - Q), min(1e15, 1.1 * kappa)
    raise AssertionError("the public schedule did not stop")


@pytest.mark.parametrize("lam,mu", [(1.0, 0.1), (1e-3, 1e-3), (100.0, 1.0)])
def test_default_schedule_reaches_the_objective_of_the_public_code(domains, lam, mu):
    K1, K2, Y = _problem(domains)
    P, n_iter, converged = solve_regenerator(K1, K2, Y, lam, mu)
    public = regenerator_objective(_public_ialm(K1, K2, Y, lam, mu), K1, K2, Y, lam, mu)
    assert converged and n_iter <= 200
    assert regenerator_objective(P, K1, K2, Y, lam, mu) <= public * 1.01


def test_wide_targets_run_in_float32_and_agree_with_float64(domains):
    K1, K2, Y = _problem(domains)
    Y = np.tile(Y, (1, 20))[:, :1100]  # > 1024 columns: the float32 path
    P32, _, _ = solve_regenerator(K1, K2, Y, 1.0, 1e-3)
    P64, _, _ = solve_regenerator(K1, K2, Y[:, :1000], 1.0, 1e-3)
    assert P32.dtype == np.float32 and P64.dtype == np.float64
    assert np.allclose(P32[:, :1000], P64, atol=1e-3 * np.abs(P64).max())


def _mmd2(A, B):
    return float(((A.mean(0) - B.mean(0)) ** 2).sum())


def test_regenerated_domains_are_closer_in_mmd(domains):
    Xs, ys, Xt = domains
    tsrg = TSRG(lam=1.0, mu=1e-3).fit(Xs, ys, Xt)
    assert _mmd2(Xs, tsrg.regenerate(Xt)) < 0.5 * _mmd2(Xs, Xt)
    drfst = DRFST(lam=1.0, mu=1e-3).fit(Xs, ys, Xt)
    assert _mmd2(drfst.regenerate(Xs), Xt) < 0.5 * _mmd2(Xs, Xt)
    assert _mmd2(Xs, TSRG(lam=0.0, mu=1e-3).fit(Xs, ys, Xt).regenerate(Xt)) > _mmd2(Xs, tsrg.regenerate(Xt))


def test_tsrg_and_drfst_classify_with_the_svm_of_the_paper_pipeline(domains):
    """TSRG: SVM on the raw source, applied to the regenerated target; DRFS-T: SVM on the regenerated source,
    applied to the raw target (the public Example1/Example2 scripts), each libsvm's svmtrain(..., '-t 0'):
    linear kernel, one-vs-one, C = 1 (issue 17)."""
    Xs, ys, Xt = domains
    tsrg, drfst = TSRG(lam=1.0, mu=1e-3).fit(Xs, ys, Xt), DRFST(lam=1.0, mu=1e-3).fit(Xs, ys, Xt)
    libsvm = lambda: SVC(kernel="linear", C=1.0)  # noqa: E731
    assert np.array_equal(tsrg.predict(Xt), libsvm().fit(Xs, ys).predict(tsrg.regenerate(Xt)))
    assert np.array_equal(drfst.predict(Xt), libsvm().fit(drfst.regenerate(Xs), ys).predict(Xt))
    ref = libsvm().fit(drfst.regenerate(Xs), ys)
    assert np.allclose(np.abs(drfst.svm_.svc_.dual_coef_), np.abs(ref.dual_coef_), atol=1e-6)
    assert not np.array_equal(drfst.svm_.svc_.support_, libsvm().fit(Xs, ys).support_)


def test_drls_without_adaptation_is_the_lasso_regression_of_the_labels(domains):
    Xs, ys, Xt = domains
    mu = 1e-3
    drls = DRLS(lam=0.0, mu=mu).fit(Xs, ys, Xt)
    Z = np.vstack([Xs, Xt])
    A = kernel_matrix(Xs, Z, kernel="linear")  # K₁ᵀ
    lasso = Lasso(alpha=mu / (2 * len(A)), fit_intercept=False, tol=1e-13, max_iter=300_000)
    coef = lasso.fit(A, np.eye(3)[ys]).coef_.T
    labels = np.eye(3)[ys]
    K2 = kernel_matrix(Z, Xt, kernel="linear")
    ours, theirs = (regenerator_objective(M, A.T, K2, labels, 0.0, mu) for M in (drls.P_, coef))
    assert ours <= theirs * 1.01
    assert np.array_equal(drls.predict(Xt), np.argmax(kernel_matrix(Xt, Z, kernel="linear") @ coef, 1))


@pytest.mark.parametrize("make", [lambda: TSRG(), lambda: DRFST(kernel="rbf"), lambda: DRLS(),
                                  lambda: STM()])
def test_fitting_twice_gives_identical_predictions(domains, make):
    Xs, ys, Xt = domains
    a, b = make().fit(Xs, ys, Xt), make().fit(Xs, ys, Xt)
    assert np.array_equal(a.predict(Xt), b.predict(Xt))
    assert a.predict(Xt).dtype == np.int64 and set(a.predict(Xt)) <= {0, 1, 2}


@pytest.mark.parametrize("cls,param,value,expected", [
    (TSRG, "lam", -1.0, "lam: expected a finite number >= 0, got -1.0"),
    (DRFST, "mu", 0.0, "mu: expected a finite number > 0, got 0.0"),
    (DRLS, "kernel", "gaussian", "kernel: expected one of ('linear', 'rbf'), got 'gaussian'"),
    (TSRG, "gamma", 0.0, "gamma: expected a finite number > 0 or None, got 0.0"),
    (TSRG, "C", 0, "C: expected a finite number > 0, got 0"),
    (DRLS, "max_iter", 2.5, "max_iter: expected an integer >= 1, got 2.5"),
    (STM, "lam", float("nan"), "lam: expected a finite number > 0, got nan"),
    (STM, "B", 0.5, "B: expected B >= 1 - eps = 0.9"),
    (STM, "eps", -0.1, "eps: expected a finite number >= 0 or None, got -0.1"),
    (STM, "eps", 1.0, "eps: expected a number in [0, 1) so that the weights cannot all vanish, got 1.0"),
])
def test_bad_hyperparameters_are_named(domains, cls, param, value, expected):
    Xs, ys, Xt = domains
    kwargs = {param: value, **({"eps": 0.1} if param == "B" else {})}
    with pytest.raises(ValueError) as err:
        cls(**kwargs).fit(Xs, ys, Xt)
    assert str(err.value).startswith(expected)


def test_stm_weights_stay_in_bounds_and_its_objective_never_increases(domains):
    Xs, ys, Xt = domains
    for kwargs in ({}, {"lam": 1e-3, "B": 3.0, "eps": 0.3}, {"kernel": "linear", "C": 10.0}):
        stm = STM(**kwargs).fit(Xs, ys, Xt)
        B, eps = kwargs.get("B", 1000.0), kwargs.get("eps", (np.sqrt(36) - 1) / np.sqrt(36))
        s, h = stm.weights_, np.array(stm.objective_history_)
        assert s.min() >= 0 and s.max() <= B and abs(s.sum() - 36) <= 36 * eps + 1e-9
        assert np.all(np.diff(h) <= 1e-9 * np.abs(h[:-1]))


def test_stm_with_unit_weights_forced_is_the_base_svm(domains):
    Xs, ys, Xt = domains
    stm = STM(B=1.0, eps=0.0, C=1.0).fit(Xs, ys, Xt)
    svm = linear_svm(1.0).set_params(tol=1e-10, max_iter=1_000_000).fit(Xs, ys)
    assert np.array_equal(stm.weights_, np.ones(36))
    assert np.allclose(stm.coef_, svm.coef_, atol=1e-4) and np.allclose(stm.intercept_, svm.intercept_, atol=1e-4)
    assert np.array_equal(stm.predict(Xt), svm.predict(Xt))


def test_weighted_svm_matches_liblinear_with_sample_weights(domains):
    Xs, ys, _ = domains
    s = np.random.default_rng(3).uniform(0, 2, len(Xs))
    s[:3] = 0.0
    Y = np.where(ys[:, None] == np.arange(3)[None], 1.0, -1.0)
    A = weighted_l2_svm(Xs @ Xs.T, Y, 5.0, s)
    ref = LinearSVC(C=5.0, dual=True, tol=1e-9, max_iter=10**6).fit(Xs, ys, sample_weight=s)
    assert np.allclose((A * Y).T @ Xs, ref.coef_, atol=1e-4) and np.allclose((A * Y).sum(0), ref.intercept_, atol=1e-4)


def test_weight_step_and_projection_match_slsqp():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(25, 3))
    K = np.exp(-((X[:, None] - X[None]) ** 2).sum(2) / 2)
    q, B, lo, hi = rng.normal(size=25) * 3 - 2, 2.5, 20.0, 24.0
    cons = [{"type": "ineq", "fun": lambda s: s.sum() - lo}, {"type": "ineq", "fun": lambda s: hi - s.sum()}]
    ref = minimize(lambda s: 0.5 * s @ K @ s + q @ s, np.ones(25), jac=lambda s: K @ s + q, method="SLSQP",
                   bounds=[(0, B)] * 25, constraints=cons, options={"ftol": 1e-14, "maxiter": 1000}).x
    s = solve_weights(K, q, B, lo, hi, np.ones(25))
    assert 0.5 * s @ K @ s + q @ s <= 0.5 * ref @ K @ ref + q @ ref + 1e-8
    v = rng.normal(size=25) * 3
    proj = minimize(lambda s: ((s - v) ** 2).sum(), np.ones(25), method="SLSQP", bounds=[(0, B)] * 25,
                    constraints=cons, options={"ftol": 1e-14, "maxiter": 1000}).x
    assert np.allclose(project_weights(v, B, lo, hi), proj, atol=1e-6)


def test_registry_entries_use_the_tables_names_and_the_constructor_defaults(domains):
    Xs, ys, Xt = domains
    for name, cls in {"TSRG": TSRG, "DRFS-T": DRFST, "DRLS": DRLS, "STM": STM}.items():
        params = cls().get_params()
        assert METHODS[name] is cls and {k: params[k] for k in DEFAULTS[name]} == DEFAULTS[name], name
        assert set(ORACLE_GRIDS[name]) <= set(params) and 1 <= n_settings(name) <= 40, name
        grid = {k: v[-1] for k, v in ORACLE_GRIDS[name].items()}
        assert make(name, **grid).fit(Xs, ys, Xt).predict(Xt).shape == (len(Xt),)
        clone(make(name))
    assert "RSTR" not in METHODS
