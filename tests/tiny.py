"""Tiny params files for tests: a base mapping, shared data and cache folders, nested changes."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

import yaml

__all__ = ["write_params", "fake_run", "full_disk_in"]


def write_params(base: dict, folder: Path, shared: Path, name: str = "t", **changes) -> Path:
    """``folder/<name>.yaml`` from ``base``, with the synthetic data and cache under ``shared`` and the
    outputs under ``folder``; ``changes`` as ``train__epochs=2`` (nested keys joined by ``__``)."""
    data = json.loads(json.dumps(base))
    data.update(name=name, cache_dir=str(shared / "cache"), output_dir=str(folder / "outputs"))
    data["data"]["synthetic_dir"] = str(shared / "synthetic")
    for dotted, value in changes.items():
        node = data
        *parents, leaf = dotted.split("__")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return path


def fake_run(folder: Path, rec: dict, accuracy: dict, n: int = 4) -> dict:
    """Write ``folder/metrics.json`` and a ``predictions.csv`` that backs it, as a run writes them: for each seed of
    ``accuracy`` (seed -> fraction), ``n`` target samples of which that fraction are right. ``rec`` gives the
    rest (task, lam, run_hash, ...); its seeds, per_seed, summary and predictions_sha256 are filled in."""
    from madtn_utils.suite.scores import predictions_sha256, seed_metrics, summary_of
    from madtn_utils.suite.version import code_version

    rows = []
    for seed, acc in accuracy.items():
        right = round(acc * n)
        rows += [{"seed": seed, "sample_id": f"s{i}", "label": i % 3, "pred": i % 3 if i < right else (i + 1) % 3}
                 for i in range(n)]
    data = pd.DataFrame(rows).to_csv(index=False).encode()
    metrics = seed_metrics(pd.DataFrame(rows))
    per_seed = [{"seed": s, **metrics[s]} for s in accuracy]
    rec = {"n_target_samples": n, "device": "cpu", "seconds": {"train": 1.0}, "code": code_version(), **rec,
           "seeds": list(accuracy),
           "per_seed": per_seed, "summary": summary_of(per_seed), "predictions_sha256": predictions_sha256(data)}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "predictions.csv").write_bytes(data)
    (folder / "metrics.json").write_text(json.dumps(rec))
    return rec


def full_disk_in(monkeypatch, folder: Path) -> None:
    """Make the runs' ``write_json`` (``madtn_utils.suite.runs``) fail with ENOSPC for files in ``folder``
    (the disk full there only), and write as usual elsewhere."""
    import errno

    from madtn_utils.suite import runs as runs_mod

    real = runs_mod.write_json

    def full_disk(path, obj, **kw):
        if Path(path).parent == Path(folder):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(path, obj, **kw)

    monkeypatch.setattr(runs_mod, "write_json", full_disk)
