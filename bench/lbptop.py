"""LBP-TOP throughput: our vectorised numpy features against a straightforward scikit-image reference.

    .venv/bin/python bench/lbptop.py [--clips 64 --frames 10 --size 112]   (--frames 0: every frame, --length T)

Both compute the features of :func:`madtn_utils.baselines.lbptop.lbptop` in this process, on the
same synthetic uint8 clips of the shape the features pipeline feeds it (``frames``×``size``×``size``,
the paper's 112×112 face crops at the default 10 frames):

- ours: :func:`~madtn_utils.baselines.lbptop.lbptop` (shifted views, bilinear weights per row and
  column, a 256-entry bin table, one ``bincount`` per grid and plane);
- reference: ``skimage.feature.local_binary_pattern(..., "nri_uniform")`` on every frame (XY), every
  row slice (XT) and every column slice (YT), then a loop over the blocks with one histogram each.

Every clip's two vectors must be identical (``np.array_equal``, no tolerance: the same float64
operations). The two run alternately clip by clip, so a change in machine load affects both
alike. Prints clips/s of both, the ratio, and ``uptime`` (the load the numbers were taken under).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

# runnable from a plain copy of the tree (no editable install): the package sits beside bench/
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from madtn_utils.baselines.lbptop import LbpTopConfig, lbptop, n_bins  # noqa: E402


def reference(clip: np.ndarray, config: LbpTopConfig) -> np.ndarray:
    """LBP-TOP by the letter: skimage's codes per frame and per slice, block histograms by loops."""
    from skimage.feature import local_binary_pattern

    P, R = config.points, config.radius
    T, H, W = clip.shape
    planes = (np.stack([local_binary_pattern(clip[t], P, R, "nri_uniform") for t in range(T)]),
              np.stack([local_binary_pattern(clip[:, y, :], P, R, "nri_uniform") for y in range(H)], axis=1),
              np.stack([local_binary_pattern(clip[:, :, x], P, R, "nri_uniform") for x in range(W)], axis=2))
    out = []
    for n in config.grids:
        for i in range(n):
            for j in range(n):
                y0, y1 = max(i * H // n, R), min((i + 1) * H // n, H - R)
                x0, x1 = max(j * W // n, R), min((j + 1) * W // n, W - R)
                for codes in planes:
                    hist = np.bincount(codes[R:T - R, y0:y1, x0:x1].astype(np.int64).ravel(), minlength=n_bins(P))
                    out.append(hist / hist.sum())
    return np.concatenate(out)


def synthetic_clips(n: int, frames: int, size: int, seed: int = 0) -> list[np.ndarray]:
    """``n`` face-like uint8 clips: a smooth random texture, a slow drift and a little noise per frame."""
    import cv2

    rng = np.random.default_rng(seed)
    clips = []
    for _ in range(n):
        base = cv2.GaussianBlur(rng.random((size + 8, size + 8)) * 255, (0, 0), 2.0)
        shifts = np.linspace(0, 4, frames)
        clip = [base[int(s):int(s) + size, 2:2 + size] + rng.normal(0, 2, (size, size)) for s in shifts]
        clips.append(np.clip(np.rint(clip), 0, 255).astype(np.uint8))
    return clips


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--clips", type=int, default=64)
    p.add_argument("--frames", type=int, default=LbpTopConfig().frames, help="frames per clip; 0 = None (every frame)")
    p.add_argument("--length", type=int, default=60, help="clip length when --frames 0")
    p.add_argument("--size", type=int, default=LbpTopConfig().size)
    p.add_argument("--warmup", type=int, default=2)
    args = p.parse_args(argv)
    config = LbpTopConfig(size=args.size, frames=args.frames or None)
    clips = synthetic_clips(args.clips + args.warmup, args.frames or args.length, args.size)
    for clip in clips[: args.warmup]:  # untimed: imports, the bin table, allocator warm-up
        lbptop(clip, config), reference(clip, config)
    spent = {"ours": 0.0, "reference": 0.0}
    for k, clip in enumerate(clips[args.warmup:]):
        order = ("ours", "reference") if k % 2 == 0 else ("reference", "ours")
        got = {}
        for name in order:
            start = time.perf_counter()
            got[name] = lbptop(clip, config) if name == "ours" else reference(clip, config)
            spent[name] += time.perf_counter() - start
        assert np.array_equal(got["ours"], got["reference"]), f"clip {k}: features differ from the reference"
    rate = {name: args.clips / s for name, s in spent.items()}
    print(f"clips: {args.clips} of shape {clips[0].shape}, {len(got['ours'])} dims; features identical "
          f"(np.array_equal) on every clip")
    print(f"ours      {rate['ours']:9.2f} clips/s")
    print(f"reference {rate['reference']:9.2f} clips/s (skimage local_binary_pattern per frame and slice)")
    print(f"ratio     {rate['ours'] / rate['reference']:9.2f}x")
    try:
        print("uptime:", subprocess.run(["uptime"], capture_output=True, text=True, check=True).stdout.strip())
    except (OSError, subprocess.CalledProcessError) as exc:  # no uptime binary: say so, with the load average
        load = os.getloadavg() if hasattr(os, "getloadavg") else "unknown"
        print(f"uptime: unavailable ({exc}); load average {load}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
