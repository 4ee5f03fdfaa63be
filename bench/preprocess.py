"""Preprocessing throughput: our pipeline beside a naive reference, same data, same process.

    python bench/preprocess.py [--size paper] [--limit 24] [--methods farneback,tvl1,dis] [--jobs 0]

For each flow method, on the first ``--limit`` samples of each synthetic database
(``--limit 0``: all of them):

- ours: :func:`madtn_utils.preprocess.cache.prepare_database` with a fresh cache folder
  (a cold run: parallel over samples, only onset/apex/offset frames decoded);
- naive: one process, every frame of the clip read one at a time, converted and
  cropped, then the same maps computed (what a straightforward script does).

Prints samples/s and flows/s for both and the ratio ours / naive, and checks that
both give identical maps.
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
import warnings
from pathlib import Path

import cv2
import numpy as np


import sys

# runnable from a plain copy of the tree (no editable install): the package sits beside bench/
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from madtn_utils.preprocess.detect import centre_box, expand_box, make_detector
from madtn_utils.preprocess.flow import FlowParams, make_flow
from madtn_utils.data.types import IndexWarning
from madtn_utils.data.index import build_index
from madtn_utils.preprocess.maps import choose_apexes, motion_map
from madtn_utils.preprocess.cache import PrepareWarning, prepare_database
from madtn_utils.preprocess.sample import PreprocessConfig
from madtn_utils.data.synth import synthetic_roots
from madtn_utils.data.synth_write import write_synthetic


def naive(index, config: PreprocessConfig) -> np.ndarray:
    """One process, every frame read and processed one at a time; returns the stacked train maps."""
    detect = make_detector("haar", scale_factor=config.haar_scale_factor, min_neighbors=config.haar_min_neighbors,
                           min_size=config.haar_min_size)
    flow = make_flow(config.flow)
    out = []
    for frames in index.samples["frames"]:
        gray = [cv2.imread(p, cv2.IMREAD_GRAYSCALE) for p in frames]
        found = detect(gray[0])
        box = centre_box(gray[0].shape) if found is None else expand_box(
            found, gray[0].shape, **config.margins)
        x, y, w, h = box
        crops = [np.ascontiguousarray(g[y:y + h, x:x + w]) for g in gray]
        _, apexes, _ = choose_apexes(len(crops), fraction=config.train_apex_fraction)
        for i in apexes:
            out.append(motion_map(crops[0], crops[i], crops[-1], flow, size=config.map_size))
    return np.stack(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="paper", choices=["tiny", "small", "paper"])
    ap.add_argument("--data", default="outputs/synthetic", help="folder of synthetic databases (written if absent)")
    ap.add_argument("--limit", type=int, default=24, help="samples per database (0 = all)")
    ap.add_argument("--methods", default="farneback,dis,tvl1")
    ap.add_argument("--tvl1-limit", type=int, default=4, help="samples per database for TV-L1 (slow)")
    ap.add_argument("--jobs", type=int, default=0, help="our worker processes (0 = all cores)")
    args = ap.parse_args()
    out = Path(args.data) / f"{args.size}-seed0"
    if not out.is_dir():
        write_synthetic(out, size=args.size, seed=0, progress=True)
    roots = synthetic_roots(out)
    indexes = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IndexWarning)
        for db in ("casme2", "smic-hs", "smic-vis", "smic-nir"):
            idx = build_index(db, roots[db])
            if args.limit:
                idx = dataclasses.replace(idx, samples=idx.samples.head(args.limit).reset_index(drop=True))
            indexes.append(idx)
    print(f"{args.size} synthetic, up to {args.limit or 'all'} samples per database (TV-L1: {args.tvl1_limit}), "
          f"jobs={args.jobs or 'all cores'}")
    print(f"{'method':10s} {'ours s':>8s} {'naive s':>8s} {'ours smp/s':>10s} {'naive smp/s':>11s} "
          f"{'ours flow/s':>11s} {'naive flow/s':>12s} {'ratio':>6s}")
    for method in args.methods.split(","):
        config = PreprocessConfig(detector="haar", face="detect", flow=FlowParams(method=method))  # as naive()
        subset = indexes if method != "tvl1" else [
            dataclasses.replace(i, samples=i.samples.head(args.tvl1_limit).reset_index(drop=True)) for i in indexes]
        n_samples = sum(len(i.samples) for i in subset)
        with tempfile.TemporaryDirectory() as cache, warnings.catch_warnings():
            warnings.simplefilter("ignore", PrepareWarning)
            t0 = time.perf_counter()
            ours = [prepare_database(i, config, cache_dir=cache, jobs=args.jobs or None)[0] for i in subset]
            t_ours = time.perf_counter() - t0
        t0 = time.perf_counter()
        ref = [naive(i, config) for i in subset]
        t_naive = time.perf_counter() - t0
        same = all(np.array_equal(a.train_maps, b) for a, b in zip(ours, ref))
        flows = 2 * sum(len(d.train_maps) for d in ours)  # two flows per training map (test map is one of them)
        print(f"{method:10s} {t_ours:8.2f} {t_naive:8.2f} {n_samples / t_ours:10.1f} {n_samples / t_naive:11.1f} "
              f"{flows / t_ours:11.1f} {flows / t_naive:12.1f} {t_naive / t_ours:6.2f}x"
              + ("" if same else "  (maps differ!)"))


if __name__ == "__main__":
    main()
