"""The baseline records and the baseline rows of Tables 3 and 4.

Notebook 08 fits them (:mod:`madtn_utils.suite.baseline_runs`): every selected method of
:mod:`madtn_utils.baselines`, label-free, on three feature sets (the ``features`` of a record):

- ``databases``: the LBP-TOP features of the params' databases, for every task of ``experiments.tasks``
  (:func:`database_tasks`; none when the params read the composite flow set only), one record
  ``<run>/baselines/<task>.json``: the "[ours]" rows of Tables 3 and 4;
- ``real LBP-TOP``: with ``baselines.real_features``, the LBP-TOP features Zong et al. published for
  SMIC-VIS and SMIC-NIR (:mod:`madtn_utils.baselines.real`), for V->N and N->V, records
  ``<run>/baselines/real/<task>.json``: the "[ours, real LBP-TOP]" rows of Table 3;
- ``real flow``: with ``data.composite``, the flattened real optical flow of the composite set
  (:mod:`madtn_utils.baselines.flow`), for the real-data study's tasks, records
  ``<run>/baselines/flow/<task>.json``: beside MADTN's network in the report's real-data section.

Under ``baselines.oracle: true`` each method is also swept over its oracle grid and the setting
with the best *target* accuracy kept (the audit; never a row of Tables 3 and 4). A method that
raises on a task is recorded as failed, with its message, and the others go on.

Each record holds its hash (:func:`record_hash`: everything that determines its numbers, with
:data:`BASELINES_VERSION`); :func:`collect_baselines` reads the records of the params at hand only.
Tables here: :func:`baseline_long` (Tables 3-4) and :func:`oracle_table` (the audit); the others in
:mod:`madtn_utils.suite.baseline_tables`.
"""

from __future__ import annotations

import functools
import hashlib
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from madtn_utils.baselines.config import method_hparams, oracle_settings
from madtn_utils.baselines.real import LABEL_CODES, REAL_TASKS
from madtn_utils.config import config_hash, to_dict
from madtn_utils.suite.spec import RunSpec, RunWarning, run_config
from madtn_utils.train.tasks import TASKS, TASKS_TYPE_I, TASKS_TYPE_II

__all__ = ["BASELINES_VERSION", "RESULTS_DIR", "KINDS", "DATABASES_FEATURES", "REAL_FEATURES", "FLOW_FEATURES",
           "REAL_LABEL_CODES", "database_tasks", "flow_tasks", "baseline_jobs", "baseline_tables", "baseline_config",
           "baseline_hash", "file_digest", "real_config", "flow_config", "record_hash", "result_path", "recorded",
           "collect_baselines", "baseline_long", "oracle_table"]

#: Bump when the baselines' computation changes, so old result files stop counting (2: issue 17's fidelity fixes).
BASELINES_VERSION = 2
RESULTS_DIR = "baselines"
#: The ``features`` of a record: the params' databases, the published real LBP-TOP, the composite set's real flow.
DATABASES_FEATURES, REAL_FEATURES, FLOW_FEATURES = "databases", "real LBP-TOP", "real flow"
#: Each kind of features -> the folder of its records under ``<run>/baselines``.
KINDS = {DATABASES_FEATURES: "", REAL_FEATURES: "real", FLOW_FEATURES: "flow"}
_SOURCES = {DATABASES_FEATURES: "ours", REAL_FEATURES: "ours, real LBP-TOP"}  # the rows' labels in Tables 3-4
#: What the real rows' label codes mean (recorded in each real record; see :mod:`madtn_utils.baselines.real`).
REAL_LABEL_CODES = {str(code - 1): f"code {code}: {meaning}" for code, meaning in LABEL_CODES.items()}


def database_tasks(params) -> tuple[str, ...]:
    """The tasks fitted on the params' own databases: ``experiments.tasks``, or none when the params read the
    composite flow set (``data.source: composite``: no clips to compute LBP-TOP from)."""
    return () if getattr(params.data, "source", "databases") == "composite" else tuple(params.experiments.tasks)


def flow_tasks(params) -> tuple[str, ...]:
    """The tasks fitted on the real flow: the real-data study's (``experiments.real_tasks``, or every ordered pair of
    the databases present in ``data.composite``); none without ``data.composite``."""
    if getattr(params.data, "composite", None) is None:
        return ()
    from madtn_utils.suite.grid import real_tasks

    return tuple(real_tasks(params))


def baseline_jobs(params) -> list[tuple[str, str]]:
    """Every ``(features, task)`` fitted under ``params``: the databases' tasks, the real LBP-TOP's, the real flow's."""
    jobs = [(DATABASES_FEATURES, t) for t in database_tasks(params)]
    jobs += [(REAL_FEATURES, t) for t in REAL_TASKS] if params.baselines.real_features is not None else []
    return jobs + [(FLOW_FEATURES, t) for t in flow_tasks(params)]


def baseline_tables(params) -> tuple[str, ...]:
    """The tables (``table3``, ``table4``) that get baseline rows under ``params``: Table 3 for a TYPE-I task or the
    real features, Table 4 for a TYPE-II task."""
    tasks = database_tasks(params)
    return tuple(t for t, has in (("table3", any(x in TASKS_TYPE_I for x in tasks) or params.baselines.real_features),
                                  ("table4", any(x in TASKS_TYPE_II for x in tasks))) if has)


def _methods_config(b) -> dict:
    return {m: {"hparams": method_hparams(b, m), **({"oracle": oracle_settings(b, m)} if b.oracle else {})}
            for m in b.selected}


def baseline_config(params, task: str) -> dict:
    """Everything that determines the baseline numbers of ``task`` on the params' databases, as plain data."""
    base = run_config(params, RunSpec(task, 0.0))
    b = params.baselines
    return {"task": task, "data": base["data"], "preprocess": base["preprocess"],
            "preprocess_version": base["preprocess_version"], "lbptop": to_dict(b.lbptop), "methods": _methods_config(b),
            "oracle": b.oracle, "version": BASELINES_VERSION}


def baseline_hash(params, task: str) -> str:
    """The hash of :func:`baseline_config`."""
    return record_hash(params, DATABASES_FEATURES, task)


@functools.lru_cache(maxsize=8)
def _digest(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def file_digest(path) -> str:
    """sha256 of the file at ``path`` (cached per path, size and modification time); "missing" if absent."""
    path = Path(path)
    if not path.is_file():
        return "missing"
    st = path.stat()
    return _digest(str(path), st.st_size, st.st_mtime_ns)


def real_config(params, task: str) -> dict:
    """Everything that determines the real-feature numbers of ``task`` (V->N or N->V): the two files' bytes
    (not their paths), the methods' settings and :data:`BASELINES_VERSION`."""
    files = params.baselines.real_features
    return {"task": task, "features": REAL_FEATURES, "sha256": {k: file_digest(getattr(files, k)) for k in ("vis", "nir")},
            "methods": _methods_config(params.baselines), "oracle": params.baselines.oracle, "version": BASELINES_VERSION}


def flow_config(params, task: str) -> dict:
    """Everything that determines the real-flow numbers of ``task``: the composite set (root, reader versions), the
    methods' settings and :data:`BASELINES_VERSION`."""
    from madtn_utils.baselines.flow import FLOW_VERSION
    from madtn_utils.preprocess.composite import COMPOSITE_VERSION

    return {"task": task, "features": FLOW_FEATURES, "composite": params.data.composite.root,
            "composite_version": COMPOSITE_VERSION, "flow_version": FLOW_VERSION,
            "methods": _methods_config(params.baselines), "oracle": params.baselines.oracle, "version": BASELINES_VERSION}


def record_hash(params, features: str, task: str) -> str:
    """The hash of the config of ``task`` on ``features`` (:func:`baseline_config`, :func:`real_config`,
    :func:`flow_config`)."""
    config = {DATABASES_FEATURES: baseline_config, REAL_FEATURES: real_config, FLOW_FEATURES: flow_config}[features]
    return config_hash(config(params, task))


def result_path(run_root, task: str, features: str = DATABASES_FEATURES) -> Path:
    """Where the record of ``task`` on ``features`` lives: ``baselines/[real/ | flow/]<task>.json``."""
    return Path(run_root) / RESULTS_DIR / KINDS[features] / f"{task.replace('->', '-')}.json"


def recorded(path: Path) -> dict | None:
    """The record at ``path``, or None when it is absent or unreadable."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None




def collect_baselines(run_root, params) -> pd.DataFrame:
    """One row per (features, task, method) of the records made under ``params``: the label-free metrics (NaN and
    ``failed`` = the message where the method raised), and the oracle's where it ran. Records of other settings
    are named in a :class:`RunWarning` and left out."""
    rows, stale = [], []
    root = Path(run_root) / RESULTS_DIR
    jobs = set(baseline_jobs(params))
    for features, folder in KINDS.items():
        for path in sorted((root / folder).glob("*.json")):
            rec = recorded(path) or {}
            if (features, rec.get("task")) not in jobs or rec.get("baseline_hash") != record_hash(params, features, rec["task"]):
                stale.append(str(path.relative_to(root)))
                continue
            for name, m in rec["methods"].items():
                o = rec["oracle"].get(name, {})
                rows.append({"features": features, "task": rec["task"], "method": name,
                             **{k: m.get(k, np.nan) for k in ("accuracy", "mean_f1", "uar")}, "failed": m.get("failed", ""),
                             "seconds": m["seconds"], "n_target": rec["n_target"],
                             "hparams": json.dumps(m["hparams"], sort_keys=True),
                             "oracle_accuracy": o.get("accuracy", np.nan), "oracle_mean_f1": o.get("mean_f1", np.nan),
                             "oracle_settings": o.get("settings", 0), "oracle_failed": o.get("failed_settings", 0),
                             "oracle_failure": o.get("first_failure", ""),
                             "oracle_best": _changed(m["hparams"], o["best"]) if o.get("best") else ""})
    if stale:
        warnings.warn(f"{run_root}: {len(stale)} baseline result file(s) were made with other settings and are left out "
                      f"(rerun with `madtn reproduce --only baselines`): {', '.join(stale)}", RunWarning, stacklevel=2)
    cols = ["features", "task", "method", "accuracy", "mean_f1", "uar", "failed", "seconds", "n_target", "hparams",
            "oracle_accuracy", "oracle_mean_f1", "oracle_settings", "oracle_failed", "oracle_failure", "oracle_best"]
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
    :func:`~madtn_utils.suite.tables.table_3_4`: source ``ours`` (the params' databases; an Average per method
    that has every task), then source ``ours, real LBP-TOP`` (the published features: V->N and N->V only).
    A failed fit has no cell (it is in :func:`failures_table`)."""
    tasks = list(tasks)
    rows = []
    for features, source in _SOURCES.items():
        got = baselines[baselines["task"].isin(tasks) & baselines["accuracy"].notna()
                        & (baselines.get("features", DATABASES_FEATURES) == features)]
        for name, g in got.groupby("method", sort=False):
            g = g.set_index("task").reindex([t for t in tasks if t in set(g["task"])])
            rows += [{"source": source, "method": name, "task": task, "mean_f1": r["mean_f1"],
                      "accuracy_percent": 100 * r["accuracy"]} for task, r in g.iterrows()]
            if len(g) == len(tasks):
                rows.append({"source": source, "method": name, "task": "Average", "mean_f1": g["mean_f1"].mean(),
                             "accuracy_percent": 100 * g["accuracy"].mean()})
    out = pd.DataFrame(rows, columns=["source", "method", "task", "mean_f1", "accuracy_percent"])
    return out.assign(table=table, protocol="TYPE-I" if table == 3 else "TYPE-II", mean_f1_std=np.nan,
                      accuracy_std=np.nan, n_seeds=1)


def oracle_table(baselines: pd.DataFrame) -> pd.DataFrame:
    """The audit on the params' databases: per method and task, label-free and oracle accuracy and their
    difference, with an average row per method (over the tasks it has); empty when the oracle did not run."""
    got = baselines[(baselines["oracle_settings"] > 0) & (baselines.get("features", DATABASES_FEATURES) == DATABASES_FEATURES)]
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
    methods = list(dict.fromkeys(got["method"]))
    out = pd.concat([t.drop(columns="_t"), avg], ignore_index=True)
    out = out.assign(_m=out["method"].map(methods.index), _a=out["task"].eq("Average")).sort_values(["_m", "_a"], kind="stable")
    return out.drop(columns=["_m", "_a"]).reset_index(drop=True)
