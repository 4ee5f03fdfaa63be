"""A run's numbers from its predictions: what every table, figure and the report show.

A run writes ``predictions.csv`` (one row per target sample and seed: ``seed``, ``label``, ``pred``,
the probabilities) and records its content hash in ``metrics.json`` as ``predictions_sha256``.
:func:`verified_record` is how a collected run is read (:func:`~madtn_utils.suite.spec.matching_records`):
the file must hash to what the run recorded and hold every seed the run claims, each with every target
sample; the per-seed metrics (accuracy, mean F1, UAR, confusion) and their summary are then computed
from it, and replace the numbers copied into ``metrics.json``, so a number edited there never reaches a
table (a disagreement is named in a :class:`RunWarning`). Anything else is a ``ValueError`` naming
the file. The domain gap (``gap_*``) is not a function of the predictions and is taken as recorded.

>>> preds = pd.DataFrame({"seed": [0, 0, 0, 1, 1, 1], "label": [0, 1, 2, 0, 1, 2], "pred": [0, 1, 1, 0, 0, 0]})
>>> m = seed_metrics(preds)
>>> round(m[0]["accuracy"], 4), round(m[1]["accuracy"], 4), m[1]["confusion"]
(0.6667, 0.3333, [[1, 0, 0], [1, 0, 0], [1, 0, 0]])
>>> s = summary_of([m[0], m[1]])
>>> round(s["accuracy"]["mean"], 4), round(s["accuracy"]["std"], 4), s["confusion"][0]
(0.5, 0.2357, [2, 0, 0])
"""

from __future__ import annotations

import hashlib
import io
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from madtn_utils.train.metrics import classification_metrics

__all__ = ["PREDICTIONS_FILE", "RunWarning", "predictions_sha256", "seed_metrics", "summary_of", "verified_record"]

PREDICTIONS_FILE = "predictions.csv"
_SCALARS = ("accuracy", "mean_f1", "uar")


class RunWarning(UserWarning):
    """Something about a run's data that its numbers depend on (e.g. a class missing from the target)."""


def predictions_sha256(data: bytes) -> str:
    """The content hash recorded for ``predictions.csv`` (sha256 of its bytes, hex)."""
    return hashlib.sha256(data).hexdigest()


def seed_metrics(preds: pd.DataFrame) -> dict[int, dict]:
    """seed -> :func:`~madtn_utils.train.metrics.classification_metrics` of its ``label`` and ``pred`` rows."""
    return {int(seed): classification_metrics(g["label"].to_numpy(), g["pred"].to_numpy())
            for seed, g in preds.groupby("seed", sort=True)}


def summary_of(per_seed) -> dict:
    """Mean and std over seeds (ddof 1; 0.0 for one seed) of accuracy, mean F1 and UAR, and the summed confusion,
    as in ``metrics.json`` ``summary``."""
    per_seed = list(per_seed)
    out = {}
    for key in _SCALARS:
        v = np.array([s[key] for s in per_seed], dtype=np.float64)
        out[key] = {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0}
    out["confusion"] = np.sum([s["confusion"] for s in per_seed], axis=0).astype(int).tolist()
    return out


def _read(folder: Path, rec: dict) -> pd.DataFrame:
    path, metrics = folder / PREDICTIONS_FILE, folder / "metrics.json"
    recorded = rec.get("predictions_sha256")
    if not recorded:
        raise ValueError(f"{metrics}: records no predictions_sha256 (a run made before runs hashed their predictions): "
                         "expected a run of this version (delete its folder to redo it)")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"{path}: cannot be read ({exc.strerror or exc}): expected the predictions the run in "
                         f"{metrics} wrote (delete its folder to redo it)") from None
    got = predictions_sha256(data)
    if got != recorded:
        raise ValueError(f"{path}: its content hash {got[:12]}... differs from predictions_sha256 {recorded[:12]}... "
                         "recorded in metrics.json: expected the file the run wrote (changed since; delete the run "
                         "folder to redo it)")
    try:
        preds = pd.read_csv(io.BytesIO(data))
    except (ValueError, pd.errors.ParserError) as exc:
        raise ValueError(f"{path}: not a readable CSV ({exc}): expected the predictions the run wrote") from None
    missing = [c for c in ("seed", "label", "pred") if c not in preds.columns]
    if missing:
        raise ValueError(f"{path}: expected the columns seed, label, pred, got none named {', '.join(missing)}")
    return preds


def verified_record(rec: dict, folder: str | Path) -> dict:
    """``rec`` (the ``metrics.json`` of the run in ``folder``) with ``per_seed`` metrics and ``summary`` computed
    from the run's ``predictions.csv`` (module docstring); ValueError naming the file when the predictions do not
    back the run."""
    folder = Path(folder)
    path = folder / PREDICTIONS_FILE
    preds = _read(folder, rec)
    claimed = sorted(int(s) for s in rec.get("seeds") or ())
    got = sorted(int(s) for s in preds["seed"].unique())
    if got != claimed:
        raise ValueError(f"{path}: holds the predictions of seeds {got}, but its metrics.json claims seeds {claimed}: "
                         "expected every seed's predictions (delete the run folder to redo it)")
    n = rec.get("n_target_samples")
    counts = preds.groupby("seed").size()
    short = {int(s): int(c) for s, c in counts.items() if n is not None and c != n}
    if short:
        raise ValueError(f"{path}: seed(s) {sorted(short)} hold {sorted(set(short.values()))} rows: expected the "
                         f"{n} target samples of the run for every seed")
    metrics = seed_metrics(preds)
    entries = {int(e["seed"]): e for e in rec.get("per_seed") or ()}
    if sorted(entries) != claimed:
        raise ValueError(f"{folder / 'metrics.json'}: per_seed holds seeds {sorted(entries)}, but seeds says {claimed}: "
                         "expected one entry per seed")
    per_seed, differ = [], []
    for seed in claimed:
        entry, fresh = entries[seed], metrics[seed]
        differ += [f"{k} of seed {seed} ({entry[k]:.4g}, predictions give {fresh[k]:.4g})" for k in _SCALARS
                   if isinstance(entry.get(k), (int, float)) and not math.isclose(entry[k], fresh[k], abs_tol=1e-12)]
        differ += [f"confusion of seed {seed}"] if "confusion" in entry and entry["confusion"] != fresh["confusion"] else []
        per_seed.append({**entry, **fresh})
    if differ:
        warnings.warn(f"{folder / 'metrics.json'}: {'; '.join(differ[:3])}{' ...' if len(differ) > 3 else ''} "
                      f"differ from {PREDICTIONS_FILE}: the tables use {PREDICTIONS_FILE}", RunWarning, stacklevel=3)
    return {**rec, "per_seed": per_seed, "summary": {**(rec.get("summary") or {}), **summary_of(per_seed)}}
