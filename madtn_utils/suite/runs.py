"""One training run of the grid: a task, λ, input components and seeds, with its outputs.

:func:`train_run` is what ``notebooks/02_train.ipynb`` and ``madtn train`` call. It
loads both databases through the preprocessing cache, trains every seed with the data
on the device once, and writes into ``out_dir``:

- ``predictions.csv`` (every target sample, every seed), ``history.csv`` (per epoch);
- ``metrics.json`` last, atomically: per-seed metrics, mean ± std over seeds, the
  summed confusion matrix, the resolved params and the device. A run folder counts as
  finished only when its ``metrics.json`` exists.
"""

from __future__ import annotations

import dataclasses
import platform
import time
from pathlib import Path

import pandas as pd

from madtn_utils.config import to_dict
from madtn_utils.files import atomic_write_text, write_json
from madtn_utils.suite.params import RunParams, load_domain
from madtn_utils.train.tasks import parse_task, resolve_task
from madtn_utils.train.loop import resolve_device, summarize, train_seeds

__all__ = ["RunSpec", "run_slug", "train_run", "METRICS_FILE"]

METRICS_FILE = "metrics.json"


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """One cell of the grid."""

    task: str  # "H->V"
    lam: float  # MMD weight λ
    components: str = "onOF-Face-endOF"  # Table 5 input variant

    def __post_init__(self):
        parse_task(self.task)


def run_slug(spec: RunSpec) -> str:
    """A folder name for ``spec``: ``H-V_lam2_onOF-Face-endOF``."""
    lam = f"{spec.lam:g}".replace(".", "p")
    return f"{spec.task.replace('->', '-')}_lam{lam}_{spec.components}"


def train_run(params: RunParams, *, source: str, target: str, lam: float | None = None,
              components: str | None = None, seeds=None, out_dir: str | Path, progress: bool = False) -> dict:
    """Train ``source -> target`` for every seed and write the run's outputs (module docstring).

    ``lam``, ``components`` and ``seeds`` default to the params' ``train.lam``,
    ``train.components`` and ``seeds``. Returns the content of ``metrics.json``.
    """
    task = resolve_task(source, target)
    cfg = params.train
    cfg = dataclasses.replace(cfg, lam=float(cfg.lam if lam is None else lam),
                              components=cfg.components if components is None else components)
    seeds = list(params.seeds if seeds is None else seeds)
    src_db, tgt_db = parse_task(task)
    t0 = time.perf_counter()
    src, _, src_info = load_domain(params, src_db)
    tgt, _, tgt_info = load_domain(params, tgt_db)
    t_data = time.perf_counter() - t0
    results = train_seeds(src, tgt, cfg, seeds, progress=progress)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    preds = pd.concat([r.predictions for r in results], ignore_index=True)
    hist = pd.concat([r.history.assign(seed=r.seed) for r in results], ignore_index=True)
    atomic_write_text(out / "predictions.csv", preds.to_csv(index=False))
    atomic_write_text(out / "history.csv", hist.to_csv(index=False))
    summary = summarize(results)
    record = {
        "task": task, "source": src_db, "target": tgt_db, "lam": cfg.lam, "components": cfg.components,
        "seeds": seeds, "n_source_samples": len(src), "n_source_maps": int(len(src.train_maps)),
        "n_target_samples": len(tgt),
        "summary": summary,
        "per_seed": [{"seed": r.seed, **r.metrics, "seconds": round(r.seconds, 3)} for r in results],
        "device": str(resolve_device(cfg.device)), "host": platform.node(),
        "seconds": {"data": round(t_data, 3), "train": round(sum(r.seconds for r in results), 3)},
        "preprocess_cache": {src_db: src_info["folder"], tgt_db: tgt_info["folder"]},
        "train_config": to_dict(cfg), "params": to_dict(params),
    }
    write_json(out / METRICS_FILE, record)
    return record
