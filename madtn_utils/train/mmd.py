r"""Unbiased multi-kernel MMD² (Gretton et al., 2012; Eq. (6) of the MADTN paper).

For source features :math:`s_1..s_m` and target features :math:`t_1..t_n` (rows)::

    MMD²_u = 1/(m(m-1)) Σ_{i≠j} k(s_i, s_j)
           + 1/(n(n-1)) Σ_{i≠j} k(t_i, t_j)
           - 2/(mn)     Σ_{i,j} k(s_i, t_j)

    k(a, b) = Σ_σ exp(-‖a - b‖² / (2σ²))        (reduce="sum", the paper's kernel)
            = mean over σ of the same           (reduce="mean")

with σ ∈ {1, 2, 4, 8, 16} by default. Diagonal terms are excluded from the
within-domain sums, so the estimate is unbiased and can be slightly negative.
Squared distances come from one (m+n)x(m+n) Gram matrix (‖a‖² + ‖b‖² - 2a·b,
clamped at 0): no Python loops over samples; the result is differentiable.

Options beyond the paper (:func:`mmd2_terms`; ``train.mmd_kernel``, ``train.mmd_features``):

- ``kernel="median"``: the bandwidths follow the batch (DAN, Long et al. 2015; tllib):
  σ_k² = med · 2^k, k = -2..2, where med is the median of ‖x_i - x_j‖² over the pairs
  i < j of the pooled batch (source and target rows), computed without gradient.
- ``features="l2"``: every row is divided by its L2 norm before the kernel (so d² ∈ [0, 4]).

:func:`mmd2_terms` returns the MMD² together with the squared-distance matrix, the
per-bandwidth Gaussian matrices and the σ² used, so that the training loop's
statistics (:mod:`madtn_utils.train.observe`) cost no second distance computation.

>>> import torch
>>> g = torch.Generator().manual_seed(0)
>>> s = torch.randn(50, 4, generator=g)
>>> t = torch.randn(40, 4, generator=g) + 3.0
>>> bool(mmd2_unbiased(s, t) > 1.0), abs(float(mmd2_unbiased(s, s[torch.randperm(50, generator=g)]))) < 1.0
(True, True)
>>> mmd2_unbiased(s, t[:, :3])
Traceback (most recent call last):
...
ValueError: target_features: expected feature dimension 4 (as source_features), got 3
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F

__all__ = ["mmd2_unbiased", "mmd2_terms", "MMDTerms", "gaussian_kernel_matrix", "squared_distances", "median_sq_distance",
           "bandwidths_sq", "DEFAULT_SIGMAS", "MMD_KERNELS", "MMD_FEATURES", "MEDIAN_EXPONENTS"]

#: Gaussian bandwidths δ of the paper.
DEFAULT_SIGMAS = (1.0, 2.0, 4.0, 8.0, 16.0)
#: ``train.mmd_kernel``: the fixed σ list (paper) or bandwidths from the batch's median d² (DAN).
MMD_KERNELS = ("fixed", "median")
#: ``train.mmd_features``: the layer's output as it is, or L2-normalised rows.
MMD_FEATURES = ("raw", "l2")
#: k of the median kernel: σ_k² = median d² · 2^k.
MEDIAN_EXPONENTS = (-2, -1, 0, 1, 2)
#: Smallest σ² of the median kernel (a batch of identical rows has median d² = 0).
_MIN_SIGMA2 = 1e-12


class MMDTerms(NamedTuple):
    """What :func:`mmd2_terms` computed: ``mmd2`` (0-d, differentiable), ``d2`` ((N, N)
    squared distances of the pooled rows, source first), ``kernels`` ((K, N, N), one
    Gaussian per bandwidth, values in [0, 1]) and ``sigma2`` ((K,), the σ² used)."""

    mmd2: torch.Tensor
    d2: torch.Tensor
    kernels: torch.Tensor
    sigma2: torch.Tensor


def squared_distances(x: torch.Tensor) -> torch.Tensor:
    """‖x_i - x_j‖² (N, N) of the rows of ``x`` (N, D), from one Gram matrix, clamped at 0."""
    sq = (x * x).sum(1)
    return (sq[:, None] + sq[None, :] - 2.0 * (x @ x.T)).clamp_min(0.0)


def median_sq_distance(d2: torch.Tensor) -> torch.Tensor:
    """Median (0-d, no gradient) of ``d2[i, j]`` over the N(N-1)/2 pairs i < j; the lower
    median when that count is even (``torch.median``). No host synchronisation.

    >>> median_sq_distance(squared_distances(torch.tensor([[0.0], [1.0], [3.0]])))
    tensor(4.)
    """
    n = d2.shape[0]
    i, j = torch.triu_indices(n, n, 1, device=d2.device)
    return d2.detach()[i, j].median()


def bandwidths_sq(d2: torch.Tensor, sigmas: Sequence[float] = DEFAULT_SIGMAS, kernel: str = "fixed") -> torch.Tensor:
    """σ² (K,) of the kernel: ``fixed`` -> σ² for σ in ``sigmas``; ``median`` -> med · 2^k,
    k in :data:`MEDIAN_EXPONENTS` (med from :func:`median_sq_distance`, at least 1e-12).
    The constants reach the device once per (values, dtype, device): no copy (and so no
    host synchronisation) per step."""
    if kernel == "fixed":
        return _constants(tuple(float(s) ** 2 for s in sigmas), d2.dtype, d2.device)
    if kernel == "median":
        scale = _constants(tuple(2.0**k for k in MEDIAN_EXPONENTS), d2.dtype, d2.device)
        return median_sq_distance(d2).clamp_min(_MIN_SIGMA2) * scale
    raise ValueError(f"kernel: expected one of {', '.join(MMD_KERNELS)}, got {kernel!r}")


@functools.lru_cache(maxsize=64)
def _constants(values: tuple[float, ...], dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    return torch.tensor(values, dtype=dtype, device=device)


def _check_sigmas(sigmas, reduce: str) -> tuple[float, ...]:
    if reduce not in ("sum", "mean"):
        raise ValueError(f"reduce: expected 'sum' or 'mean', got {reduce!r}")
    sigmas = tuple(float(s) for s in sigmas)
    if not sigmas or min(sigmas) <= 0:
        raise ValueError(f"sigmas: expected one or more positive bandwidths, got {sigmas}")
    return sigmas


def gaussian_kernel_matrix(x: torch.Tensor, sigmas: Sequence[float] = DEFAULT_SIGMAS, reduce: str = "sum") -> torch.Tensor:
    """Multi-kernel Gram matrix K (N, N) of the rows of ``x`` (N, D).

    K_ij = Σ_σ exp(-‖x_i - x_j‖² / (2σ²)) (``reduce="mean"`` divides by len(sigmas)).
    """
    sigmas = _check_sigmas(sigmas, reduce)
    d2 = squared_distances(x)
    k = sum(torch.exp(d2 * (-0.5 / (s * s))) for s in sigmas)
    return k / len(sigmas) if reduce == "mean" else k


def _check(name: str, x, other: torch.Tensor | None = None) -> None:
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name}: expected a torch.Tensor, got {type(x).__name__}")
    if x.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D tensor (rows, features), got shape {tuple(x.shape)}")
    if x.shape[0] < 2:
        raise ValueError(f"{name}: expected at least 2 rows for the unbiased estimate, got {x.shape[0]}")
    if not x.is_floating_point():
        raise ValueError(f"{name}: expected a floating-point tensor, got {x.dtype}")
    if other is not None and x.shape[1] != other.shape[1]:
        raise ValueError(f"{name}: expected feature dimension {other.shape[1]} (as source_features), got {x.shape[1]}")


def mmd2_terms(
    source_features: torch.Tensor,
    target_features: torch.Tensor,
    sigmas: Sequence[float] = DEFAULT_SIGMAS,
    reduce: str = "sum",
    kernel: str = "fixed",
    features: str = "raw",
) -> MMDTerms:
    """Unbiased MMD² of source (m, D) and target (n, D) rows with its intermediate terms.

    ``kernel``: ``fixed`` (σ in ``sigmas``, the paper) or ``median`` (σ_k² = med · 2^k,
    ``sigmas`` unused); ``features``: ``raw`` or ``l2`` (rows L2-normalised first). The
    kernel is Σ_k exp(-d²/(2σ_k²)) (``reduce="mean"``: divided by K). N = m + n.

    >>> g = torch.Generator().manual_seed(0)
    >>> s, t = torch.randn(6, 3, generator=g), torch.randn(5, 3, generator=g) + 1.0
    >>> r = mmd2_terms(s, t, kernel="median")
    >>> tuple(r.d2.shape), tuple(r.kernels.shape), bool(torch.allclose(r.sigma2[2], median_sq_distance(r.d2)))
    ((11, 11), (5, 11, 11), True)
    >>> bool(torch.isclose(mmd2_terms(s, t).mmd2, mmd2_unbiased(s, t)))
    True
    >>> float(mmd2_terms(s, t, features="l2").d2.max()) <= 4.0 + 1e-6
    True
    """
    _check("source_features", source_features)
    _check("target_features", target_features, source_features)
    sigmas = _check_sigmas(sigmas, reduce)
    if features not in MMD_FEATURES:
        raise ValueError(f"features: expected one of {', '.join(MMD_FEATURES)}, got {features!r}")
    m, n = source_features.shape[0], target_features.shape[0]
    x = torch.cat([source_features, target_features])
    if features == "l2":
        x = F.normalize(x, dim=1, eps=1e-12)
    d2 = squared_distances(x)
    sigma2 = bandwidths_sq(d2, sigmas, kernel)
    kernels = torch.exp(d2[None] * (-0.5 / sigma2)[:, None, None])
    k = kernels.mean(0) if reduce == "mean" else kernels.sum(0)
    kss, ktt, kst = k[:m, :m], k[m:, m:], k[:m, m:]
    within_s = (kss.sum() - kss.diagonal().sum()) / (m * (m - 1))
    within_t = (ktt.sum() - ktt.diagonal().sum()) / (n * (n - 1))
    return MMDTerms(within_s + within_t - 2.0 * kst.sum() / (m * n), d2, kernels, sigma2)


def mmd2_unbiased(
    source_features: torch.Tensor,
    target_features: torch.Tensor,
    sigmas: Sequence[float] = DEFAULT_SIGMAS,
    reduce: str = "sum",
) -> torch.Tensor:
    """Unbiased MMD² between source (m, D) and target (n, D) rows; a 0-d tensor.

    m and n may differ (both >= 2). See the module docstring for the equation.
    The result has the dtype (after promotion) and device of the inputs, and gradients
    flow to both arguments. The paper's kernel; :func:`mmd2_terms` has the options.
    """
    return mmd2_terms(source_features, target_features, sigmas, reduce).mmd2
