"""LBP-TOP features of a whole database, computed once and cached like the maps.

:func:`database_features` turns a :class:`~madtn_utils.data.types.DatasetIndex` and the manifest
of :func:`~madtn_utils.preprocess.cache.prepare_database` into a :class:`FeatureSet`: one row per
sample the preprocessing kept (manifest rows with an empty ``error``), in the manifest's order,
so row i is the sample of row i of that run's ``DomainData``. Each sample's clip
(:func:`face_clip`): every frame onset->offset read gray (:func:`~madtn_utils.preprocess.sample.read_gray`),
cropped with the manifest's face box (found on the onset frame by the preprocessing; never
detected again), resized to ``size``×``size`` with ``cv2.INTER_AREA``, resampled to ``frames``
in time (:func:`~madtn_utils.baselines.lbptop.resample`); then
:func:`~madtn_utils.baselines.lbptop.lbptop`.

The entry ``cache_dir/lbptop-<database>-<key>/`` (``maps.npz`` with ``X`` and ``labels``,
``manifest.csv``, ``config.json``) is written atomically by
:func:`~madtn_utils.preprocess.entry.write_entry`; ``key`` hashes the
:class:`~madtn_utils.baselines.lbptop.LbpTopConfig`, :data:`LBPTOP_VERSION`, every sample's id,
label, frame names and face box, and the bytes of every frame used. An entry that cannot be
read back is moved aside with a :class:`FeatureWarning` and recomputed.

>>> _box({"face_x": "12", "face_y": 3.0, "face_w": 40, "face_h": "40"}, "s1/a")
(12, 3, 40, 40)
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import os
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from madtn_utils.baselines.lbptop import LbpTopConfig, feature_dim, lbptop, resample
from madtn_utils.config import config_hash, to_dict
from madtn_utils.preprocess.domain import CLASSES
from madtn_utils.preprocess.entry import READ_ERRORS, check_cache_dir, move_aside, remove_stale_temps, write_entry
from madtn_utils.preprocess.sample import FrameError, read_gray

__all__ = ["LBPTOP_VERSION", "FeatureSet", "FeatureWarning", "database_features", "face_clip", "feature_key"]

#: Bump when the features' computation changes, so old cache entries stop matching.
LBPTOP_VERSION = 1
_BOX = ("face_x", "face_y", "face_w", "face_h")


class FeatureWarning(UserWarning):
    """A feature cache entry was unreadable (moved aside), or leftovers could not be removed."""


@dataclass(frozen=True)
class FeatureSet:
    """LBP-TOP features of one database.

    database: database key; X: float32 (N, D) (float64 for published features read as they are,
    :mod:`~madtn_utils.baselines.real`); labels: int64 (N,), index into
    :data:`~madtn_utils.preprocess.domain.CLASSES`; sample_ids: N ids, in ``DomainData`` order.
    """

    database: str
    X: np.ndarray
    labels: np.ndarray
    sample_ids: tuple[str, ...]

    def __post_init__(self):
        if self.X.ndim != 2 or self.X.dtype not in (np.float32, np.float64) or len(self.X) == 0:
            raise ValueError(f"{self.database}.X: expected float32 or float64 (N, D) with N >= 1, got {self.X.dtype} "
                             f"{self.X.shape}")
        if self.labels.shape != (len(self.X),) or self.labels.dtype != np.int64 or len(self.sample_ids) != len(self.X):
            raise ValueError(f"{self.database}: expected int64 labels and sample_ids, one per row of X ({len(self.X)}), "
                             f"got {self.labels.dtype} {self.labels.shape} and {len(self.sample_ids)} ids")
        if self.labels.min() < 0 or self.labels.max() >= len(CLASSES):
            raise ValueError(f"{self.database}.labels: expected values in 0..{len(CLASSES) - 1}")

    def __len__(self) -> int:
        return len(self.X)


def _box(row, sample_id: str) -> tuple[int, int, int, int]:
    """The face box ``(x, y, w, h)`` of a manifest row (read from CSV: numbers or their text)."""
    try:
        box = tuple(float(row[k]) for k in _BOX)
    except (KeyError, TypeError, ValueError):
        raise ValueError(f"manifest: expected the face box {', '.join(_BOX)} of {sample_id}, got "
                         f"{[row.get(k) for k in _BOX]}") from None
    if not all(v.is_integer() and v >= 0 for v in box) or box[2] < 1 or box[3] < 1:
        raise ValueError(f"manifest: expected a face box of non-negative whole pixels of {sample_id}, got {box}")
    return tuple(int(v) for v in box)


def _tasks(index, manifest: pd.DataFrame) -> list[dict]:
    """One task per manifest row without error, in manifest order, with its index row's frames."""
    ok = manifest[manifest["error"].astype(str) == ""] if "error" in manifest.columns else manifest
    rows = {str(r["sample_id"]): r for r in index.samples[["sample_id", "label", "frames"]].to_dict("records")}
    tasks = []
    for m in ok.to_dict("records"):
        sid = str(m["sample_id"])
        if sid not in rows:
            raise ValueError(f"manifest: expected samples of the {index.database} index at {index.root}, got {sid!r}")
        row = rows[sid]
        if str(m.get("label", row["label"])) != row["label"]:
            raise ValueError(f"manifest: {sid} is labelled {m['label']!r}, expected {row['label']!r} as in the index")
        tasks.append({"sample_id": sid, "label": row["label"], "frames": [str(p) for p in row["frames"]],
                      "box": _box(m, sid)})
    if not tasks:
        raise ValueError(f"{index.database}: expected at least one manifest row without error, got none")
    return tasks


def feature_key(database: str, tasks: list[dict], config: LbpTopConfig) -> str:
    """The cache key (module docstring) of ``tasks`` under ``config``."""
    digest = hashlib.sha256()
    for task in tasks:
        names = [Path(p).name for p in task["frames"]]
        digest.update(json.dumps([task["sample_id"], task["label"], names, list(task["box"])]).encode())
        for path in task["frames"]:
            try:
                digest.update(Path(path).read_bytes())
            except OSError:
                digest.update(f"unreadable:{path}".encode())
    return config_hash(database, LBPTOP_VERSION, config, digest.hexdigest())


def face_clip(frames: list[str], box: tuple[int, int, int, int], config: LbpTopConfig) -> np.ndarray:
    """uint8 (frames, size, size): every frame cropped with ``box``, resized (INTER_AREA), resampled in time."""
    x, y, w, h = box
    crops, shape = [], None
    for path in frames:
        img = read_gray(path)
        if shape is None:
            shape = img.shape
            if x + w > shape[1] or y + h > shape[0]:
                raise FrameError(f"frame {path!r}: expected the face box {box} inside the onset frame of size "
                                 f"{shape[::-1]}")
        elif img.shape != shape:
            raise FrameError(f"frame {path!r}: expected size {shape[::-1]} like the onset frame, got {img.shape[::-1]}")
        crops.append(cv2.resize(img[y:y + h, x:x + w], (config.size, config.size), interpolation=cv2.INTER_AREA))
    if not crops:
        raise FrameError("expected at least one frame, got none")
    return resample(np.stack(crops), config.frames)


def _features(task: dict, config: LbpTopConfig) -> np.ndarray:
    try:
        clip = face_clip(task["frames"], task["box"], config)
    except FrameError as exc:
        raise FrameError(f"{task['sample_id']}: {exc}") from None
    return lbptop(clip, config).astype(np.float32)


def _init_worker(owner: int) -> None:
    from madtn_utils.procs import die_with_parent

    die_with_parent(owner)
    cv2.setNumThreads(1)


def _run(args) -> np.ndarray:
    return _features(*args)


def _context():
    """Forkserver where available (a fork can deadlock on OpenCV's threads), else spawn."""
    if "forkserver" in mp.get_all_start_methods():
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(["madtn_utils.baselines.features"])
        return ctx
    return mp.get_context("spawn")


def _compute(tasks: list[dict], config: LbpTopConfig, jobs: int, progress: bool, desc: str) -> np.ndarray:
    from tqdm.auto import tqdm

    bar = tqdm(total=len(tasks), desc=desc, unit="sample", disable=not progress)
    rows = []
    if jobs == 1:
        for task in tasks:
            rows.append(_features(task, config))
            bar.update()
    else:
        pool = ProcessPoolExecutor(jobs, mp_context=_context(), initializer=_init_worker, initargs=(os.getpid(),))
        try:
            for row in pool.map(_run, [(t, config) for t in tasks], chunksize=max(1, min(8, len(tasks) // (4 * jobs)))):
                rows.append(row)
                bar.update()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    bar.close()
    return np.stack(rows)


def _read(folder: Path, config: LbpTopConfig, ids: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """``(X, labels)`` of one entry holding the samples ``ids``; one of :data:`READ_ERRORS` when damaged."""
    table = pd.read_csv(folder / "manifest.csv", keep_default_na=False, dtype={"sample_id": str})
    with open(folder / "maps.npz", "rb") as fh, np.load(fh) as z:
        X, labels = z["X"], z["labels"]
    if X.dtype != np.float32 or X.shape != (len(ids), feature_dim(config)) or labels.shape != (len(ids),):
        raise ValueError(f"{folder}: expected float32 X of shape ({len(ids)}, {feature_dim(config)}) and {len(ids)} "
                         f"labels, got {X.dtype} {X.shape} and {labels.shape}")
    if tuple(table["sample_id"]) != ids:
        raise ValueError(f"{folder}: expected the {len(ids)} samples of the manifest in its order, got another list")
    return X, labels.astype(np.int64)


def database_features(index, manifest: pd.DataFrame, config: LbpTopConfig = LbpTopConfig(), *,
                      cache_dir: str | Path, jobs: int = 1, progress: bool = False) -> FeatureSet:
    """The :class:`FeatureSet` of ``index`` (module docstring), computed once with ``jobs`` processes and cached."""
    if not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs: expected an integer >= 1, got {jobs!r}")
    tasks = _tasks(index, manifest)
    ids = tuple(t["sample_id"] for t in tasks)
    key = feature_key(index.database, tasks, config)
    folder = Path(cache_dir) / f"lbptop-{index.database}-{key}"
    _, failures = remove_stale_temps(cache_dir)
    if failures:
        warnings.warn(f"cache_dir {str(cache_dir)!r}: leftovers of dead processes could not be removed: "
                      + "; ".join(failures), FeatureWarning, stacklevel=2)
    entry = None
    if folder.exists():
        try:
            entry = _read(folder, config, ids)
        except READ_ERRORS as exc:
            moved = move_aside(folder)
            where = f"moved aside to {moved.name}" if moved else "moved aside by another run"
            warnings.warn(f"{index.database}: feature cache entry {folder} is unreadable ({type(exc).__name__}: "
                          f"{exc}); {where}, recomputing", FeatureWarning, stacklevel=2)
    if entry is None:
        check_cache_dir(cache_dir)
        X = _compute(tasks, config, jobs, progress, f"lbptop {index.database}")
        labels = np.array([CLASSES.index(t["label"]) for t in tasks], np.int64)
        table = pd.DataFrame([{"sample_id": t["sample_id"], "label": t["label"], "n_frames": len(t["frames"]),
                               **dict(zip(_BOX, t["box"]))} for t in tasks])
        meta = {"database": index.database, "root": str(index.root), "sample_list": index.sample_list, "key": key,
                "lbptop_version": LBPTOP_VERSION, "config": to_dict(config), "dim": feature_dim(config),
                "created": time.strftime("%Y-%m-%dT%H:%M:%S")}
        write_entry(folder, {"X": X, "labels": labels}, table, meta)
        entry = _read(folder, config, ids)
    return FeatureSet(index.database, entry[0], entry[1], ids)
