"""Training runs of the grid: a task, λ, input components and seeds, with their outputs.

:func:`train_runs` is what ``notebooks/02_train.ipynb`` calls (``madtn train`` calls
:func:`train_run`, one run). It loads both databases through the preprocessing cache once,
trains every seed of every run with the data on the device once, the runs stacked
(:func:`~madtn_utils.train.stacked.fit_stacked`: ``train.stacking``), and writes into each
run's ``out_dir``:

- ``predictions.csv`` (every target sample, every seed), ``history.csv`` (per epoch and
  seed: ``epoch, ce, mmd2, loss`` (under a ``train.alignment`` other than ``mmd`` then ``align``, and for
  ``dann`` ``grl_weight``, ``domain_acc``), ``median_d2``, one mean-kernel column per Gaussian
  (``k_sigma1`` ... or ``k_median_x0.25`` ...), ``seed``; see :mod:`madtn_utils.train.observe`);
- with ``train.save_model: true``, ``model_seed<N>.pt`` per seed: the trained weights and what scoring
  new maps needs (:mod:`madtn_utils.train.saved`; ``madtn predict`` reads them), written atomically,
  their SHA-256 in ``metrics.json`` (``per_seed[i]["model_file"]``, ``["model_sha256"]``);
- ``metrics.json`` last, atomically: per-seed metrics (with the domain gap as ``gap_*``,
  :func:`per_seed_record`), mean ± std over seeds (``summary``, with
  ``summary["domain_gap"]``), the summed confusion matrix, the resolved params and the
  device, ``predictions_sha256`` (the content hash of ``predictions.csv``: tables score that file,
  :mod:`madtn_utils.suite.scores`) and ``code`` (:func:`~madtn_utils.suite.version.code_version`).
  A run folder counts as finished only when its ``metrics.json`` exists.

The runs of one call share the data: their params (after their overrides) must agree on
``data`` and ``preprocess``. Every output folder is checked writable before any training; a
write error after training saves that run to a rescue folder (:func:`save_run`) and the other
runs are still written; the call then raises one line naming every rescue folder.
"""

from __future__ import annotations

import dataclasses
import platform
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from madtn_utils.config import to_dict
from madtn_utils.files import atomic_write_bytes, writable_dir, write_json
from madtn_utils.preprocess.domain import CLASSES
from madtn_utils.suite.params import RunParams, load_domain
from madtn_utils.suite.scores import PREDICTIONS_FILE, predictions_sha256
from madtn_utils.suite.version import code_version
from madtn_utils.suite.spec import (METRICS_FILE, RunSpec, RunWarning, group_key, run_config, run_hash, run_slug,
                                    spec_params)
from madtn_utils.train.tasks import parse_task, resolve_task
from madtn_utils.train.gap import GAP_METHOD, summarize_gap
from madtn_utils.train.loop import resolve_device
from madtn_utils.train.prepare import device_info
from madtn_utils.train.metrics import summarize
from madtn_utils.train.saved import model_file, sha256, state_bytes
from madtn_utils.train.stacked import fit_stacked, prepare_members, resolve_stacking

__all__ = ["train_runs", "train_runs_of_tasks", "train_run", "check_out_dir", "save_run", "class_notes", "per_seed_record", "run_summary"]


def train_run(params: RunParams, *, source: str, target: str, lam: float | None = None,
              components: str | None = None, seeds=None, overrides: dict | None = None, out_dir: str | Path,
              progress: bool = False) -> dict:
    """Train ``source -> target`` for every seed and write the run's outputs (module docstring).

    ``lam``, ``components`` and ``seeds`` default to the params' ``train.lam``,
    ``train.components`` and ``seeds``; ``overrides`` (dotted params keys, e.g.
    ``{"train.mmd_kernel": "median"}``) change the params of this run only. Returns the
    content of ``metrics.json`` (and ``out_dir``).
    """
    run = {"lam": lam, "components": components, "overrides": overrides or {}, "out_dir": out_dir}
    return train_runs(params, source=source, target=target, runs=[run], seeds=seeds, progress=progress)[0]


def train_runs_of_tasks(params: RunParams, *, source: str, target: str, runs, seeds=None,
                        progress: bool = False) -> list[dict]:
    """:func:`train_runs` for runs that may each name their own task: a run mapping may hold ``source`` and
    ``target`` (default: the arguments). The runs of each task and data (:func:`~madtn_utils.suite.spec.group_key`)
    train together in one :func:`train_runs` call, groups in the order of their first run; the records come
    back in the order of ``runs``. (The grid packs one-run groups of several tasks into one ``02_train``
    execution: :func:`~madtn_utils.suite.groups.pack_singles`.)"""
    runs = [dict(r) for r in runs]
    if not runs:
        raise ValueError("runs: expected at least one run to train, got none")
    groups: dict[tuple, list[int]] = {}
    for i, r in enumerate(runs):
        task = resolve_task(r.pop("source", source), r.pop("target", target))
        groups.setdefault(group_key(_spec(params, task, r)), []).append(i)
    records: list[dict | None] = [None] * len(runs)
    for key, idx in groups.items():
        src, tgt = key[0].split("->")
        done = train_runs(params, source=src, target=tgt, runs=[runs[i] for i in idx], seeds=seeds, progress=progress)
        for i, record in zip(idx, done):
            records[i] = record
    return records


def _spec(params: RunParams, task: str, run: dict) -> RunSpec:
    lam, components = run.get("lam"), run.get("components")
    lam = params.train.lam if lam is None or lam < 0 else lam
    return RunSpec(task, float(lam), components or params.train.components, tuple((run.get("overrides") or {}).items()))


def train_runs(params: RunParams, *, source: str, target: str, runs, seeds=None, progress: bool = False) -> list[dict]:
    """Train the ``runs`` of ``source -> target`` together and write each one's outputs (module docstring).

    ``runs``: mappings with ``lam`` (None or < 0: ``train.lam``), ``components`` (None or "":
    ``train.components``), ``overrides`` (dotted params keys) and ``out_dir`` (None or "":
    ``<run dir>/train/<run slug>``). Returns the ``metrics.json`` content of each run, in order,
    with its folder as ``out_dir``.
    """
    task = resolve_task(source, target)
    runs = list(runs)
    if not runs:
        raise ValueError("runs: expected at least one run to train, got none")
    seeds = list(params.seeds if seeds is None else seeds)
    run_params = dataclasses.replace(params, seeds=tuple(seeds))  # validated again (distinct seeds >= 0)
    specs = [_spec(run_params, task, r) for r in runs]
    if len(set(specs)) != len(specs):
        raise ValueError(f"runs: expected distinct runs, got {[run_slug(s) for s in specs]}")
    each = [spec_params(run_params, s) for s in specs]
    inputs = [(c["data"], c["preprocess"]) for c in (run_config(run_params, s) for s in specs)]
    for s, data in zip(specs, inputs):
        if data != inputs[0]:
            raise ValueError(f"runs: run {run_slug(s)} needs other data or preprocessing than {run_slug(specs[0])}: "
                             "expected runs of one data (group them by their data and preprocess overrides)")
    cfgs = [dataclasses.replace(p.train, lam=s.lam, components=s.components) for s, p in zip(specs, each)]
    outs = [check_out_dir(r.get("out_dir") or params.run_dir / "train" / run_slug(s)) for r, s in zip(runs, specs)]
    src_db, tgt_db = parse_task(task)
    t0 = time.perf_counter()
    src, _, src_info = load_domain(each[0], src_db)
    tgt, _, tgt_info = load_domain(each[0], tgt_db)
    t_data = time.perf_counter() - t0
    notes = class_notes(src, "source")
    members = prepare_members(src, tgt, [(c, seeds, f"{task} ({run_slug(s)})") for c, s in zip(cfgs, specs)])
    with _blas_threads(cfgs[0].cpu_threads):  # madtn train, a grid worker, gpu_check: one BLAS thread count
        flat = fit_stacked(members, tgt, progress=progress)
    notes += class_notes(tgt, "target")  # target labels: read only after training, to score
    for note in notes:
        warnings.warn(f"{task}: {note}", RunWarning, stacklevel=2)
    records, problems = [], []
    for k, (spec, p, cfg, out) in enumerate(zip(specs, each, cfgs, outs)):
        results = flat[k * len(seeds):(k + 1) * len(seeds)]
        device = resolve_device(cfg.device)
        preds = pd.concat([r.predictions for r in results], ignore_index=True)
        hist = pd.concat([r.history.assign(seed=r.seed) for r in results], ignore_index=True)
        models = {model_file(r.seed): state_bytes(r.model) for r in results if r.model is not None}
        per_seed = [per_seed_record(r) for r in results]
        for entry in per_seed:
            name = model_file(entry["seed"])
            if name in models:
                entry.update(model_file=name, model_sha256=sha256(models[name]))
        record = {
            "task": task, "source": src_db, "target": tgt_db, "lam": cfg.lam, "components": cfg.components,
            "overrides": dict(spec.overrides),
            "seeds": seeds, "run_hash": run_hash(run_params, spec), "n_source_samples": len(src),
            "n_source_maps": int(len(src.train_maps)), "n_target_samples": len(tgt),
            "summary": run_summary(results), "domain_gap_method": GAP_METHOD, "warnings": notes,
            "per_seed": per_seed,
            "device": str(device), "device_info": device_info(device, cfg),
            "stacking": {"engine": resolve_stacking(cfg, device, int(src.train_maps.shape[-1])), "runs": len(specs), "trainings": len(flat)},
            "host": platform.node(), "code": code_version(),
            "seconds": {"data": round(t_data, 3), "train": round(sum(r.seconds for r in results), 3)},
            "preprocess_cache": {src_db: src_info["folder"], tgt_db: tgt_info["folder"]},
            "run_config": run_config(run_params, spec), "train_config": to_dict(cfg), "params": to_dict(p),
        }
        try:
            save_run(out, preds, hist, record, models)
        except ValueError as exc:  # rescued: the other runs are still written
            problems.append(str(exc))
        records.append({**record, "out_dir": str(out)})
    if problems:
        more = f" ({len(problems) - 1} more run(s) rescued likewise: {'; '.join(problems[1:])})" if len(problems) > 1 else ""
        raise ValueError(problems[0] + more)
    return records


def _blas_threads(threads: int):
    """BLAS and OpenMP pools (numpy, scikit-learn: the domain gap) limited to ``train.cpu_threads`` while training and
    scoring, as torch is, so a run gives the same numbers from ``madtn train`` as from a grid worker (which the grid
    starts with ``cpu_count // workers`` of them); ``0``: left as set."""
    import contextlib

    if not threads:
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(threads)


def per_seed_record(result) -> dict:
    """One ``per_seed`` entry of ``metrics.json``: seed, the target metrics, the domain gap of
    :mod:`madtn_utils.train.gap` as ``gap_<key>`` (``gap_mmd2_median``, ``gap_domain_clf_bacc``,
    ``gap_median_d2``, and ``gap_init_*`` for the untrained network), seconds."""
    return {"seed": result.seed, **result.metrics, **{f"gap_{k}": v for k, v in result.gap.items()},
            "seconds": round(result.seconds, 3)}


def run_summary(results) -> dict:
    """:func:`~madtn_utils.train.metrics.summarize` plus ``domain_gap``: ``{key: {"mean", "std"}}``
    over seeds for every gap key (``mmd2_median``, ``domain_clf_bacc``, ``median_d2``, ``init_*``)."""
    return {**summarize(results), "domain_gap": summarize_gap(r.gap for r in results)}


def check_out_dir(out_dir: str | Path) -> Path:
    """``out_dir`` created and shown writable (a probe file) before any work; ValueError naming it otherwise."""
    return writable_dir(out_dir, f"out_dir {str(out_dir)!r}")


def save_run(out: Path, preds: pd.DataFrame, hist: pd.DataFrame, record: dict, models: dict | None = None) -> None:
    """Write the saved weights (``models``: file name -> bytes), predictions, history, then ``metrics.json``
    (last, atomically), with the predictions' content hash put in ``record`` as ``predictions_sha256``. On a write error nothing finished is lost: the files go to a fresh rescue folder
    under the system temp dir, named in the error."""
    files = {**(models or {}), PREDICTIONS_FILE: preds.to_csv(index=False).encode(),
             "history.csv": hist.to_csv(index=False).encode()}
    record["predictions_sha256"] = predictions_sha256(files[PREDICTIONS_FILE])  # what tables check and score
    try:
        for name, data in files.items():
            atomic_write_bytes(out / name, data)
        write_json(out / METRICS_FILE, record)
    except OSError as exc:
        rescue = Path(tempfile.mkdtemp(prefix=f"madtn-rescue-{out.name}-"))
        for name, data in files.items():
            (rescue / name).write_bytes(data)
        write_json(rescue / METRICS_FILE, record)
        raise ValueError(f"out_dir {str(out)!r}: writing the results failed ({exc.strerror or exc}); the finished run "
                         f"was saved to {rescue} instead: expected a writable folder with free space") from None


def class_notes(data, role: str) -> list[str]:
    """Lines about classes missing from a domain (an empty class trains or scores silently otherwise).

    >>> import numpy as np
    >>> from madtn_utils.preprocess.domain import DomainData
    >>> d = DomainData("smic-vis", np.zeros((2, 3, 8, 8), np.uint8), np.array([0, 1]), np.zeros((2, 3, 8, 8), np.uint8),
    ...                np.array([0, 0]), ("a", "b"), ("s1", "s1"))
    >>> class_notes(d, "target")
    ['target smic-vis has no negative, surprise sample: its scores cover 1 of 3 classes']
    """
    present = set(np.asarray(data.labels).tolist())
    missing = [c for i, c in enumerate(CLASSES) if i not in present]
    if not missing:
        return []
    return [f"{role} {data.name} has no {', '.join(missing)} sample: "
            + (f"its scores cover {len(present)} of {len(CLASSES)} classes" if role == "target"
               else f"the model never sees {'that class' if len(missing) == 1 else 'those classes'}")]
