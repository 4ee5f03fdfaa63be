r"""Batched random rotation on the tensors' own device (METHOD.md §3: ±30°).

One ``grid_sample`` call rotates a whole batch about the image centre; each image
gets its own angle θ ~ U[-max_deg, max_deg] drawn from a ``torch.Generator`` (so a
seeded generator gives the same angles every run). Bilinear interpolation, zero
padding outside the image.

For an output pixel at centred coordinates (x, y) the input is read at
R(θ)(x, y) = (x cosθ - y sinθ, x sinθ + y cosθ); in grid_sample's normalised
coordinates (x / (W/2), y / (H/2)) that is the affine matrix::

    [[cosθ,          -sinθ · H/W, 0],
     [sinθ · W/H,     cosθ,       0]]

:func:`rotation_grid` gives the sampling grid ``F.affine_grid`` gives for that matrix, bit for bit
on the CPU (``tests/test_model.py``), from two outer sums: the grid's x is a function of the
column, its y of the row, so ``x·θ00 + y·θ01`` is one broadcast add of a (B, 1, W) and a
(B, H, 1) product. ``affine_grid`` multiplies a (B, H·W, 3) base grid by θᵀ in a batched matrix
product of inner size 3, which on this project's CPU took 0.49 ms of a 28 px training step's
~12 ms; the outer sums take 0.08 ms (61 maps of 28², one thread).

>>> import torch
>>> x = torch.zeros(1, 1, 5, 5); x[0, 0, 2, 4] = 1.0      # a dot right of the centre
>>> y = rotate_batch(x, angles_deg=torch.tensor([90.0]))
>>> [int(v) for v in (y[0, 0] > 0.5).nonzero()[0]]        # now above the centre (row 0)
[0, 2]
>>> bool(rotate_batch(x, angles_deg=torch.tensor([0.0])).allclose(x, atol=1e-6))
True
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["random_angles", "rotation_grid", "rotate_batch", "random_rotate"]


def random_angles(n: int, max_deg: float, generator: torch.Generator, device=None) -> torch.Tensor:
    """n angles (degrees) uniform in [-max_deg, max_deg], float32, on ``generator``'s device."""
    device = generator.device if device is None else device
    return (torch.rand(n, generator=generator, device=device) * 2.0 - 1.0) * float(max_deg)


def _base(n: int, like: torch.Tensor) -> torch.Tensor:
    """affine_grid's normalised pixel centres along a side of n pixels (align_corners=False), as it computes them."""
    return torch.linspace(-1, 1, n, dtype=like.dtype, device=like.device) * (n - 1) / n


def rotation_grid(cos: torch.Tensor, sin: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """The (B, h, w, 2) sampling grid of the module's rotation matrices (``cos``, ``sin``: (B,)), equal to
    ``F.affine_grid(theta, (B, C, h, w), align_corners=False)``.

    >>> c, s = torch.tensor([0.6]), torch.tensor([0.8])
    >>> theta = torch.stack([torch.stack([c, -s, 0 * c], 1), torch.stack([s, c, 0 * c], 1)], 1)
    >>> torch.equal(rotation_grid(c, s, 5, 5), F.affine_grid(theta, [1, 1, 5, 5], align_corners=False))
    True
    """
    xs, ys = _base(w, cos)[None, None, :], _base(h, cos)[None, :, None]
    rows = ((cos, -sin * (h / w)), (sin * (w / h), cos))  # theta's rows; its third column is 0
    grid = torch.empty(cos.shape[0], h, w, 2, dtype=cos.dtype, device=cos.device)
    for k, (a, b) in enumerate(rows):
        torch.add(xs * a[:, None, None], ys * b[:, None, None], out=grid[..., k])
    return grid


def rotate_batch(x: torch.Tensor, angles_deg: torch.Tensor) -> torch.Tensor:
    """Rotate each image of ``x`` (B, C, H, W) float by ``angles_deg`` (B,) about its centre."""
    if x.ndim != 4:
        raise ValueError(f"x: expected shape (B, C, H, W), got {tuple(x.shape)}")
    if angles_deg.shape != (x.shape[0],):
        raise ValueError(f"angles_deg: expected shape ({x.shape[0]},), got {tuple(angles_deg.shape)}")
    h, w = x.shape[-2:]
    rad = angles_deg.to(device=x.device, dtype=x.dtype) * (math.pi / 180.0)
    cos, sin = torch.cos(rad), torch.sin(rad)
    grid = rotation_grid(cos, sin, h, w)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def random_rotate(x: torch.Tensor, max_deg: float, generator: torch.Generator) -> torch.Tensor:
    """Rotate each image of ``x`` by its own angle in [-max_deg, max_deg]; ``max_deg=0`` returns x."""
    if max_deg == 0:
        return x
    return rotate_batch(x, random_angles(x.shape[0], max_deg, generator, device=x.device))
