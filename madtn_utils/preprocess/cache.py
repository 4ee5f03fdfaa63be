"""Preprocess a whole database, in parallel, through an on-disk cache.

:func:`prepare_database` turns a :class:`~madtn_utils.data.index.DatasetIndex` into a
:class:`~madtn_utils.preprocess.domain.DomainData` plus the per-sample manifest. The result is
stored under ``cache_dir/<database>-<key>/`` (``maps.npz``, ``manifest.csv``,
``config.json``), where ``key`` hashes

- the :class:`~madtn_utils.preprocess.sample.PreprocessConfig` and :data:`PREPROCESS_VERSION`,
- the sample list (ids, labels, every frame's file name, annotated apexes),
- the bytes of every frame the maps are computed from (onset, apexes, offset).

So changing a preprocessing parameter or a frame misses the cache; training
parameters never enter it. The folder is written under a temporary name and renamed
into place, so an interrupted run leaves no half entry that could count as a hit
(:mod:`madtn_utils.preprocess.entry`). Faults on disk:

- ``cache_dir`` is checked (created, a probe file written) before any map is computed;
- a write error (a full disk) removes the temporary folder and raises one error naming ``cache_dir``;
- an entry that cannot be read back (a truncated ``maps.npz``) is moved aside to
  ``<entry>.corrupt-<timestamp>``, with a :class:`PrepareWarning`, and recomputed;
- ``.tmp-<entry>-<pid>`` folders of processes no longer alive are removed.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
import multiprocessing as mp
from pathlib import Path

import numpy as np
import pandas as pd

from madtn_utils.config import config_hash, to_dict
from madtn_utils.preprocess.domain import CLASSES, DomainData
from madtn_utils.preprocess.entry import (READ_ERRORS, check_cache_dir, load_cached, move_aside, read_entry,
                                          remove_stale_temps, write_entry)
from madtn_utils.preprocess.sample import PreprocessConfig, SampleWorker, apex_plan

__all__ = ["PREPROCESS_VERSION", "cache_key", "prepare_database", "load_cached", "PrepareWarning", "detector_summary"]

#: Bump when the maps' computation changes, so old cache entries stop matching.
#: 2: face modes and MTCNN; the manifest records how each face box was chosen.
PREPROCESS_VERSION = 2
_WORKER = None


class PrepareWarning(UserWarning):
    """Samples fell back (no face) or were left out (unreadable frames)."""


def _rows(index) -> list[dict]:
    cols = ["sample_id", "subject", "label", "frames", "n_frames", "apex"]
    df = index.samples[cols].astype(object).where(index.samples[cols].notna(), None)
    return df.to_dict("records")


def _needed_frames(row: dict, config: PreprocessConfig) -> list[str]:
    frames = row["frames"]
    test, train, _ = apex_plan(row, config)
    return [frames[i] for i in sorted({0, test, len(frames) - 1, *train})]


def cache_key(index, config: PreprocessConfig) -> str:
    """The cache key of ``index`` preprocessed under ``config`` (module docstring)."""
    digest = hashlib.sha256()
    for row in _rows(index):
        digest.update(json.dumps([row["sample_id"], row["label"], row["apex"],
                                  [Path(p).name for p in row["frames"]]], default=str).encode())
        for path in _needed_frames(row, config):
            try:
                digest.update(Path(path).read_bytes())
            except OSError:
                digest.update(f"unreadable:{path}".encode())
    return config_hash(index.database, PREPROCESS_VERSION, config, digest.hexdigest())


def _init_worker(config: PreprocessConfig, single_thread: bool = True, owner: int | None = None) -> None:
    """Set up this process's :class:`SampleWorker` (pool workers: one OpenCV thread each).

    ``owner``: in a pool worker, the pid of the process that made the pool: the worker
    dies with its parent (the forkserver, which ends with ``owner``), never outliving it.
    """
    global _WORKER
    if owner is not None:
        from madtn_utils.procs import die_with_parent

        die_with_parent(owner)
    if single_thread:
        import cv2

        cv2.setNumThreads(1)
        if config.detector != "haar" and config.face != "whole_frame":
            import torch

            torch.set_num_threads(1)  # the detector's network: one thread per worker, as OpenCV
    _WORKER = SampleWorker(config)


def _run_one(row: dict) -> dict:
    return _WORKER(row)


def _pool_context():
    """Forkserver where available (a plain fork can deadlock on OpenCV's and torch's thread pools;
    the forkserver preloads our modules once, so later pools start fast), else spawn."""
    if "forkserver" in mp.get_all_start_methods():
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(["madtn_utils.preprocess.sample"])
        return ctx
    return mp.get_context("spawn")


_POOL: dict = {"key": None, "pool": None}


def _shutdown_pool() -> None:
    if _POOL["pool"] is not None:
        _POOL["pool"].shutdown(wait=True, cancel_futures=True)
    _POOL.update(key=None, pool=None)


atexit.register(_shutdown_pool)


def _pool(config: PreprocessConfig, jobs: int) -> ProcessPoolExecutor:
    """A worker pool for ``config``, kept for the next database preprocessed under the same config."""
    if _POOL["key"] != (config, jobs):
        _shutdown_pool()
        _POOL.update(key=(config, jobs), pool=ProcessPoolExecutor(
            jobs, mp_context=_pool_context(), initializer=_init_worker, initargs=(config, True, os.getpid())))
    return _POOL["pool"]


def _compute(rows, config: PreprocessConfig, jobs: int, progress: bool, desc: str):
    from tqdm.auto import tqdm

    if config.detector == "retinaface" and config.face != "whole_frame":
        from madtn_utils.preprocess.retina import retinaface_weights

        retinaface_weights(config.retinaface_weights)  # a download happens here, once, not in every worker
    bar = tqdm(total=len(rows), desc=desc, unit="sample", disable=not progress)
    results = []
    if jobs <= 1:
        _init_worker(config, single_thread=False)
        for row in rows:
            results.append(_run_one(row))
            bar.update()
    else:
        try:
            for res in _pool(config, jobs).map(_run_one, rows, chunksize=max(1, min(8, len(rows) // (4 * jobs)))):
                results.append(res)
                bar.update()
        except BaseException:
            _shutdown_pool()  # a failed or interrupted pool is not reused
            raise
    bar.close()
    return results


def _save(folder: Path, results, meta: dict) -> None:
    ok = [r for r in results if "error" not in r]
    label_of = {c: i for i, c in enumerate(CLASSES)}
    train = np.concatenate([r["train"] for r in ok]) if ok else np.zeros((0, 3, 1, 1), np.uint8)
    train_index = np.concatenate([np.full(len(r["train"]), i, np.int64) for i, r in enumerate(ok)]) if ok else np.zeros(0, np.int64)
    test = np.stack([r["test"] for r in ok]) if ok else train[:0]
    labels = np.array([label_of[r["manifest"]["label"]] for r in ok], np.int64)
    write_entry(folder, dict(train_maps=train, train_index=train_index, test_maps=test, labels=labels),
                pd.DataFrame([r["manifest"] for r in results]), meta)


def _read_or_move_aside(folder: Path, database: str):
    """``(parts, manifest)`` of the entry, or None when there is none or it was damaged (then moved aside)."""
    if not folder.exists():
        return None
    try:
        return read_entry(folder)
    except READ_ERRORS as exc:
        moved = move_aside(folder)
        where = f"moved aside to {moved.name}" if moved else "moved aside by another run"
        warnings.warn(f"{database}: cache entry {folder} is unreadable ({type(exc).__name__}: {exc}); {where}, "
                      f"recomputing", PrepareWarning, stacklevel=3)
        return None


def prepare_database(index, config: PreprocessConfig = PreprocessConfig(), *, cache_dir: str | Path,
                     jobs: int | None = None, progress: bool = False):
    """``(DomainData, manifest, info)`` for ``index``, computed once and cached.

    ``info`` says whether the cache was hit, the entry folder, the seconds taken and
    the counts of samples, fallbacks and errors.
    """
    start = time.perf_counter()
    jobs = jobs or os.cpu_count() or 1
    key = cache_key(index, config)
    folder = Path(cache_dir) / f"{index.database}-{key}"
    _, failures = remove_stale_temps(cache_dir)
    if failures:
        warnings.warn(f"preprocess.cache_dir {str(cache_dir)!r}: leftovers of dead processes could not be removed: "
                      + "; ".join(failures), PrepareWarning, stacklevel=2)
    entry = _read_or_move_aside(folder, index.database)
    hit = entry is not None
    if not hit:
        if len(index.samples) == 0:
            raise ValueError(f"{index.database}: the index at {index.root} holds no samples: nothing to preprocess")
        check_cache_dir(cache_dir)
        results = _compute(_rows(index), config, jobs, progress, f"preprocess {index.database}")
        meta = {"database": index.database, "root": str(index.root), "sample_list": index.sample_list,
                "key": key, "preprocess_version": PREPROCESS_VERSION, "config": to_dict(config),
                "created": time.strftime("%Y-%m-%dT%H:%M:%S")}
        _save(folder, results, meta)
        entry = read_entry(folder)
    data, manifest = DomainData(index.database, **entry[0]), entry[1]
    errors = int((manifest["error"] != "").sum()) if "error" in manifest else 0
    info = {"database": index.database, "cache_hit": hit, "folder": str(folder), "key": key,
            "samples": len(data), "train_maps": len(data.train_maps),
            "fallback": int(manifest["fallback"].astype(str).eq("True").sum()), "errors": errors,
            "seconds": round(time.perf_counter() - start, 3)}
    modes = manifest["face_mode"].astype(str) if "face_mode" in manifest else pd.Series(dtype=str)
    info["whole_frame"] = int(modes.eq("whole_frame").sum())
    if info["fallback"]:
        warnings.warn(f"{index.database}: no face found on the onset frame of {info['fallback']} sample(s): "
                      f"centre crop used (see {folder / 'manifest.csv'})", PrepareWarning, stacklevel=2)
    if errors:
        warnings.warn(f"{index.database}: {errors} sample(s) left out for unreadable frames "
                      f"(see the error column of {folder / 'manifest.csv'})", PrepareWarning, stacklevel=2)
    return data, manifest, info


def detector_summary(manifest: pd.DataFrame) -> pd.DataFrame:
    """Per class: samples, faces found, centre-crop fallbacks, samples left out for frame errors, and
    of the samples kept, how many were cropped to a detected face and how many used the whole frame."""
    m = manifest.copy()
    m["fallback"] = m["fallback"].astype(str).eq("True")
    m["error"] = m["error"].astype(str).ne("") if "error" in m else False
    mode = m["face_mode"].astype(str) if "face_mode" in m else pd.Series("", index=m.index)
    rows = []
    for label, g in list(m.groupby("label", sort=False)) + [("all", m)]:
        ok = g[~g["error"]]
        rows.append({"class": label, "samples": len(g), "face_found": int((~ok["fallback"]).sum()),
                     "fallback_centre_crop": int(ok["fallback"].sum()), "left_out": int(g["error"].sum()),
                     "detected_box": int(mode[ok.index].eq("detected").sum()),
                     "whole_frame": int(mode[ok.index].eq("whole_frame").sum())})
    return pd.DataFrame(rows)
