r"""R MADTN networks as one stacked network, and the training objective of all R at once.

:class:`StackedNet` holds the parameters of R :class:`~madtn_utils.train.model.MADTNNet`
of one architecture stacked along a new first dimension (run r's are ``param[r]``). Its
forward takes one input batch per run, ``x`` (R, B, C, S, S), and runs every layer once for
all runs: each convolution is one grouped convolution (``groups=R``; the R inputs side by
side as R·C channels), each fully connected layer one batched matrix product
(``torch.baddbmm``). A run's features and logits are what its own network gives on its own
batch, up to float rounding: the grouped convolution may sum in another order than the
plain one (on this CPU, the first convolution, 3 input channels, differs by ~1e-7 relative;
the fully connected layers are bit-identical). Dropout takes explicit masks, one per run
(:func:`~madtn_utils.train.streams.dropout_mask`).

:func:`stacked_objective` is :func:`~madtn_utils.train.observe.objective` for R runs at
once: ``L_r = CE_r + sign_r · λ_r · MMD²_r`` with one log row per run (same columns); under
``alignment: coral`` or ``jmmd`` the CORAL loss or the JMMD² takes the MMD²'s place (the MMD² is then
only observed). The runs of one stack share the kernel settings (``sigmas``, ``kernel_reduce``,
``mmd_kernel``, ``mmd_features``) and the alignment; λ and the sign (``control: flip_mmd``) are per
run. ``alignment: dann`` is not stacked (:func:`~madtn_utils.train.stacked.resolve_stacking`).

>>> from madtn_utils.train.model import MADTNNet
>>> nets = [MADTNNet(input_size=16, widths=(4, 4, 4), fc_dim=8) for _ in range(3)]
>>> stacked = StackedNet(nets)
>>> x = torch.randn(3, 5, 3, 16, 16)
>>> feats, logits = stacked(x)
>>> tuple(feats.shape), tuple(logits.shape)
((3, 5, 8), (3, 5, 3))
>>> all(torch.allclose(logits[r], nets[r].eval()(x[r])[1], atol=1e-6) for r in range(3))
True
>>> stacked.unstack_into(nets)  # the stacked parameters copied back into the R networks
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from madtn_utils.train.coral import coral_loss
from madtn_utils.train.hparams import TrainConfig
from madtn_utils.train.jmmd import jmmd2_from_terms
from madtn_utils.train.mmd import MEDIAN_EXPONENTS, _MIN_SIGMA2

__all__ = ["StackedNet", "stacked_objective"]


class StackedNet(nn.Module):
    """The networks ``nets`` (one architecture, :class:`MADTNNet`) as one module (module docstring).

    ``channels_last``: run the convolutions on channels-last tensors (a layout only).
    """

    def __init__(self, nets, *, channels_last: bool = False):
        super().__init__()
        nets = list(nets)
        if not nets:
            raise ValueError("nets: expected at least one network, got none")
        first = nets[0]
        shapes = [tuple((k, tuple(v.shape)) for k, v in n.state_dict().items()) for n in nets]
        if any(s != shapes[0] for s in shapes) or any(n.mmd_layer != first.mmd_layer for n in nets):
            raise ValueError("nets: expected networks of one architecture (shapes and mmd_layer)")
        self.runs, self.mmd_layer, self.in_channels = len(nets), first.mmd_layer, first.in_channels
        self.input_size, self.channels_last = first.input_size, channels_last
        convs = [m for m in first.features if isinstance(m, nn.Conv2d)]
        self.paddings = [c.padding for c in convs]
        self.slopes = [m.negative_slope for m in first.features if isinstance(m, nn.LeakyReLU)]
        self.fc_slope = first.act.negative_slope
        self.names = [k for k, _ in first.named_parameters()]
        stacked = {k: torch.stack([dict(n.named_parameters())[k].detach() for n in nets]).clone() for k in self.names}
        self.params = nn.ParameterList([nn.Parameter(stacked[k]) for k in self.names])

    def _p(self, name: str) -> torch.Tensor:
        return self.params[self.names.index(name)]

    def forward(self, x: torch.Tensor, drop_mask: torch.Tensor | None = None):
        """x (R, B, C, S, S) float, drop_mask (R, B, fc_dim) or None -> (features (R, B, D), logits (R, B, 3))."""
        R, B = x.shape[:2]
        if x.ndim != 5 or R != self.runs or x.shape[2] != self.in_channels or x.shape[3:] != (self.input_size,) * 2:
            raise ValueError(f"x: expected shape ({self.runs}, B, {self.in_channels}, {self.input_size}, "
                             f"{self.input_size}), got {tuple(x.shape)}")
        h = x.transpose(0, 1).reshape(B, R * x.shape[2], *x.shape[3:])
        if self.channels_last:
            h = h.contiguous(memory_format=torch.channels_last)
        convs = [n.rsplit(".", 1)[0] for n in self.names if n.startswith("features.") and n.endswith(".weight")]
        for name, pad, slope in zip(convs, self.paddings, self.slopes):
            w, b = self._p(f"{name}.weight"), self._p(f"{name}.bias")
            h = F.conv2d(h, w.reshape(-1, *w.shape[2:]), b.reshape(-1), padding=pad, groups=R)
            h = F.leaky_relu(F.max_pool2d(h, 2), slope)
        conv3 = h.reshape(B, R, -1).transpose(0, 1)  # (R, B, C3·s·s), each run's flatten order
        fc1 = F.leaky_relu(torch.baddbmm(self._p("fc1.bias")[:, None], conv3, self._p("fc1.weight").transpose(1, 2)),
                           self.fc_slope)
        dropped = fc1 if drop_mask is None else fc1 * drop_mask
        logits = torch.baddbmm(self._p("fc2.bias")[:, None], dropped, self._p("fc2.weight").transpose(1, 2))
        return (fc1 if self.mmd_layer == "fc1" else conv3), logits

    @torch.no_grad()
    def unstack_into(self, nets) -> None:
        """Copy run r's parameters into ``nets[r]`` (for evaluation with the single-run code)."""
        for r, net in enumerate(nets):
            own = dict(net.named_parameters())
            for k in self.names:
                own[k].copy_(self._p(k)[r])


def _sigma2(d2: torch.Tensor, config: TrainConfig) -> torch.Tensor:
    """σ² (R, K) of every run's kernel; the median kernel's med over the pairs i < j of each run."""
    R, n = d2.shape[:2]
    if config.mmd_kernel == "fixed":
        return torch.tensor([float(s) ** 2 for s in config.sigmas], dtype=d2.dtype, device=d2.device).expand(R, -1)
    i, j = torch.triu_indices(n, n, 1, device=d2.device)
    med = d2.detach()[:, i, j].median(dim=1).values.clamp_min(_MIN_SIGMA2)
    return med[:, None] * torch.tensor([2.0 ** k for k in MEDIAN_EXPONENTS], dtype=d2.dtype, device=d2.device)


def stacked_objective(feats: torch.Tensor, logits: torch.Tensor, ys: torch.Tensor, signed_lam: torch.Tensor,
                      config: TrainConfig):
    """(per-run losses (R,), detached log (R, 3 + 1 + K)) of feats (R, N, D), logits (R, N, 3), source
    labels ys (R, m) (the first m rows of each run are its source rows) and ``signed_lam`` (R,) = sign · λ.

    >>> from madtn_utils.train.observe import objective
    >>> g = torch.Generator().manual_seed(0)
    >>> f, l, y = torch.randn(2, 6, 4, generator=g), torch.randn(2, 6, 3, generator=g), torch.tensor([[0, 1, 2]] * 2)
    >>> loss, log = stacked_objective(f, l, y, torch.tensor([2.0, 0.5]), TrainConfig())
    >>> one, one_log = objective(f[1], l[1], y[1], TrainConfig(lam=0.5))
    >>> bool(torch.allclose(loss[1], one)), bool(torch.allclose(log[1], one_log))
    (True, True)
    """
    if config.alignment not in ("mmd", "coral", "jmmd"):
        raise ValueError(f"params.train.alignment: expected 'mmd', 'coral' or 'jmmd' in a stacked network (dann trains "
                         f"one run after another), got {config.alignment!r}")
    R, m = ys.shape
    n = feats.shape[1] - m
    ce = F.cross_entropy(logits[:, :m].reshape(R * m, -1), ys.reshape(-1), reduction="none").view(R, m).mean(1)
    seen = feats if config.alignment in ("mmd", "jmmd") else feats.detach()  # coral: the MMD² only observed
    x = F.normalize(seen, dim=2, eps=1e-12) if config.mmd_features == "l2" else seen
    sq = (x * x).sum(2)
    d2 = (sq[:, :, None] + sq[:, None, :] - 2.0 * torch.bmm(x, x.transpose(1, 2))).clamp_min(0.0)
    sigma2 = _sigma2(d2, config)
    kernels = torch.exp(d2[:, None] * (-0.5 / sigma2)[:, :, None, None])  # (R, K, N, N)
    k = kernels.mean(1) if config.kernel_reduce == "mean" else kernels.sum(1)
    kss, ktt, kst = k[:, :m, :m], k[:, m:, m:], k[:, :m, m:]
    within_s = (kss.sum((1, 2)) - kss.diagonal(dim1=1, dim2=2).sum(1)) / (m * (m - 1))
    within_t = (ktt.sum((1, 2)) - ktt.diagonal(dim1=1, dim2=2).sum(1)) / (n * (n - 1))
    mmd2 = within_s + within_t - 2.0 * kst.sum((1, 2)) / (m * n)
    if config.alignment == "mmd":
        align, extra = mmd2, []
    elif config.alignment == "coral":
        align = coral_loss(feats[:, :m], feats[:, m:])
        extra = [align]
    else:
        align = jmmd2_from_terms(kernels, torch.softmax(logits, 2), m, config.kernel_reduce)
        extra = [align]
    loss = ce + signed_lam * align
    with torch.no_grad():
        N = m + n
        i, j = torch.triu_indices(N, N, 1, device=d2.device)
        med = d2.detach()[:, i, j].median(dim=1).values
        kd = kernels.detach()
        off = (kd.sum((2, 3)) - kd.diagonal(dim1=2, dim2=3).sum(2)) / (N * (N - 1))
        log = torch.cat([torch.stack([ce, mmd2, loss, *extra], 1).detach(), med[:, None], off], 1)
    return loss, log
