"""The MADTN network: a shallow five-layer CNN (METHOD.md §3, paper Sec. 2.3).

Three convolution blocks, each ``conv -> max-pool(2) -> LeakyReLU``, then two fully
connected layers: ``fc1 -> LeakyReLU`` (the default MMD layer) and ``fc2`` (3 logits).
The paper gives neither channel widths nor kernel sizes nor the FC width; every
default below is "paper: not specified; default chosen here".

Shapes (defaults, input 112x112): (B, 3, 112, 112) -> conv1 5x5 -> (B, 32, 56, 56)
-> conv2 3x3 -> (B, 64, 28, 28) -> conv3 3x3 -> (B, 128, 14, 14) -> flatten (B, 25088)
-> fc1 (B, 256) -> fc2 (B, 3).

>>> import torch
>>> net = MADTNNet(input_size=32)
>>> feats, logits = net(torch.zeros(2, 3, 32, 32))
>>> tuple(feats.shape), tuple(logits.shape)
((2, 256), (2, 3))
>>> tuple(MADTNNet(input_size=32, mmd_layer="conv3")(torch.zeros(2, 3, 32, 32))[0].shape)
(2, 2048)
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["MADTNNet", "MMD_LAYERS"]

#: Layers whose output :meth:`MADTNNet.forward` can return as the MMD features.
MMD_LAYERS = ("fc1", "conv3")


class MADTNNet(nn.Module):
    """Shallow CNN of MADTN; ``forward(x) -> (features, logits)``.

    All arguments are keyword-only. Defaults: paper: not specified; default chosen here.

    in_channels: input channels (3: onOF, face, endOF gray maps).
    widths: output channels of the three convolutions, (32, 64, 128).
    kernel_sizes: their kernel sizes, (5, 3, 3); "same" padding (k // 2), stride 1.
    fc_dim: width of the first fully connected layer, 256.
    n_classes: logits, 3 (positive, negative, surprise).
    input_size: square input side, 112; each block halves it (floor), so it must be >= 8.
    negative_slope: LeakyReLU slope, 0.01 (PyTorch's default).
    dropout: dropout probability between fc1's activation and fc2, 0.5 (the MMD
        features are taken before it, so they are unaffected).
    mmd_layer: which activation ``forward`` returns as features: ``"fc1"`` (default,
        METHOD.md §3) or ``"conv3"`` (the third block's output, flattened).
    """

    def __init__(
        self,
        *,
        in_channels: int = 3,
        widths: tuple[int, ...] = (32, 64, 128),
        kernel_sizes: tuple[int, ...] = (5, 3, 3),
        fc_dim: int = 256,
        n_classes: int = 3,
        input_size: int = 112,
        negative_slope: float = 0.01,
        dropout: float = 0.5,
        mmd_layer: str = "fc1",
    ):
        super().__init__()
        widths, kernel_sizes = tuple(widths), tuple(kernel_sizes)
        if len(widths) != 3 or len(kernel_sizes) != 3:
            raise ValueError(f"widths, kernel_sizes: expected 3 values each, got {len(widths)} and {len(kernel_sizes)}")
        if min(widths) < 1 or min(kernel_sizes) < 1 or min(in_channels, fc_dim, n_classes) < 1:
            raise ValueError("in_channels, widths, kernel_sizes, fc_dim, n_classes: expected positive integers")
        if input_size < 8:
            raise ValueError(f"input_size: expected >= 8 (three 2x poolings), got {input_size}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout: expected a probability in [0, 1), got {dropout}")
        if mmd_layer not in MMD_LAYERS:
            raise ValueError(f"mmd_layer: expected one of {', '.join(MMD_LAYERS)}, got {mmd_layer!r}")
        self.in_channels, self.input_size, self.mmd_layer = in_channels, input_size, mmd_layer
        blocks, c_in, side = [], in_channels, input_size
        for c_out, k in zip(widths, kernel_sizes):
            blocks += [nn.Conv2d(c_in, c_out, k, padding=k // 2), nn.MaxPool2d(2), nn.LeakyReLU(negative_slope)]
            c_in, side = c_out, side // 2
        self.features = nn.Sequential(*blocks)
        self.flat_dim = c_in * side * side
        self.fc1 = nn.Linear(self.flat_dim, fc_dim)
        self.act = nn.LeakyReLU(negative_slope)
        self.drop = nn.Dropout(dropout)
        self.fc2 = nn.Linear(fc_dim, n_classes)

    def forward(self, x: torch.Tensor, drop_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, in_channels, input_size, input_size) float -> (features (B, D), logits (B, n_classes)).

        ``drop_mask`` (B, fc_dim): an explicit inverted-dropout mask applied instead of the dropout
        layer (training draws it from the run's own generator, :mod:`madtn_utils.train.streams`)."""
        if x.ndim != 4 or x.shape[1] != self.in_channels or x.shape[2] != self.input_size or x.shape[3] != self.input_size:
            raise ValueError(
                f"x: expected shape (B, {self.in_channels}, {self.input_size}, {self.input_size}), got {tuple(x.shape)}"
            )
        conv3 = self.features(x).flatten(1)
        fc1 = self.act(self.fc1(conv3))
        logits = self.fc2(self.drop(fc1) if drop_mask is None else fc1 * drop_mask)
        return (fc1 if self.mmd_layer == "fc1" else conv3), logits
