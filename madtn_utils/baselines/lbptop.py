"""LBP-TOP: the spatiotemporal texture features of the baselines of Tables 3-4 (METHOD.md §6).

:func:`lbptop` turns one face clip into the benchmark's feature vector; :class:`LbpTopConfig`
holds every parameter that changes it. The definition, exactly (R = ``radius``, P = ``points``):

- **Planes.** The clip ``V[t, y, x]`` is read as three families of 2-d images: XY (each frame
  ``V[t]``: rows y, columns x), XT (each row slice ``V[:, y, :]``: rows t, columns x) and YT
  (each column slice ``V[:, :, x]``: rows t, columns y). The radius is R along every axis
  (R_X = R_Y = R_T = R).
- **Sampling** (scikit-image's ``local_binary_pattern``, reproduced bit for bit): neighbour
  p = 0..P-1 of the centre (r, c) of such an image lies at row ``r + round(-R sin(2πp/P), 5)``
  and column ``c + round(R cos(2πp/P), 5)`` (offsets rounded to 5 decimals), its value
  bilinearly interpolated from the four surrounding pixels, in float64:
  ``(1-dr)·((1-dc)·I[r0,c0] + dc·I[r0,c1]) + dr·((1-dc)·I[r1,c0] + dc·I[r1,c1])`` with
  ``r0, r1 = floor, ceil`` of the row and ``dr`` its fractional part (columns alike).
  Bit p is 1 when ``neighbour - centre >= 0``; the pattern is ``sum(bit_p << p)``.
- **Centres.** Only voxels whose three circles lie wholly inside the clip count:
  ``R <= t <= T-1-R``, ``R <= y <= H-1-R``, ``R <= x <= W-1-R``; the same voxels in all three planes.
- **Bins** (non-rotation-invariant uniform patterns, skimage's ``nri_uniform``; P(P-1)+3 = 59
  bins for P = 8): a pattern is uniform when its bits change at most twice around the circle.
  All zeros -> bin 0; all ones -> P(P-1)+1; k ones (0 < k < P) in one circular run starting at
  bit s -> ``1 + (k-1)·P + (P-s) mod P``; every non-uniform pattern -> P(P-1)+2.
- **Blocks.** For each grid n of ``grids`` the image is cut into n×n blocks with edges
  ``floor(i·H/n)`` along y and ``floor(j·W/n)`` along x (i, j = 0..n); a centre voxel counts in
  the block holding its (y, x), over all its frames t (blocks never split time).
- **Histograms and layout.** One histogram per (grid, block, plane), divided by its own sum
  (each sums to 1). Output: for each grid in order, for each block row-major (block row i,
  then column j), the three planes XY, XT, YT consecutive: float64 of length
  ``sum(n²)·3·bins`` = 85·3·59 = 15,045 for the defaults.

:func:`lbptop` takes the clip as it is; ``size`` and ``frames`` say what the clip must be, and
:func:`resample` / :mod:`~madtn_utils.baselines.features` make it so (face crop, resize, time).

**The clip: our choices, unverified.** The face crop resized to ``size`` = 112 and the clip resampled
to ``frames`` = 10 frames (:func:`resample`, linear in time) are this project's choices: the exact
extraction behind the published features (``../shared/real/zong-lbptop``, the benchmark's) is not
published, and without SMIC's frames here ours cannot be compared with them. What those files show
(the granularity of their histograms: every 1x1-block histogram is a multiple of 1/N with N = 88,440,
88,976 or 89,512 counted voxels, the 2x2 and 8x8 blocks' N all multiples of 4): 4 centre frames per
voxel column, i.e. 10 frames if their temporal radius is 3 like ours, over 134 x (165 to 167) centre
pixels, i.e. crops of about 140 x 171-173 pixels, not resized to a square; ours count 106 x 106 x 4 =
44,944 voxels. So the frame count may agree with theirs; the crop size does not.

>>> clip = np.random.default_rng(0).integers(0, 256, (10, 112, 112), dtype=np.uint8)
>>> f = lbptop(clip, LbpTopConfig())
>>> f.shape, f.dtype, round(float(f.sum()), 6)
((15045,), dtype('float64'), 255.0)
>>> _bins(8)[[0b00000000, 0b00000001, 0b00000010, 0b10000001, 0b11111111, 0b00000101]].tolist()
[0, 1, 8, 10, 57, 58]
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

__all__ = ["LbpTopConfig", "PLANES", "lbptop", "resample", "n_bins", "feature_dim"]

#: The three planes, in their order within a block.
PLANES = ("XY", "XT", "YT")
#: (row axis, column axis) of each plane in the clip's (t, y, x) axes.
_AXES = {"XY": (1, 2), "XT": (0, 2), "YT": (0, 1)}


@dataclass(frozen=True)
class LbpTopConfig:
    """Parameters of the LBP-TOP features (module docstring). Defaults: the benchmark's R3P8 over
    grids 1, 2, 4, 8 (METHOD.md §6), 15,045 dimensions."""

    radius: int = 3  # R along x, y and t (benchmark: R = 3)
    points: int = 8  # P neighbours on each circle (benchmark: P = 8 -> 59 uniform bins)
    grids: tuple[int, ...] = (1, 2, 4, 8)  # n of each n×n block grid (benchmark: 1, 2, 4, 8 -> 85 blocks)
    # side of the square face crop, resized with INTER_AREA before LBP-TOP. 112: the LBP-TOP R3P8 files of
    # Zong's group are named "CrossCorpus_LBPTOP_R3P8_<db>_112by112.mat" (github jiangxingxun/
    # Seeking_Salient_Facial_Region); the benchmark's text was not at hand
    size: int = 112
    # frames per clip: None = every frame onset->offset; an int = linear resampling in time to that many.
    # 10: our choice, unverified against the published features (see the module doc). One length for
    # 25, 100 and 200 fps, and needed: None needs T >= 2R+1 = 7, and SMIC-VIS/NIR clips at 25 fps can be
    # shorter (data.synth models them with 5-12 frames). 10 as the TIM10 of the SMIC baseline (Li et al.,
    # FG 2013; cited from memory, not checked)
    frames: int | None = 10

    def __post_init__(self):
        if not isinstance(self.radius, int) or self.radius < 1:
            raise ValueError(f"lbptop.radius: expected an integer >= 1, got {self.radius!r}")
        if not isinstance(self.points, int) or not 4 <= self.points <= 16:
            raise ValueError(f"lbptop.points: expected an integer in 4..16, got {self.points!r}")
        if not self.grids or any(not isinstance(n, int) or n < 1 for n in self.grids):
            raise ValueError(f"lbptop.grids: expected one or more integers >= 1, got {self.grids!r}")
        side = (self.radius + 1) * max(self.grids)
        if not isinstance(self.size, int) or self.size < side:
            raise ValueError(f"lbptop.size: expected at least (radius + 1) * max(grids) = {side} so that every "
                             f"block holds a centre pixel, got {self.size!r}")
        if self.frames is not None and (not isinstance(self.frames, int) or self.frames < 2 * self.radius + 1):
            raise ValueError(f"lbptop.frames: expected None or at least 2 * radius + 1 = {2 * self.radius + 1}, "
                             f"got {self.frames!r}")


def n_bins(points: int) -> int:
    """Histogram bins of the nri_uniform patterns of ``points`` neighbours: P(P-1)+3 (59 for P = 8)."""
    return points * (points - 1) + 3


def feature_dim(config: LbpTopConfig) -> int:
    """Length of :func:`lbptop`'s vector under ``config`` (15,045 for the defaults)."""
    return sum(n * n for n in config.grids) * len(PLANES) * n_bins(config.points)


@lru_cache(maxsize=None)
def _bins(points: int) -> np.ndarray:
    """Bin (0..P(P-1)+2) of every P-bit pattern, as in the module docstring (int64, (2**P,))."""
    table = np.empty(2 ** points, np.int64)
    for code in range(2 ** points):
        bits = [(code >> p) & 1 for p in range(points)]
        ones = sum(bits)
        changes = sum(bits[p] != bits[(p + 1) % points] for p in range(points))
        if ones == 0:
            table[code] = 0
        elif ones == points:
            table[code] = points * (points - 1) + 1
        elif changes == 2:
            start = next(p for p in range(points) if bits[p] and not bits[p - 1])  # the run's first one
            table[code] = 1 + (ones - 1) * points + (points - start) % points
        else:
            table[code] = points * (points - 1) + 2
    return table


def _axis_terms(lo: int, hi: int, offset: float, ndim_axis: int):
    """``(floor shift, ceil shift, fraction)`` of positions ``lo..hi-1 + offset`` along one axis."""
    pos = np.arange(lo, hi, dtype=np.float64) + offset  # as skimage: r + rp[i] in double
    low = np.floor(pos)
    frac = pos - low
    shape = [1, 1, 1]
    shape[ndim_axis] = -1
    return int(low[0]) - lo, int(np.ceil(pos[0])) - lo, frac.reshape(shape)


def _neighbour(vol: np.ndarray, box, rax: int, cax: int, dr: float, dc: float) -> np.ndarray:
    """Interpolated value of one circle point for every centre of ``box`` (module docstring)."""

    def view(kr: int, kc: int) -> np.ndarray:
        sl = [slice(lo, hi) for lo, hi in box]
        sl[rax] = slice(box[rax][0] + kr, box[rax][1] + kr)
        sl[cax] = slice(box[cax][0] + kc, box[cax][1] + kc)
        return vol[tuple(sl)]

    r0, r1, fr = _axis_terms(*box[rax], dr, rax)
    c0, c1, fc = _axis_terms(*box[cax], dc, cax)

    def row(kr: int) -> np.ndarray:  # (1-dc)·I[kr, c0] + dc·I[kr, c1], in place: the same IEEE operations
        if not fc.any():  # an integer offset has fraction 0: (1-0)·a + 0·b == a exactly
            return view(kr, c0)
        out = np.multiply(1 - fc, view(kr, c0))
        out += fc * view(kr, c1)
        return out

    if not fr.any():
        return row(r0)
    owned = bool(fc.any())  # row() returned new arrays, else views of vol (never written to)
    top, bottom = row(r0), row(r1)
    top = np.multiply(top, 1 - fr, out=top if owned else None)
    top += np.multiply(bottom, fr, out=bottom if owned else None)
    return top


def _codes(vol: np.ndarray, box, plane: str, config: LbpTopConfig) -> np.ndarray:
    """Bin of every centre voxel of ``box`` in ``plane`` (int64, the box's shape)."""
    rax, cax = _AXES[plane]
    p = np.arange(config.points, dtype=np.float64)
    rp = np.round(-config.radius * np.sin(2 * np.pi * p / config.points), 5)
    cp = np.round(config.radius * np.cos(2 * np.pi * p / config.points), 5)
    centre = vol[tuple(slice(lo, hi) for lo, hi in box)]
    pattern = np.zeros(centre.shape, np.int32)
    for i in range(config.points):
        bit = np.greater_equal(_neighbour(vol, box, rax, cax, rp[i], cp[i]) - centre, 0)  # as skimage: a - c >= 0
        pattern |= bit.astype(np.int32) << i
    return _bins(config.points)[pattern]


def lbptop(clip: np.ndarray, config: LbpTopConfig = LbpTopConfig()) -> np.ndarray:
    """LBP-TOP of one gray clip, uint8 (T, size, size) with T = ``config.frames`` (any T >= 2R+1 when
    None): float64 (:func:`feature_dim`,) as in the module docstring."""
    clip = np.asarray(clip)
    r, s = config.radius, config.size
    if clip.dtype != np.uint8 or clip.ndim != 3:
        raise ValueError(f"clip: expected a uint8 gray clip (T, H, W), got {clip.dtype} of shape {clip.shape}")
    frames = f"{config.frames}" if config.frames is not None else f"T >= 2 * radius + 1 = {2 * r + 1}"
    if clip.shape[1:] != (s, s) or (len(clip) != config.frames if config.frames else len(clip) < 2 * r + 1):
        raise ValueError(f"clip: expected ({frames}, {s}, {s}) frames of lbptop.size {s}, got shape {clip.shape}")
    vol = clip.astype(np.float64)
    box = [(r, n - r) for n in vol.shape]  # centres whose circles lie inside the clip, per axis
    ys, xs = np.arange(r, s - r), np.arange(r, s - r)
    nb = n_bins(config.points)
    per_plane = []
    for plane in PLANES:
        codes = _codes(vol, box, plane, config)  # (Tc, Yc, Xc)
        hists = []
        for n in config.grids:
            edges = (np.arange(n + 1) * s) // n
            by = np.searchsorted(edges, ys, side="right") - 1
            bx = np.searchsorted(edges, xs, side="right") - 1
            block = (by[:, None] * n + bx[None, :])[None]  # (1, Yc, Xc), row-major block index
            counts = np.bincount((block * nb + codes).ravel(), minlength=n * n * nb).reshape(n * n, nb)
            hists.append(counts)
        per_plane.append(np.concatenate(hists))  # (sum n², bins)
    out = np.stack(per_plane, axis=1).astype(np.float64)  # (blocks, planes, bins)
    out /= out.sum(axis=2, keepdims=True)
    return out.ravel()


def resample(clip: np.ndarray, frames: int | None) -> np.ndarray:
    """``clip`` (T, H, W) uint8 at ``frames`` frames by linear interpolation in time (frame j at
    position j·(T-1)/(frames-1), rounded to uint8); unchanged when ``frames`` is None or T.

    >>> resample(np.array([[[0]], [[10]]], np.uint8), 5)[:, 0, 0].tolist()
    [0, 2, 5, 8, 10]
    """
    clip = np.asarray(clip)
    if clip.ndim != 3 or len(clip) == 0:
        raise ValueError(f"clip: expected a clip of shape (T, H, W) with T >= 1, got shape {clip.shape}")
    if frames is None or frames == len(clip):
        return clip
    pos = np.linspace(0.0, len(clip) - 1, frames)
    i0 = np.floor(pos).astype(np.int64)
    i1 = np.minimum(i0 + 1, len(clip) - 1)
    w = (pos - i0)[:, None, None]
    out = (1 - w) * clip[i0].astype(np.float64) + w * clip[i1].astype(np.float64)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)
