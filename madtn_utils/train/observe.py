r"""The training objective of one step and what it lets us see of the MMD, per step and epoch.

:func:`objective` computes, from the network's features (B, D) and logits (B, 3) of one
batch (the m source rows first, then the n target rows; N = m + n)::

    L = CE(logits[:m], y) + sign · λ · MMD²_u(f[:m], f[m:])     sign = +1; -1 under control flip_mmd

(``train.alignment: mmd``, the paper), or with another alignment loss A in place of the MMD²
(:data:`~madtn_utils.train.hparams.ALIGNMENTS`): ``coral`` (:mod:`~madtn_utils.train.coral`) and
``jmmd`` (:mod:`~madtn_utils.train.jmmd`) as ``CE + sign · λ · A``; ``dann``
(:mod:`~madtn_utils.train.dann`) as ``CE + λ · L_d`` with the domain classifier behind a gradient
reversal of weight sign · w(p). With it, a detached log vector (no host synchronisation) whose
entries are the columns of :func:`history_columns` after ``epoch``:

- ``ce``, ``mmd2``, ``loss``: CE, the paper's MMD² of the batch's features (under every alignment:
  what the other losses do to it is seen on the same scale; only ``mmd`` and ``jmmd`` take its
  gradient) and the loss minimised;
- under an alignment other than ``mmd`` (:data:`ALIGN_COLUMNS`): ``align``, the alignment loss A (for
  ``dann`` L_d), and for ``dann`` ``grl_weight`` (sign · w(p)) and ``domain_acc`` (the domain
  classifier's accuracy on the batch). Under ``mmd`` the alignment loss is the ``mmd2`` column, and
  the columns are exactly those of the runs made before these options existed;
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
>>> history_columns(TrainConfig(alignment="dann"))[:7]
['epoch', 'ce', 'mmd2', 'loss', 'align', 'grl_weight', 'domain_acc']
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from madtn_utils.train.coral import coral_loss
from madtn_utils.train.dann import domain_loss, reversal_weight
from madtn_utils.train.hparams import TrainConfig
from madtn_utils.train.jmmd import jmmd2_from_terms
from madtn_utils.train.mmd import MEDIAN_EXPONENTS, MMDTerms, median_sq_distance, mmd2_terms

__all__ = ["HISTORY_BASE", "ALIGN_COLUMNS", "kernel_columns", "history_columns", "step_stats", "alignment_terms",
           "objective"]

#: The first history columns; :func:`history_columns` appends the MMD statistics.
HISTORY_BASE = ("epoch", "ce", "mmd2", "loss")
#: The columns after ``loss`` of each ``train.alignment`` (none for ``mmd``: its loss is ``mmd2``).
ALIGN_COLUMNS = {"mmd": (), "coral": ("align",), "jmmd": ("align",), "dann": ("align", "grl_weight", "domain_acc")}


def kernel_columns(config: TrainConfig) -> list[str]:
    """One history column per Gaussian of ``config``'s kernel (module docstring)."""
    if config.mmd_kernel == "median":
        return [f"k_median_x{2.0 ** k:g}" for k in MEDIAN_EXPONENTS]
    return [f"k_sigma{s:g}" for s in config.sigmas]


def history_columns(config: TrainConfig) -> list[str]:
    """``epoch, ce, mmd2, loss``, the :data:`ALIGN_COLUMNS` of the alignment, ``median_d2`` and the :func:`kernel_columns`."""
    return [*HISTORY_BASE, *ALIGN_COLUMNS[config.alignment], "median_d2", *kernel_columns(config)]


@torch.no_grad()
def step_stats(terms: MMDTerms) -> torch.Tensor:
    """(1 + K,) detached: [median pairwise d² (pairs i < j), mean of each Gaussian over i ≠ j]."""
    d2, kernels = terms.d2.detach(), terms.kernels.detach()
    n = d2.shape[0]
    off_diagonal = kernels.sum((1, 2)) - kernels.diagonal(dim1=1, dim2=2).sum(1)
    return torch.cat([median_sq_distance(d2).reshape(1), off_diagonal / (n * (n - 1))])


def alignment_terms(feats: torch.Tensor, logits: torch.Tensor, m: int, terms: MMDTerms, config: TrainConfig,
                    domain=None) -> tuple[torch.Tensor, float, list]:
    """(the alignment loss A (0-d, with gradient), its weight in the loss, the extra log entries) of an
    alignment other than ``mmd``; ``domain`` = (domain classifier, training progress p) for ``dann``."""
    sign = -1.0 if config.control == "flip_mmd" else 1.0
    if config.alignment == "coral":
        align = coral_loss(feats[:m], feats[m:])
        return align, sign * config.lam, [align]
    if config.alignment == "jmmd":
        align = jmmd2_from_terms(terms.kernels, torch.softmax(logits, 1), m, config.kernel_reduce)
        return align, sign * config.lam, [align]
    if config.alignment == "dann":
        if domain is None:
            raise ValueError("domain: expected (domain classifier, training progress) for train.alignment 'dann', got None")
        classifier, progress = domain
        weight = sign * reversal_weight(progress)
        align, acc = domain_loss(classifier, feats, m, weight)
        return align, config.lam, [align, align.new_tensor(weight), acc]
    raise ValueError(f"params.train.alignment: expected one of {', '.join(ALIGN_COLUMNS)}, got {config.alignment!r}")


def objective(feats: torch.Tensor, logits: torch.Tensor, ys: torch.Tensor, config: TrainConfig, domain=None):
    """(loss to minimise (0-d, with gradient), detached log vector (3 + extras + 1 + K,)) for one batch
    whose first ``len(ys)`` rows are source rows (module docstring); ``domain``: (domain classifier,
    training progress p in [0, 1]) under ``alignment: dann``, else unused."""
    m = ys.shape[0]
    ce = F.cross_entropy(logits[:m], ys)
    if config.alignment == "mmd":  # the paper: exactly the computation of the runs made before the other alignments
        terms = mmd2_terms(feats[:m], feats[m:], config.sigmas, config.kernel_reduce, config.mmd_kernel, config.mmd_features)
        sign = -1.0 if config.control == "flip_mmd" else 1.0
        loss, extra = ce + (sign * config.lam) * terms.mmd2, []
    else:  # the MMD² is observed (with gradient only where JMMD uses its kernels), another loss aligns
        seen = feats if config.alignment == "jmmd" else feats.detach()
        terms = mmd2_terms(seen[:m], seen[m:], config.sigmas, config.kernel_reduce, config.mmd_kernel, config.mmd_features)
        align, weight, extra = alignment_terms(feats, logits, m, terms, config, domain)
        loss = ce + weight * align
    with torch.no_grad():
        log = torch.cat([torch.stack([ce, terms.mmd2, loss, *extra]).detach(), step_stats(terms)])
    return loss, log
