r"""The domain gap of a network: how far apart its source and target features are.

Measured on the MMD layer's output (``train.mmd_layer``, as the layer gives it: no L2
normalisation, whatever ``train.mmd_features`` is, so every run is measured the same way)
in eval mode, for ALL source test maps (the middle-frame maps, one per source sample)
against ALL target test maps; the maps' labels are never read. Two measures:

- ``mmd2_median``: the unbiased MMD² (:func:`~madtn_utils.train.mmd.mmd2_unbiased`) with
  one Gaussian k(a, b) = exp(-‖a - b‖² / (2σ²)) whose bandwidth is the median heuristic
  on the pooled features, σ² = med / 2, i.e. k = exp(-d² / med), where med
  (``median_d2``) is the median of ‖f_i - f_j‖² over the pairs i < j of the
  (Ns + Nt) pooled rows. Scale-free: multiplying every feature by c leaves it unchanged,
  so runs whose features grew differently stay comparable.
- ``domain_clf_bacc``: the balanced accuracy (mean recall of the two domains; chance 0.5
  whatever the domain sizes) of a domain classifier, from out-of-fold predictions of a
  :data:`GAP_FOLDS`-fold stratified cross-validation (shuffled, ``random_state``
  :data:`GAP_RANDOM_STATE`) of standardisation + L2 logistic regression (C = :data:`GAP_C`,
  lbfgs) on the domain labels (0 = source, 1 = target) alone. Near 0.5: the domains are
  indistinguishable to a linear probe; near 1: separable.

:func:`fit_prepared <madtn_utils.train.loop.fit_prepared>` measures both before training
(``init_*``, the untrained network of the same seed) and after the last epoch.

>>> rng = np.random.default_rng(0)
>>> s, t = rng.normal(size=(40, 5)), rng.normal(size=(30, 5))
>>> g = domain_gap(s, t)
>>> abs(g["mmd2_median"]) < 0.05, 0.3 < g["domain_clf_bacc"] < 0.7
(True, True)
>>> g = domain_gap(s, t + 2.0)
>>> g["mmd2_median"] > 0.2, g["domain_clf_bacc"] > 0.9
(True, True)
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch

from madtn_utils.train.mmd import median_sq_distance, mmd2_unbiased, squared_distances
from madtn_utils.train.prepare import PreparedTask

__all__ = ["GAP_KEYS", "GAP_FOLDS", "GAP_RANDOM_STATE", "GAP_C", "GAP_METHOD", "extract_features", "mmd2_median_heuristic",
           "domain_classifier_bacc", "domain_gap", "measure_gap", "summarize_gap"]

#: The measures of :func:`domain_gap`.
GAP_KEYS = ("mmd2_median", "domain_clf_bacc", "median_d2")
GAP_FOLDS = 5
GAP_RANDOM_STATE = 0
#: Inverse L2 penalty of the domain classifier (scikit-learn's default).
GAP_C = 1.0
#: One line on how the gap is measured (written beside it in metrics.json).
GAP_METHOD = ("MMD layer features (eval mode) of all source vs all target test maps; mmd2_median: unbiased MMD² with "
              "k = exp(-d²/median_d2) (σ² = median pairwise d² / 2, pooled); domain_clf_bacc: balanced accuracy of "
              f"standardise + logistic regression (C={GAP_C:g}) on domain labels, {GAP_FOLDS}-fold stratified CV "
              f"(random_state={GAP_RANDOM_STATE}), chance 0.5; init_*: the same before training")


@torch.no_grad()
def extract_features(model, prepared: PreparedTask, maps: torch.Tensor, batch_size: int = 256) -> np.ndarray:
    """MMD-layer features (N, D) float64 of uint8 ``maps`` (eval mode, no augmentation)."""
    model.eval()
    out = [model(prepared.to_float(c))[0] for c in torch.split(maps, batch_size)]
    return torch.cat(out).double().cpu().numpy()


def mmd2_median_heuristic(source: np.ndarray, target: np.ndarray) -> tuple[float, float]:
    """(unbiased MMD² with σ² = med / 2, med) of source (Ns, D) and target (Nt, D) rows (module doc)."""
    s = torch.as_tensor(np.asarray(source, dtype=np.float64))
    t = torch.as_tensor(np.asarray(target, dtype=np.float64))
    med = float(median_sq_distance(squared_distances(torch.cat([s, t]))))
    sigma = math.sqrt(max(med, 1e-12) / 2.0)
    return float(mmd2_unbiased(s, t, sigmas=(sigma,))), med


def domain_classifier_bacc(source: np.ndarray, target: np.ndarray, *, folds: int = GAP_FOLDS,
                           random_state: int = GAP_RANDOM_STATE, C: float = GAP_C) -> float:
    """Cross-validated balanced accuracy of a logistic-regression source-vs-target classifier
    (module doc); ``folds`` drops to the smaller domain's size; NaN below 2 rows per domain."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x = np.concatenate([np.asarray(source, np.float64), np.asarray(target, np.float64)])
    y = np.r_[np.zeros(len(source), np.int64), np.ones(len(target), np.int64)]
    k = min(folds, len(source), len(target))
    if k < 2:
        return float("nan")
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=5000))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # separable domains: the fit is already perfect
        pred = cross_val_predict(clf, x, y, cv=StratifiedKFold(k, shuffle=True, random_state=random_state))
    return float(balanced_accuracy_score(y, pred))


def domain_gap(source: np.ndarray, target: np.ndarray) -> dict:
    """``{"mmd2_median", "domain_clf_bacc", "median_d2"}`` of source (Ns, D) and target (Nt, D)
    features; every value None when a feature is non-finite."""
    source, target = np.asarray(source, np.float64), np.asarray(target, np.float64)
    if not (np.isfinite(source).all() and np.isfinite(target).all()):
        return dict.fromkeys(GAP_KEYS)
    mmd2, med = mmd2_median_heuristic(source, target)
    return {"mmd2_median": mmd2, "domain_clf_bacc": domain_classifier_bacc(source, target), "median_d2": med}


def measure_gap(model, prepared: PreparedTask, batch_size: int = 256) -> dict:
    """:func:`domain_gap` of ``model``'s features of the prepared source test maps vs target test maps."""
    if prepared.source_test_maps is None:
        raise ValueError("prepared.source_test_maps: expected the source test maps (prepare_task puts them there), got None")
    fs = extract_features(model, prepared, prepared.source_test_maps, batch_size)
    ft = extract_features(model, prepared, prepared.target_maps, batch_size)
    return domain_gap(fs, ft)


def summarize_gap(gaps) -> dict:
    """``{key: {"mean", "std"}}`` (std ddof=1; 0.0 for one seed; None values left out, None when
    none is left) over the per-seed gap dicts, for every key they have.

    >>> summarize_gap([{"mmd2_median": 0.1}, {"mmd2_median": 0.3}])
    {'mmd2_median': {'mean': 0.2, 'std': 0.1414213562373095}}
    """
    gaps = list(gaps)
    keys = list(dict.fromkeys(k for g in gaps for k in g))
    out = {}
    for key in keys:
        v = np.array([g[key] for g in gaps if g.get(key) is not None], dtype=np.float64)
        v = v[np.isfinite(v)]
        out[key] = {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0} if len(v) else None
    return out
