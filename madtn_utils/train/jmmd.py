r"""The joint MMD of the features and the softmax outputs (JAN; ``train.alignment: jmmd``).

Source: M. Long, H. Zhu, J. Wang, M. I. Jordan, "Deep Transfer Learning with Joint Adaptation
Networks", ICML 2017, Eq. (10)-(11): the MMD of the *joint* distribution of several layers'
activations, whose kernel is the product of one kernel per layer. Here the layers are the
alignment layer (features f, ``train.mmd_layer``) and the softmax of the logits (p); for source
rows i, j < m and target rows (N = m + n pooled rows, source first)::

    k_J(i, j) = k_f(f_i, f_j) · k_p(p_i, p_j)

    JMMD²_u = 1/(m(m-1)) Σ_{i≠j ∈ S} k_J + 1/(n(n-1)) Σ_{i≠j ∈ T} k_J - 2/(mn) Σ_{i ∈ S, j ∈ T} k_J

- ``k_f`` is our MMD's kernel (:mod:`madtn_utils.train.mmd`, the same bandwidth rule: by default
  the paper's Σ_σ exp(-d²/(2σ²)), σ ∈ {1, 2, 4, 8, 16}; ``mmd_kernel``, ``mmd_features`` and
  ``kernel_reduce`` apply as to the MMD).
- ``k_p(a, b) = exp(-‖a - b‖² / 1.68)``: one Gaussian of fixed bandwidth on the softmax layer, as in
  the JAN authors' code (thuml/Xlearn ``JAN(..., kernel_nums=[5, 1], fix_sigma_list=[None, 1.68])``,
  whose kernel is exp(-d²/bandwidth)); the Transfer-Learning-Library's JAN example uses
  ``GaussianKernel(sigma=0.92)``, exp(-d²/(2·0.92²)) = exp(-d²/1.69), the same up to rounding.
  Softmax rows lie in the simplex, so d² ∈ [0, 2] and k_p ∈ [0.30, 1].
- The estimator is the unbiased one of our MMD (diagonals left out of the within-domain sums; m
  and n may differ), not JAN's linear-time estimate (Eq. (11)); like the MMD it can be slightly
  negative. Gradients flow through both layers (through the softmax into the logits, as in JAN).

Training minimises ``CE + λ·JMMD²_u`` (``control: flip_mmd`` flips the sign).

>>> import torch
>>> g = torch.Generator().manual_seed(0)
>>> f, p = torch.randn(10, 4, generator=g), torch.softmax(torch.randn(10, 3, generator=g), 1)
>>> j = jmmd2_unbiased(f[:6], f[6:], p[:6], p[6:])
>>> tuple(j.shape), bool(torch.isfinite(j))
((), True)
>>> float(softmax_kernel(torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]))[0, 1])  # exp(-2/1.68)
0.30407...
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from madtn_utils.train.mmd import DEFAULT_SIGMAS, MMDTerms, mmd2_terms

__all__ = ["SOFTMAX_BANDWIDTH", "softmax_kernel", "unbiased_mmd2_from_kernel", "jmmd2_from_terms", "jmmd2_unbiased"]

#: The softmax layer's kernel exp(-d² / SOFTMAX_BANDWIDTH) (JAN authors' fix_sigma 1.68).
SOFTMAX_BANDWIDTH = 1.68


def softmax_kernel(probs: torch.Tensor) -> torch.Tensor:
    """exp(-‖p_i - p_j‖² / 1.68) (..., N, N) of the rows of ``probs`` (..., N, C)."""
    sq = (probs * probs).sum(-1)
    d2 = (sq[..., :, None] + sq[..., None, :] - 2.0 * probs @ probs.transpose(-1, -2)).clamp_min(0.0)
    return torch.exp(d2 * (-1.0 / SOFTMAX_BANDWIDTH))


def unbiased_mmd2_from_kernel(k: torch.Tensor, m: int) -> torch.Tensor:
    """The unbiased MMD² (...) of a pooled kernel matrix ``k`` (..., N, N) whose first ``m`` rows are source rows."""
    n = k.shape[-1] - m
    if m < 2 or n < 2:
        raise ValueError(f"rows: expected at least 2 source and 2 target rows for the unbiased estimate, got {m} and {n}")
    kss, ktt, kst = k[..., :m, :m], k[..., m:, m:], k[..., :m, m:]
    within_s = (kss.sum((-2, -1)) - kss.diagonal(dim1=-2, dim2=-1).sum(-1)) / (m * (m - 1))
    within_t = (ktt.sum((-2, -1)) - ktt.diagonal(dim1=-2, dim2=-1).sum(-1)) / (n * (n - 1))
    return within_s + within_t - 2.0 * kst.sum((-2, -1)) / (m * n)


def jmmd2_from_terms(kernels: torch.Tensor, probs: torch.Tensor, m: int, reduce: str = "sum") -> torch.Tensor:
    """JMMD²_u (...) from the per-bandwidth feature Gaussians ``kernels`` (..., K, N, N) of
    :func:`~madtn_utils.train.mmd.mmd2_terms` (reduced by ``reduce``: sum or mean over K) and the
    softmax rows ``probs`` (..., N, C), source rows first."""
    k_f = kernels.mean(-3) if reduce == "mean" else kernels.sum(-3)
    return unbiased_mmd2_from_kernel(k_f * softmax_kernel(probs), m)


def jmmd2_unbiased(source_features: torch.Tensor, target_features: torch.Tensor, source_probs: torch.Tensor,
                   target_probs: torch.Tensor, sigmas: Sequence[float] = DEFAULT_SIGMAS, reduce: str = "sum",
                   kernel: str = "fixed", features: str = "raw") -> torch.Tensor:
    """JMMD²_u of source (m, D) / target (n, D) features and their softmax rows (m, C) / (n, C); 0-d."""
    if source_probs.shape[0] != source_features.shape[0] or target_probs.shape[0] != target_features.shape[0]:
        raise ValueError(f"probs: expected one softmax row per feature row, got {source_probs.shape[0]} and "
                         f"{target_probs.shape[0]} for {source_features.shape[0]} and {target_features.shape[0]}")
    terms: MMDTerms = mmd2_terms(source_features, target_features, sigmas, reduce, kernel, features)
    return jmmd2_from_terms(terms.kernels, torch.cat([source_probs, target_probs]), source_features.shape[0], reduce)
