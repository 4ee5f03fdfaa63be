r"""Domain-adversarial training: a domain classifier behind a gradient-reversal layer (``train.alignment: dann``).

Source: Y. Ganin, E. Ustinova, H. Ajakan, P. Germain, H. Larochelle, F. Laviolette, M. Marchand,
V. Lempitsky, "Domain-Adversarial Training of Neural Networks", JMLR 17(59), 2016, Sec. 5
(Eq. (18)-(19); the gradient-reversal layer, Eq. (20)-(21); the schedule, Sec. 5.2.2).

A domain classifier d (:class:`DomainClassifier`) reads the features f of the alignment layer
(``train.mmd_layer``) of the pooled batch (m source rows with domain label 0, then n target rows
with label 1) through the gradient-reversal layer R_w (:func:`grad_reverse`: the identity forward,
the gradient times -w backward). Training minimises, over the network and d together::

    L = CE(source logits, y) + λ · L_d        L_d = BCE(d(R_w(f)), domain labels)   (mean over the m + n rows)

so d learns to tell the domains apart (it gets λ·∂L_d/∂d) while the network's features get
-w·λ·∂L_d/∂f: they move to confuse it. The reversal weight follows the paper's schedule

    w(p) = 2 / (1 + exp(-10 p)) - 1,        p = step / (epochs · steps per epoch) ∈ [0, 1)

(:func:`reversal_weight`: 0 at the first step, 0.46 at p = 0.1, 0.76 at p = 0.2, 0.9999 at the end), so the
adversarial signal is off while the classifier is still noise. ``control: flip_mmd`` ("alignment sign
flipped") negates w: the features then *help* d, pushing the domains apart.

Choices (paper's where it has one): d is the small-image domain classifier of the paper (Sec. 5.2.1,
MNIST/SVHN: one hidden layer) with :data:`HIDDEN` = 100 ReLU units and one logit; it trains with
the network's Adam and learning rate (the paper's SGD with annealed learning rate is not used: the
whole project trains with Adam 2e-4, METHOD.md §3); it is initialised from the run's own ``domain``
random stream (:mod:`madtn_utils.train.streams`), so the network's initialisation is the same as
under the other alignments. The history logs ``align`` = L_d, ``grl_weight`` = the signed w and ``domain_acc`` = d's accuracy on the batch.

>>> import torch
>>> round(reversal_weight(0.0), 6), round(reversal_weight(0.2), 4), round(reversal_weight(1.0), 4)
(0.0, 0.7616, 0.9999)
>>> x = torch.ones(2, 3, requires_grad=True)
>>> (grad_reverse(x, 0.5) * 4.0).sum().backward()
>>> x.grad[0].tolist()  # -0.5 · 4
[-2.0, -2.0, -2.0]
>>> loss, acc = domain_loss(DomainClassifier(3), torch.randn(5, 3), 2, 1.0)
>>> tuple(loss.shape), 0.0 <= float(acc) <= 1.0
((), True)
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["HIDDEN", "reversal_weight", "GradientReversal", "grad_reverse", "DomainClassifier", "domain_loss"]

#: Hidden ReLU units of the domain classifier (Ganin et al. 2016, Sec. 5.2.1: the small-image architectures).
HIDDEN = 100


def reversal_weight(progress: float) -> float:
    """w(p) = 2 / (1 + exp(-10 p)) - 1 for the training progress p ∈ [0, 1] (Ganin et al. 2016, Sec. 5.2.2)."""
    if not 0.0 <= progress <= 1.0:
        raise ValueError(f"progress: expected the training progress in [0, 1], got {progress!r}")
    return 2.0 / (1.0 + math.exp(-10.0 * progress)) - 1.0


class GradientReversal(torch.autograd.Function):
    """R_w: forward the identity, backward the incoming gradient times -w (Ganin et al. 2016, Eq. (20)-(21))."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: float) -> torch.Tensor:
        ctx.weight = float(weight)
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return grad * (-ctx.weight), None


def grad_reverse(x: torch.Tensor, weight: float) -> torch.Tensor:
    """``x`` forward; in the backward pass its gradient becomes -``weight`` times the incoming one."""
    return GradientReversal.apply(x, weight)


class DomainClassifier(nn.Module):
    """d: features (B, D) -> one domain logit (B,) (source 0, target 1): Linear(D, 100), ReLU, Linear(100, 1)."""

    def __init__(self, in_dim: int, hidden: int = HIDDEN):
        super().__init__()
        if in_dim < 1 or hidden < 1:
            raise ValueError(f"in_dim, hidden: expected positive integers, got {in_dim} and {hidden}")
        self.net = nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(-1)


def domain_loss(classifier: DomainClassifier, feats: torch.Tensor, m: int, weight: float):
    """(L_d (0-d, differentiable), domain accuracy (0-d, detached)) of the pooled ``feats`` (N, D), the first
    ``m`` rows source, through the gradient-reversal layer of weight ``weight`` (module docstring)."""
    n = feats.shape[0] - m
    if m < 1 or n < 1:
        raise ValueError(f"rows: expected source and target rows, got {m} and {n}")
    logits = classifier(grad_reverse(feats, weight))
    labels = torch.cat([torch.zeros(m, device=feats.device), torch.ones(n, device=feats.device)]).to(logits.dtype)
    loss = F.binary_cross_entropy_with_logits(logits, labels)
    with torch.no_grad():
        acc = ((logits > 0).to(labels.dtype) == labels).to(logits.dtype).mean()
    return loss, acc
