r"""Batched random rotation on the tensors' own device (METHOD.md §3: ±30°).

One ``affine_grid`` + ``grid_sample`` call rotates a whole batch about the image
centre; each image gets its own angle θ ~ U[-max_deg, max_deg] drawn from a
``torch.Generator`` (so a seeded generator gives the same angles every run).
Bilinear interpolation, zero padding outside the image.

For an output pixel at centred coordinates (x, y) the input is read at
R(θ)(x, y) = (x cosθ - y sinθ, x sinθ + y cosθ); in grid_sample's normalised
coordinates (x / (W/2), y / (H/2)) that is the affine matrix::

    [[cosθ,          -sinθ · H/W, 0],
     [sinθ · W/H,     cosθ,       0]]

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

__all__ = ["random_angles", "rotate_batch", "random_rotate"]


def random_angles(n: int, max_deg: float, generator: torch.Generator, device=None) -> torch.Tensor:
    """n angles (degrees) uniform in [-max_deg, max_deg], float32, on ``generator``'s device."""
    device = generator.device if device is None else device
    return (torch.rand(n, generator=generator, device=device) * 2.0 - 1.0) * float(max_deg)


def rotate_batch(x: torch.Tensor, angles_deg: torch.Tensor) -> torch.Tensor:
    """Rotate each image of ``x`` (B, C, H, W) float by ``angles_deg`` (B,) about its centre."""
    if x.ndim != 4:
        raise ValueError(f"x: expected shape (B, C, H, W), got {tuple(x.shape)}")
    if angles_deg.shape != (x.shape[0],):
        raise ValueError(f"angles_deg: expected shape ({x.shape[0]},), got {tuple(angles_deg.shape)}")
    h, w = x.shape[-2:]
    rad = angles_deg.to(device=x.device, dtype=x.dtype) * (math.pi / 180.0)
    cos, sin = torch.cos(rad), torch.sin(rad)
    zero = torch.zeros_like(cos)
    theta = torch.stack(
        [torch.stack([cos, -sin * (h / w), zero], 1), torch.stack([sin * (w / h), cos, zero], 1)], 1
    )
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def random_rotate(x: torch.Tensor, max_deg: float, generator: torch.Generator) -> torch.Tensor:
    """Rotate each image of ``x`` by its own angle in [-max_deg, max_deg]; ``max_deg=0`` returns x."""
    if max_deg == 0:
        return x
    return rotate_batch(x, random_angles(x.shape[0], max_deg, generator, device=x.device))
