"""Fitting the baselines (notebook 08): label-free on every task, the oracle audit, the real-feature rows.

For every task of :func:`~madtn_utils.suite.baselines.database_tasks`, :func:`run_baselines` fits each
selected method of :mod:`madtn_utils.baselines` on the LBP-TOP features of the source (with labels)
and the target (without), predicts the target, and scores the predictions on the target's labels,
which are read there and nowhere else. Hyperparameters are the params' (``baselines:``; the methods'
paper defaults unless replaced), never chosen on the target. With ``baselines.real_features``, the
same fits run on the published LBP-TOP of SMIC-VIS and SMIC-NIR for V->N and N->V
(:func:`fit_real_task`); with ``data.composite``, on the flattened real flow of the composite set for
the real-data study's tasks (:func:`fit_flow_task`, :mod:`madtn_utils.baselines.flow`).

Under ``baselines.oracle: true`` every method is also fitted at each setting of its oracle grid
(:func:`~madtn_utils.baselines.config.oracle_settings`, the label-free setting first) and the setting
with the highest target accuracy is kept, ties to the earlier setting: the audit of how the
published baseline numbers were most likely picked (never a row of Tables 3 and 4).

A method that raises one of :data:`FIT_ERRORS` on a task (KMM's QP not converging, GFK's dimension
rule not reaching its threshold, TKL with fewer target samples than eigenvectors, a bad
hyperparameter) is recorded as failed for that task with ``"failed": "<Error>: <message>"``; the
other methods go on. An oracle setting that raises is counted (``failed_settings``, ``first_failure``)
and left out of the choice. Each fit uses one BLAS thread, so the numbers do not depend on the machine
or the worker count; records are written atomically as each task ends (resume).
"""

from __future__ import annotations

import os
import time
import warnings

import numpy as np

from madtn_utils.baselines import make
from madtn_utils.baselines.config import method_hparams, oracle_settings
from madtn_utils.baselines.real import REAL_TASKS, load_real_pair
from madtn_utils.files import write_json
from madtn_utils.suite.baselines import (DATABASES_FEATURES, FLOW_FEATURES, REAL_FEATURES, REAL_LABEL_CODES,
                                         baseline_jobs, record_hash, recorded, result_path)
from madtn_utils.suite.params import load_composite, load_domain, load_index
from madtn_utils.suite.scores import RunWarning
from madtn_utils.train.metrics import classification_metrics
from madtn_utils.train.tasks import parse_task

__all__ = ["FIT_ERRORS", "task_features", "composite_flow_features", "fit_methods", "class_warnings", "fit_task",
           "fit_real_task", "fit_flow_task", "run_baselines"]

#: What a method may raise on a task and be recorded as failed for it (anything else stops the run).
FIT_ERRORS = (ValueError, RuntimeError, np.linalg.LinAlgError)


def task_features(params, database: str, *, progress: bool = False):
    """The :class:`~madtn_utils.baselines.features.FeatureSet` of ``database`` (LBP-TOP, cached), with the face
    boxes of the params' preprocessing."""
    from madtn_utils.baselines.features import database_features

    from madtn_utils.suite.checks import check_features

    index = load_index(params, database, quiet=True)
    _, manifest, _ = load_domain(params, database, progress=progress)
    features = database_features(index, manifest, params.baselines.lbptop, cache_dir=params.cache_dir,
                                 jobs=params.n_jobs, progress=progress)
    check_features(features, params, index)  # non-finite or all alike: one line naming the database and cache entry
    return features


def composite_flow_features(params, databases) -> dict:
    """database -> :class:`~madtn_utils.baselines.features.FeatureSet` of the flattened real flow of the composite set
    (``data.composite``) at the files' own 28 x 28 (:func:`~madtn_utils.baselines.flow.flow_features`)."""
    from madtn_utils.baselines.flow import FLOW_SIZE, flow_features
    from madtn_utils.preprocess.composite import composite_domain

    index = load_composite(params)
    return {db: flow_features(composite_domain(index.database(db), FLOW_SIZE)) for db in databases}


def _fit_score(name: str, hparams: dict, src, tgt) -> dict:
    t0 = time.perf_counter()
    try:
        est = make(name, **hparams)  # hparams hold every default already: the paper's, then the params'
        est.fit(src.X, src.labels, tgt.X)  # the target's labels are not passed
        pred = est.predict(tgt.X)
    except FIT_ERRORS as exc:
        return {"hparams": hparams, "failed": f"{type(exc).__name__}: {exc}", "seconds": round(time.perf_counter() - t0, 3)}
    return {"hparams": hparams, **classification_metrics(tgt.labels, pred), "predictions": pred.tolist(),
            "seconds": round(time.perf_counter() - t0, 3)}


def _oracle(tried: list[dict]) -> dict:
    ok = [i for i, t in enumerate(tried) if "failed" not in t]
    failed = [t["failed"] for t in tried if "failed" in t]
    out = {"settings": len(tried), "failed_settings": len(failed), "first_failure": failed[0] if failed else "",
           "all_accuracies": [t.get("accuracy") for t in tried], "seconds": round(sum(t["seconds"] for t in tried), 3)}
    if ok:
        best = max(ok, key=lambda i: (tried[i]["accuracy"], -i))
        out.update(best=tried[best]["hparams"], **{k: tried[best][k] for k in ("accuracy", "mean_f1", "uar")})
    return out


def fit_methods(b, src, tgt) -> tuple[dict, dict]:
    """``(methods, oracle)``: each selected method of the :class:`~madtn_utils.baselines.config.BaselineParams`
    ``b`` fitted label-free on ``src`` -> ``tgt`` (FeatureSets), and its oracle audit when ``b.oracle``."""
    from threadpoolctl import threadpool_limits

    methods, oracle = {}, {}
    with threadpool_limits(1):  # one BLAS thread: the same numbers whatever the machine and the worker count
        for name in b.selected:
            methods[name] = _fit_score(name, method_hparams(b, name), src, tgt)
            if b.oracle:  # the label-free setting comes first in the oracle's settings: fitted once
                oracle[name] = _oracle([methods[name]] + [_fit_score(name, s, src, tgt)
                                                          for s in oracle_settings(b, name)[1:]])
    return methods, oracle


def class_warnings(task: str, src, tgt) -> list[str]:
    """:func:`~madtn_utils.suite.runs.class_notes` of a task's two FeatureSets: a class missing from the source (no
    method can predict it) or the target (its scores cover fewer classes)."""
    from types import SimpleNamespace

    from madtn_utils.suite.runs import class_notes

    return [f"{task}: {note}" for fs, role in ((src, "source"), (tgt, "target"))
            for note in class_notes(SimpleNamespace(name=fs.database, labels=fs.labels), role)]


def _record(params, features: str, task: str, src, tgt) -> dict:
    notes = class_warnings(task, src, tgt)
    for note in notes:  # as training does: warned, recorded with the task, shown in the report
        warnings.warn(f"baselines ({features}) {note}", RunWarning, stacklevel=2)
    methods, oracle = fit_methods(params.baselines, src, tgt)
    return {"task": task, "features": features, "baseline_hash": record_hash(params, features, task),
            "n_source": len(src.labels), "n_target": len(tgt.labels), "target_sample_ids": list(tgt.sample_ids),
            "warnings": notes, "methods": methods, "oracle": oracle}


def fit_task(params, task: str, features: dict) -> dict:
    """The record of ``task`` on the params' databases; ``features``: database -> FeatureSet (at least the task's)."""
    s_db, t_db = parse_task(task)
    return _record(params, DATABASES_FEATURES, task, features[s_db], features[t_db])


def fit_real_task(params, task: str, features: dict) -> dict:
    """The record of the real task ``task`` (V->N or N->V); ``features``: :func:`~madtn_utils.baselines.real.load_real_pair`."""
    s_key, t_key = REAL_TASKS[task]
    files = params.baselines.real_features
    return {**_record(params, REAL_FEATURES, task, features[s_key], features[t_key]),
            "files": {"vis": files.vis, "nir": files.nir}, "label_codes": REAL_LABEL_CODES}


def fit_flow_task(params, task: str, features: dict) -> dict:
    """The record of ``task`` on the real flow; ``features``: :func:`composite_flow_features` (at least the task's)."""
    s_db, t_db = parse_task(task)
    return {**_record(params, FLOW_FEATURES, task, features[s_db], features[t_db]),
            "composite": params.data.composite.root}


_FIT = {DATABASES_FEATURES: fit_task, REAL_FEATURES: fit_real_task, FLOW_FEATURES: fit_flow_task}


def _fit_timed(params, job: tuple[str, str], features: dict) -> tuple[tuple[str, str], dict, float]:
    t0 = time.perf_counter()
    kind, task = job
    return job, _FIT[kind](params, task, features), round(time.perf_counter() - t0, 2)


def _init_worker(owner: int) -> None:
    from madtn_utils.procs import die_with_parent

    die_with_parent(owner)


def _inputs_of(kind: str, task: str) -> tuple[str, ...]:
    return REAL_TASKS[task] if kind == REAL_FEATURES else parse_task(task)


def run_baselines(params, run_root, *, jobs: int | None = None, progress: bool = False) -> list[dict]:
    """Fit and score the baselines of every task not finished under ``params`` (resume), in ``jobs`` worker
    processes (default: the params' jobs; each fit uses one BLAS thread); one status per ``(features, task)`` of
    :func:`~madtn_utils.suite.baselines.baseline_jobs`, in that order.

    Each task's file is written (atomically) as soon as the task is done, so an interruption keeps them.
    """
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    from tqdm.auto import tqdm

    every = baseline_jobs(params)
    todo = [job for job in every if (recorded(result_path(run_root, job[1], job[0])) or {}).get("baseline_hash")
            != record_hash(params, *job)]
    status = {job: {"task": job[1], "features": job[0], "status": "done before", "seconds": 0.0} for job in every}
    need = {kind: sorted({k for kd, t in todo if kd == kind for k in _inputs_of(kd, t)}) for kind in _FIT}
    features = {DATABASES_FEATURES: {db: task_features(params, db, progress=progress) for db in need[DATABASES_FEATURES]},
                REAL_FEATURES: load_real_pair(params.baselines.real_features) if need[REAL_FEATURES] else {},
                FLOW_FEATURES: composite_flow_features(params, need[FLOW_FEATURES]) if need[FLOW_FEATURES] else {}}

    def inputs(job):
        return {k: features[job[0]][k] for k in _inputs_of(*job)}

    def done(job, record, seconds):
        write_json(result_path(run_root, job[1], job[0]), record)
        status[job].update(status="executed", seconds=seconds)
        bar.update()

    workers = min(jobs or params.n_jobs, len(todo)) if todo else 1
    bar = tqdm(total=len(todo), desc="baselines", unit="task", disable=not progress)
    try:
        if workers <= 1:
            for job in todo:
                done(*_fit_timed(params, job, inputs(job)))
        else:
            with ProcessPoolExecutor(workers, mp_context=mp.get_context("forkserver"), initializer=_init_worker,
                                     initargs=(os.getpid(),)) as pool:
                futures = [pool.submit(_fit_timed, params, job, inputs(job)) for job in todo]
                try:
                    for fut in as_completed(futures):
                        done(*fut.result())
                except BaseException:
                    for fut in futures:
                        fut.cancel()
                    raise
    finally:
        bar.close()
    return [status[job] for job in every]
