"""The baseline rows of Tables 3 and 4, label-free, and the oracle audit (notebook 08).

For every task of ``experiments.tasks``, :func:`run_baselines` fits each selected method of
:mod:`madtn_utils.baselines` on the LBP-TOP features of the source (with labels) and the
target (without), predicts the target, and scores the predictions on the target's labels,
which are read there and nowhere else. Hyperparameters are the params' (``baselines:``;
the methods' paper defaults unless replaced), never chosen on the target.

Under ``baselines.oracle: true`` every method is also fitted at each setting of its
oracle grid (:func:`~madtn_utils.baselines.config.oracle_settings`, the label-free setting
first) and the setting with the highest target accuracy is kept, ties to the earlier
setting: the way the published baseline numbers were most likely picked. Those numbers
go to the audit (:func:`oracle_table`), never into Tables 3 and 4.

One JSON file per task, ``<run>/baselines/<task>.json``, written atomically; it holds
:func:`baseline_hash`, the hash of everything that determines its numbers (the data and
preprocessing as in :func:`~madtn_utils.suite.spec.run_config`, the LBP-TOP config, each
method's hyperparameters and oracle settings, :data:`BASELINES_VERSION`). A task whose file
holds the current hash is not redone; files of other hashes are redone, and never collected.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from madtn_utils.baselines import make
from madtn_utils.baselines.config import method_hparams, oracle_settings
from madtn_utils.config import config_hash, to_dict
from madtn_utils.files import write_json
from madtn_utils.suite.params import load_domain, load_index
from madtn_utils.suite.spec import RunSpec, RunWarning, run_config
from madtn_utils.train.metrics import classification_metrics
from madtn_utils.train.tasks import TASKS, parse_task

__all__ = ["BASELINES_VERSION", "RESULTS_DIR", "baseline_config", "baseline_hash", "task_features", "fit_task",
           "run_baselines", "collect_baselines", "baseline_long", "oracle_table"]

#: Bump when the baselines' computation changes, so old result files stop counting.
BASELINES_VERSION = 1
RESULTS_DIR = "baselines"


def baseline_config(params, task: str) -> dict:
    """Everything that determines the baseline numbers of ``task`` under ``params``, as plain data."""
    base = run_config(params, RunSpec(task, 0.0))
    b = params.baselines
    methods = {m: {"hparams": method_hparams(b, m), **({"oracle": oracle_settings(b, m)} if b.oracle else {})}
               for m in b.selected}
    return {"task": task, "data": base["data"], "preprocess": base["preprocess"],
            "preprocess_version": base["preprocess_version"], "lbptop": to_dict(b.lbptop), "methods": methods,
            "oracle": b.oracle, "version": BASELINES_VERSION}


def baseline_hash(params, task: str) -> str:
    """The hash of :func:`baseline_config`."""
    return config_hash(baseline_config(params, task))


def task_features(params, database: str, *, progress: bool = False):
    """The :class:`~madtn_utils.baselines.features.FeatureSet` of ``database`` (LBP-TOP, cached), with the face
    boxes of the params' preprocessing."""
    from madtn_utils.baselines.features import database_features

    index = load_index(params, database, quiet=True)
    _, manifest, _ = load_domain(params, database, progress=progress)
    return database_features(index, manifest, params.baselines.lbptop, cache_dir=params.cache_dir,
                             jobs=params.n_jobs, progress=progress)


def _fit_score(name: str, hparams: dict, src, tgt) -> dict:
    t0 = time.perf_counter()
    est = make(name, **hparams)  # hparams hold every default already: the paper's, then the params'
    est.fit(src.X, src.labels, tgt.X)  # the target's labels are not passed
    pred = est.predict(tgt.X)
    return {"hparams": hparams, **classification_metrics(tgt.labels, pred), "predictions": pred.tolist(),
            "seconds": round(time.perf_counter() - t0, 3)}


def fit_task(params, task: str, features: dict) -> dict:
    """The record of ``task``: every selected method label-free, and the oracle audit when asked.

    ``features``: database -> FeatureSet (at least the task's two databases).
    """
    from threadpoolctl import threadpool_limits

    s_db, t_db = parse_task(task)
    src, tgt = features[s_db], features[t_db]
    b = params.baselines
    record = {"task": task, "baseline_hash": baseline_hash(params, task), "n_source": len(src.labels),
              "n_target": len(tgt.labels), "target_sample_ids": list(tgt.sample_ids), "methods": {}, "oracle": {}}
    with threadpool_limits(1):  # one BLAS thread: the same numbers whatever the machine and the worker count
        for name in b.selected:
            record["methods"][name] = _fit_score(name, method_hparams(b, name), src, tgt)
            if b.oracle:  # the label-free setting comes first in the oracle's settings: fitted once
                tried = [record["methods"][name]] + [_fit_score(name, s, src, tgt) for s in oracle_settings(b, name)[1:]]
                best = max(range(len(tried)), key=lambda i: (tried[i]["accuracy"], -i))
                record["oracle"][name] = {"settings": len(tried), "best": tried[best]["hparams"],
                                          **{k: tried[best][k] for k in ("accuracy", "mean_f1", "uar")},
                                          "all_accuracies": [t["accuracy"] for t in tried],
                                          "seconds": round(sum(t["seconds"] for t in tried), 3)}
    return record


def _result_path(run_root, task: str) -> Path:
    return Path(run_root) / RESULTS_DIR / f"{task.replace('->', '-')}.json"


def _recorded(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _fit_timed(params, task: str, features: dict) -> tuple[str, dict, float]:
    t0 = time.perf_counter()
    return task, fit_task(params, task, features), round(time.perf_counter() - t0, 2)


def _init_worker(owner: int) -> None:
    from madtn_utils.procs import die_with_parent

    die_with_parent(owner)


def run_baselines(params, run_root, *, jobs: int | None = None, progress: bool = False) -> list[dict]:
    """Fit and score the baselines of every task not finished under ``params`` (resume), in ``jobs`` worker
    processes (default: the params' jobs; each fit uses one BLAS thread); one status per task, in task order.

    Each task's file is written (atomically) as soon as the task is done, so an interruption keeps them.
    """
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    from tqdm.auto import tqdm

    tasks = list(params.experiments.tasks)
    todo = [t for t in tasks if (_recorded(_result_path(run_root, t)) or {}).get("baseline_hash") != baseline_hash(params, t)]
    status = {t: {"task": t, "status": "done before", "seconds": 0.0} for t in tasks if t not in todo}
    databases = sorted({db for t in todo for db in parse_task(t)})
    features = {db: task_features(params, db, progress=progress) for db in databases}
    jobs = min(jobs or params.n_jobs, len(todo)) if todo else 1
    bar = tqdm(total=len(todo), desc="baselines", unit="task", disable=not progress)
    try:
        if jobs <= 1:
            done = (_fit_timed(params, t, {db: features[db] for db in parse_task(t)}) for t in todo)
            for task, record, seconds in done:
                write_json(_result_path(run_root, task), record)
                status[task] = {"task": task, "status": "executed", "seconds": seconds}
                bar.update()
        else:
            with ProcessPoolExecutor(jobs, mp_context=mp.get_context("forkserver"), initializer=_init_worker,
                                     initargs=(os.getpid(),)) as pool:
                futures = [pool.submit(_fit_timed, params, t, {db: features[db] for db in parse_task(t)}) for t in todo]
                try:
                    for fut in as_completed(futures):
                        task, record, seconds = fut.result()
                        write_json(_result_path(run_root, task), record)
                        status[task] = {"task": task, "status": "executed", "seconds": seconds}
                        bar.update()
                except BaseException:
                    for fut in futures:
                        fut.cancel()
                    raise
    finally:
        bar.close()
    return [status[t] for t in tasks]


def collect_baselines(run_root, params) -> pd.DataFrame:
    """One row per (task, method) of the result files made under ``params``: the label-free metrics, and the
    oracle's where it ran. Files of other settings are named in a :class:`RunWarning` and left out."""
    rows, stale = [], []
    for path in sorted((Path(run_root) / RESULTS_DIR).glob("*.json")):
        rec = _recorded(path)
        if rec is None or rec.get("task") not in params.experiments.tasks \
                or rec.get("baseline_hash") != baseline_hash(params, rec["task"]):
            stale.append(path.name)
            continue
        for name, m in rec["methods"].items():
            o = rec["oracle"].get(name, {})
            rows.append({"task": rec["task"], "method": name, "accuracy": m["accuracy"], "mean_f1": m["mean_f1"],
                         "uar": m["uar"], "seconds": m["seconds"], "n_target": rec["n_target"],
                         "hparams": json.dumps(m["hparams"], sort_keys=True),
                         "oracle_accuracy": o.get("accuracy", np.nan), "oracle_mean_f1": o.get("mean_f1", np.nan),
                         "oracle_settings": o.get("settings", 0),
                         "oracle_best": _changed(m["hparams"], o["best"]) if o else ""})
    if stale:
        warnings.warn(f"{run_root}: {len(stale)} baseline result file(s) were made with other settings and are left out "
                      f"(rerun with `madtn reproduce --only baselines`): {', '.join(stale)}", RunWarning, stacklevel=2)
    cols = ["task", "method", "accuracy", "mean_f1", "uar", "seconds", "n_target", "hparams", "oracle_accuracy",
            "oracle_mean_f1", "oracle_settings", "oracle_best"]
    return pd.DataFrame(rows, columns=cols)


def _changed(label_free: dict, best: dict) -> str:
    """The oracle's pick as the hyperparameters it changed from the label-free setting.

    >>> _changed({"C": 1.0, "k": "rbf"}, {"C": 8.0, "k": "rbf"}), _changed({"C": 1.0}, {"C": 1.0})
    ('C=8', 'the label-free setting')
    """
    diff = {k: v for k, v in best.items() if label_free.get(k) != v}
    return ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in sorted(diff.items())) \
        or "the label-free setting"


def baseline_long(baselines: pd.DataFrame, *, table: int, tasks) -> pd.DataFrame:
    """Our label-free baseline rows of Table ``table`` in the long form of
    :func:`~madtn_utils.suite.tables.table_3_4` (source ``ours``), with an Average per method that has every task."""
    tasks = list(tasks)
    got = baselines[baselines["task"].isin(tasks)]
    rows = []
    for name, g in got.groupby("method", sort=False):
        g = g.set_index("task").reindex([t for t in tasks if t in set(g["task"])])
        for task, r in g.iterrows():
            rows.append({"method": name, "task": task, "mean_f1": r["mean_f1"], "accuracy_percent": 100 * r["accuracy"]})
        if len(g) == len(tasks):
            rows.append({"method": name, "task": "Average", "mean_f1": g["mean_f1"].mean(),
                         "accuracy_percent": 100 * g["accuracy"].mean()})
    out = pd.DataFrame(rows, columns=["method", "task", "mean_f1", "accuracy_percent"])
    return out.assign(table=table, protocol="TYPE-I" if table == 3 else "TYPE-II", source="ours", mean_f1_std=np.nan,
                      accuracy_std=np.nan, n_seeds=1)


def oracle_table(baselines: pd.DataFrame) -> pd.DataFrame:
    """The audit: per method and task, label-free and oracle accuracy and their difference, with an
    average row per method (over the tasks it has); empty when the oracle did not run."""
    got = baselines[baselines["oracle_settings"] > 0]
    if got.empty:
        return pd.DataFrame(columns=["method", "task", "accuracy_label_free", "accuracy_oracle", "accuracy_oracle_minus_label_free",
                                     "settings", "oracle_best"])
    t = pd.DataFrame({"method": got["method"], "task": got["task"], "accuracy_label_free": got["accuracy"],
                      "accuracy_oracle": got["oracle_accuracy"],
                      "accuracy_oracle_minus_label_free": got["oracle_accuracy"] - got["accuracy"],
                      "settings": got["oracle_settings"], "oracle_best": got["oracle_best"]})
    t = t.assign(_t=t["task"].map(list(TASKS).index)).sort_values(["method", "_t"], kind="stable")
    avg = t.groupby("method", sort=False)[["accuracy_label_free", "accuracy_oracle", "accuracy_oracle_minus_label_free"]].mean()
    avg = avg.reset_index().assign(task="Average", settings=np.nan, oracle_best="")
    methods = list(dict.fromkeys(baselines["method"]))
    out = pd.concat([t.drop(columns="_t"), avg], ignore_index=True)
    out = out.assign(_m=out["method"].map(methods.index), _a=out["task"].eq("Average")).sort_values(["_m", "_a"], kind="stable")
    return out.drop(columns=["_m", "_a"]).reset_index(drop=True)
