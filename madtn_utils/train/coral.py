r"""Deep CORAL: the distance between the source and target feature covariances (``train.alignment: coral``).

Source: B. Sun and K. Saenko, "Deep CORAL: Correlation Alignment for Deep Domain Adaptation",
ECCV 2016 Workshops (LNCS 9915), Eq. (1)-(3). For source rows :math:`D_S` (m, d) and target rows
:math:`D_T` (n, d) of one batch (the features of the alignment layer, ``train.mmd_layer``)::

    ℓ_CORAL = ‖C_S - C_T‖²_F / (4 d²)

    C_S = (D_Sᵀ D_S - (1ᵀ D_S)ᵀ (1ᵀ D_S) / m) / (m - 1)      (the unbiased covariance, Eq. (2))
    C_T = the same for D_T with n

It is 0 when the two batches have one covariance, never negative, and blind to the means (a
shifted target with the source's covariance costs nothing, unlike the MMD). Training minimises
``CE + λ·ℓ_CORAL`` (the paper's weighting; ``control: flip_mmd`` flips the sign).

:func:`coral_loss` takes any leading batch dimensions: (..., m, d) and (..., n, d) -> (...), so
the stacked training (:mod:`madtn_utils.train.stacked_net`) computes the R runs of a stack at once.

>>> import torch
>>> g = torch.Generator().manual_seed(0)
>>> s = torch.randn(40, 3, generator=g)
>>> float(coral_loss(s, s + 5.0)) < 1e-6  # a shift of the mean is invisible to CORAL
True
>>> bool(coral_loss(s, 3.0 * s) > 0.1), tuple(coral_loss(torch.stack([s, s]), torch.stack([s, 2 * s])).shape)
(True, (2,))
>>> coral_loss(s, s[:, :2])
Traceback (most recent call last):
...
ValueError: target_features: expected feature dimension 3 (as source_features), got 2
"""

from __future__ import annotations

import torch

__all__ = ["covariance", "coral_loss"]


def covariance(x: torch.Tensor) -> torch.Tensor:
    """The unbiased covariance (..., d, d) of the rows of ``x`` (..., m, d), m >= 2 (Eq. (2) of Deep CORAL)."""
    centred = x - x.mean(-2, keepdim=True)
    return centred.transpose(-1, -2) @ centred / (x.shape[-2] - 1)


def coral_loss(source_features: torch.Tensor, target_features: torch.Tensor) -> torch.Tensor:
    """‖C_S - C_T‖²_F / (4 d²) of source (..., m, d) and target (..., n, d) rows (module docstring); differentiable."""
    for name, x in (("source_features", source_features), ("target_features", target_features)):
        if not isinstance(x, torch.Tensor) or x.ndim < 2 or not x.is_floating_point():
            raise ValueError(f"{name}: expected a floating-point tensor of shape (..., rows, features), got "
                             f"{type(x).__name__} {tuple(getattr(x, 'shape', ()))}")
        if x.shape[-2] < 2:
            raise ValueError(f"{name}: expected at least 2 rows for a covariance, got {x.shape[-2]}")
    d = source_features.shape[-1]
    if target_features.shape[-1] != d:
        raise ValueError(f"target_features: expected feature dimension {d} (as source_features), got "
                         f"{target_features.shape[-1]}")
    diff = covariance(source_features) - covariance(target_features)
    return (diff * diff).sum((-2, -1)) / (4.0 * d * d)
