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

from collections.abc import Sequence

import torch

__all__ = ["mmd2_unbiased", "gaussian_kernel_matrix", "DEFAULT_SIGMAS"]

#: Gaussian bandwidths δ of the paper.
DEFAULT_SIGMAS = (1.0, 2.0, 4.0, 8.0, 16.0)


def gaussian_kernel_matrix(x: torch.Tensor, sigmas: Sequence[float] = DEFAULT_SIGMAS, reduce: str = "sum") -> torch.Tensor:
    """Multi-kernel Gram matrix K (N, N) of the rows of ``x`` (N, D).

    K_ij = Σ_σ exp(-‖x_i - x_j‖² / (2σ²)) (``reduce="mean"`` divides by len(sigmas)).
    """
    if reduce not in ("sum", "mean"):
        raise ValueError(f"reduce: expected 'sum' or 'mean', got {reduce!r}")
    sigmas = tuple(float(s) for s in sigmas)
    if not sigmas or min(sigmas) <= 0:
        raise ValueError(f"sigmas: expected one or more positive bandwidths, got {sigmas}")
    sq = (x * x).sum(1)
    d2 = (sq[:, None] + sq[None, :] - 2.0 * (x @ x.T)).clamp_min(0.0)
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


def mmd2_unbiased(
    source_features: torch.Tensor,
    target_features: torch.Tensor,
    sigmas: Sequence[float] = DEFAULT_SIGMAS,
    reduce: str = "sum",
) -> torch.Tensor:
    """Unbiased MMD² between source (m, D) and target (n, D) rows; a 0-d tensor.

    m and n may differ (both >= 2). See the module docstring for the equation.
    The result has the dtype (after promotion) and device of the inputs, and gradients
    flow to both arguments.
    """
    _check("source_features", source_features)
    _check("target_features", target_features, source_features)
    m, n = source_features.shape[0], target_features.shape[0]
    k = gaussian_kernel_matrix(torch.cat([source_features, target_features]), sigmas, reduce)
    kss, ktt, kst = k[:m, :m], k[m:, m:], k[:m, m:]
    within_s = (kss.sum() - kss.diagonal().sum()) / (m * (m - 1))
    within_t = (ktt.sum() - ktt.diagonal().sum()) / (n * (n - 1))
    return within_s + within_t - 2.0 * kst.sum() / (m * n)
