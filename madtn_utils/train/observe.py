r"""The training objective of one step and what it lets us see of the MMD, per step and epoch.

:func:`objective` computes, from the network's features (B, D) and logits (B, 3) of one
batch (the m source rows first, then the n target rows; N = m + n)::

    L = CE(logits[:m], y) + sign · λ · MMD²_u(f[:m], f[m:])     sign = +1; -1 under control flip_mmd

and a detached log vector (no host synchronisation) whose entries are the columns of
:func:`history_columns` after ``epoch``:

- ``ce``, ``mmd2``, ``loss``: the three terms above;
- ``median_d2``: the median of ‖f_i - f_j‖² over the N(N-1)/2 pairs i < j of the pooled
  batch (of the features the kernel sees: L2-normalised under ``mmd_features: l2``);
- one column per Gaussian of the kernel, its mean value over the N(N-1) ordered pairs
  i ≠ j of the pooled batch, (Σ_{i≠j} exp(-d²_ij / (2σ²))) / (N(N-1)), in [0, 1]:
  ``k_sigma1``, ``k_sigma2``, ... (``k_sigma{σ:g}``) for the fixed kernel, ``k_median_x0.25``
  ... ``k_median_x4`` (``k_median_x{2^k:g}``, σ² = median d² · 2^k) for the median kernel.

The statistics reuse the distance and kernel matrices of the MMD
(:func:`~madtn_utils.train.mmd.mmd2_terms`) and are computed under ``torch.no_grad()`` from
detached tensors; the loop sums the log vectors on the device and reads them once per
epoch, so a history row holds each quantity's mean over the epoch's steps.

>>> import torch
>>> from madtn_utils.train.hparams import TrainConfig
>>> history_columns(TrainConfig())
['epoch', 'ce', 'mmd2', 'loss', 'median_d2', 'k_sigma1', 'k_sigma2', 'k_sigma4', 'k_sigma8', 'k_sigma16']
>>> history_columns(TrainConfig(mmd_kernel="median"))[5:]
['k_median_x0.25', 'k_median_x0.5', 'k_median_x1', 'k_median_x2', 'k_median_x4']
>>> g = torch.Generator().manual_seed(0)
>>> loss, log = objective(torch.randn(6, 4, generator=g), torch.randn(6, 3, generator=g), torch.tensor([0, 1, 2]), TrainConfig())
>>> tuple(log.shape), log.requires_grad, bool(torch.isclose(log[2], loss))
((9,), False, True)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from madtn_utils.train.hparams import TrainConfig
from madtn_utils.train.mmd import MEDIAN_EXPONENTS, MMDTerms, median_sq_distance, mmd2_terms

__all__ = ["HISTORY_BASE", "kernel_columns", "history_columns", "step_stats", "objective"]

#: The first history columns; :func:`history_columns` appends the MMD statistics.
HISTORY_BASE = ("epoch", "ce", "mmd2", "loss")


def kernel_columns(config: TrainConfig) -> list[str]:
    """One history column per Gaussian of ``config``'s kernel (module docstring)."""
    if config.mmd_kernel == "median":
        return [f"k_median_x{2.0 ** k:g}" for k in MEDIAN_EXPONENTS]
    return [f"k_sigma{s:g}" for s in config.sigmas]


def history_columns(config: TrainConfig) -> list[str]:
    """``epoch, ce, mmd2, loss, median_d2`` and the :func:`kernel_columns`."""
    return [*HISTORY_BASE, "median_d2", *kernel_columns(config)]


@torch.no_grad()
def step_stats(terms: MMDTerms) -> torch.Tensor:
    """(1 + K,) detached: [median pairwise d² (pairs i < j), mean of each Gaussian over i ≠ j]."""
    d2, kernels = terms.d2.detach(), terms.kernels.detach()
    n = d2.shape[0]
    off_diagonal = kernels.sum((1, 2)) - kernels.diagonal(dim1=1, dim2=2).sum(1)
    return torch.cat([median_sq_distance(d2).reshape(1), off_diagonal / (n * (n - 1))])


def objective(feats: torch.Tensor, logits: torch.Tensor, ys: torch.Tensor, config: TrainConfig):
    """(loss to minimise (0-d, with gradient), detached log vector (3 + 1 + K,)) for one batch
    whose first ``len(ys)`` rows are source rows (module docstring)."""
    m = ys.shape[0]
    ce = F.cross_entropy(logits[:m], ys)
    terms = mmd2_terms(feats[:m], feats[m:], config.sigmas, config.kernel_reduce, config.mmd_kernel, config.mmd_features)
    sign = -1.0 if config.control == "flip_mmd" else 1.0
    loss = ce + (sign * config.lam) * terms.mmd2
    with torch.no_grad():
        log = torch.cat([torch.stack([ce, terms.mmd2, loss]).detach(), step_stats(terms)])
    return loss, log
