"""The real-data study (``--only real``, notebook 10): MADTN's network on the real flow of the
composite set, with paired statistics over seeds.

The runs (:func:`~madtn_utils.suite.grid.real_specs`) are ordinary grid runs whose data is the
composite set (override ``data.source: composite``). This module reads their per-seed results
(:func:`real_values`), names each run's variant (:func:`variant_label`), and makes:

- :func:`real_table`: per task and variant, accuracy mean ± std over seeds and the paired
  difference to λ = 0 over the same seeds with its 95% intervals (:mod:`~madtn_utils.suite.paired`);
- :func:`sweep_table`: the λ sweep of the paper's kernel, paired against λ = 0 likewise;
- the within-database reference (:func:`run_loso`, :func:`loso_table`): leave-one-subject-out at
  λ = 0 in each database (:mod:`~madtn_utils.train.loso`), each (database, seed) a file under
  ``<run>/real/loso/`` holding the hash of what made it (resumed when it matches).
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from madtn_utils.config import config_hash, to_dict
from madtn_utils.files import write_json
from madtn_utils.preprocess.domain import FULL
from madtn_utils.suite.paired import paired_table
from madtn_utils.suite.spec import matching_records

__all__ = ["REFERENCE", "variant_label", "seed_values", "real_values", "ordered_variants", "real_table", "sweep_table", "loso_hash", "run_loso",
           "loso_table", "display_table"]

#: The variant every other is compared with.
REFERENCE = "λ = 0"
_CONTROL_NAMES = {"permute_source_labels": "control: source labels permuted", "zero_input": "control: input zeroed",
                  "flip_mmd": "control: MMD sign flipped"}


def variant_label(lam: float, overrides: dict, params_lam: float) -> str | None:
    """The study's name of a run: ``λ = 0``, ``paper kernel``, ``median kernel``, ``L2 features``, a control,
    or ``λ = x`` for another point of the sweep; None for a run that is not the study's.

    >>> variant_label(0.0, {"data.source": "composite"}, 2.0), variant_label(2.0, {"data.source": "composite"}, 2.0)
    ('λ = 0', 'paper kernel')
    >>> variant_label(2.0, {"data.source": "composite", "train.control": "zero_input"}, 2.0)
    'control: input zeroed'
    """
    other = {k: v for k, v in overrides.items() if k != "data.source"}
    if overrides.get("data.source") != "composite":
        return None
    if not other:
        return REFERENCE if lam == 0 else ("paper kernel" if np.isclose(lam, params_lam) else f"λ = {lam:g}")
    if not np.isclose(lam, params_lam) or len(other) != 1:
        return None
    (key, value), = other.items()
    names = {("train.mmd_kernel", "median"): "median kernel", ("train.mmd_features", "l2"): "L2 features",
             ("train.alignment", value): f"{value.upper() if isinstance(value, str) else value} alignment"}
    if key == "train.control":
        return _CONTROL_NAMES.get(value)
    return names.get((key, value))


def seed_values(run_root, params, label) -> pd.DataFrame:
    """One row per run and seed of the runs that ``label(lam, overrides)`` names (None: left out): task, variant,
    lam, seed, accuracy, mean_f1, uar, majority (the target's majority rate, from the run's confusion), run.
    Only runs whose hash matches ``params``."""
    rows = []
    for rec in matching_records(run_root, params):
        name = label(float(rec["lam"]), rec.get("overrides") or {}) if rec["components"] == FULL else None
        if name is None:
            continue
        for s in rec["per_seed"]:
            conf = np.asarray(s["confusion"], dtype=float)
            rows.append({"task": rec["task"], "variant": name, "lam": float(rec["lam"]), "seed": int(s["seed"]),
                         "accuracy": s["accuracy"], "mean_f1": s["mean_f1"], "uar": s["uar"],
                         "majority": float(conf.sum(1).max() / conf.sum()), "run": rec["run"]})
    cols = ["task", "variant", "lam", "seed", "accuracy", "mean_f1", "uar", "majority", "run"]
    return pd.DataFrame(rows, columns=cols)


def real_values(run_root, params) -> pd.DataFrame:
    """:func:`seed_values` of the real-data study's runs, named by :func:`variant_label`."""
    return seed_values(run_root, params, lambda lam, o: variant_label(lam, o, float(params.train.lam)))


def ordered_variants(values: pd.DataFrame, variants) -> pd.DataFrame:
    """The rows of ``values`` whose variant is in ``variants``, sorted by task, that order, then seed."""
    order = {v: i for i, v in enumerate(variants)}
    keep = values[values["variant"].isin(order)]
    return keep.assign(_o=keep["variant"].map(order)).sort_values(["task", "_o", "seed"], kind="stable").drop(columns="_o")


def real_table(values: pd.DataFrame, *, metric: str = "accuracy") -> pd.DataFrame:
    """Per task and variant (λ = 0, the paper's kernel, the other variants, the controls): mean, std, and the
    paired difference to λ = 0 (``diff_*``, 95% t and bootstrap intervals, seeds above/below, verdict), and the
    target's majority rate."""
    variants = [REFERENCE, "paper kernel", "median kernel", "L2 features"]
    variants += sorted(v for v in set(values["variant"]) if v.endswith("alignment"))
    variants += list(_CONTROL_NAMES.values())
    part = ordered_variants(values, variants)
    table = paired_table(part, reference=REFERENCE, value=metric)
    majority = part.groupby("task")["majority"].first()
    return table.assign(majority=table["task"].map(majority))


def sweep_table(values: pd.DataFrame, *, lambdas, params_lam: float) -> pd.DataFrame:
    """The λ sweep of the paper's kernel: per task and λ, accuracy mean ± std and the paired difference to λ = 0."""
    names = {float(x): (REFERENCE if x == 0 else ("paper kernel" if np.isclose(x, params_lam) else f"λ = {x:g}"))
             for x in lambdas}
    part = ordered_variants(values, list(dict.fromkeys(names.values())))
    table = paired_table(part, reference=REFERENCE)
    lam_of = {v: k for k, v in names.items()}
    return table.assign(lam=table["variant"].map(lam_of)).sort_values(["task", "lam"], kind="stable").reset_index(drop=True)


def _loso_config(params, database: str, seed: int) -> dict:
    from madtn_utils.preprocess.composite import COMPOSITE_VERSION
    from madtn_utils.train.hparams import TRAIN_VERSION

    cfg = dataclasses.replace(params.train, lam=0.0)
    return {"protocol": "loso", "database": database, "seed": int(seed), "composite": to_dict(params.data.composite),
            "composite_version": COMPOSITE_VERSION, "train": to_dict(cfg), "train_version": TRAIN_VERSION}


def loso_hash(params, database: str, seed: int) -> str:
    """The hash of everything that makes one LOSO seed of ``database`` (its file counts only when it matches)."""
    return config_hash(_loso_config(params, database, seed))


def _loso_path(run_root, database: str, seed: int) -> Path:
    return Path(run_root) / "real" / "loso" / f"{database}_seed{seed}.json"


def _loso_unit(params, database: str, seed: int) -> dict:
    from madtn_utils.suite.params import load_domain
    from madtn_utils.train.loso import loso_seed
    composite = dataclasses.replace(params, data=dataclasses.replace(params.data, source="composite"))
    data, _, _ = load_domain(composite, database)
    metrics, preds = loso_seed(data, dataclasses.replace(params.train, lam=0.0), seed)
    return {"database": database, "seed": int(seed), "loso_hash": loso_hash(params, database, seed),
            "config": _loso_config(params, database, seed), "n_samples": len(data),
            "n_subjects": int(preds["fold"].nunique()), **metrics,
            "predictions": preds[["sample_id", "fold", "label", "pred"]].to_dict("list")}


def run_loso(params, run_root, databases, *, jobs: int | None = None) -> list[dict]:
    """Run the LOSO seeds (the first ``experiments.real_loso_seeds`` of ``params.seeds``) of ``databases`` that
    are not done under ``params`` (resume), in ``jobs`` worker processes; each written as soon as it is done."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    from madtn_utils.procs import die_with_parent

    seeds = list(params.seeds[:params.experiments.real_loso_seeds])
    units = [(db, s) for db in databases for s in seeds]
    todo = [(db, s) for db, s in units if _recorded_hash(_loso_path(run_root, db, s)) != loso_hash(params, db, s)]
    jobs = max(1, min(jobs or params.n_jobs, len(todo)))
    if todo:
        with ProcessPoolExecutor(jobs, mp_context=mp.get_context("forkserver"), initializer=die_with_parent,
                                 initargs=(os.getpid(),)) as pool:
            futures = [pool.submit(_loso_unit, params, db, s) for db, s in todo]
            try:
                for fut in as_completed(futures):
                    rec = fut.result()
                    write_json(_loso_path(run_root, rec["database"], rec["seed"]), rec)
            except BaseException:
                for fut in futures:
                    fut.cancel()
                raise
    return [json.loads(_loso_path(run_root, db, s).read_text()) for db, s in units]


def _recorded_hash(path: Path) -> str | None:
    try:
        return json.loads(path.read_text()).get("loso_hash")
    except (OSError, ValueError, AttributeError):
        return None


def loso_table(records, values: pd.DataFrame) -> pd.DataFrame:
    """Per database: LOSO accuracy, mean F1 and UAR (%, mean ± std over its seeds), and the cross-database accuracy
    at λ = 0 of the tasks with that database as target (``values`` of :func:`real_values`) over the same seeds."""
    from madtn_utils.train.tasks import parse_task

    def pm(x) -> str:
        x = 100 * np.asarray(x, dtype=float)
        return f"{x.mean():.2f} ± {x.std(ddof=1) if len(x) > 1 else 0.0:.2f}"

    rows = []
    loso = pd.DataFrame(records)
    for db, part in loso.groupby("database", sort=False):
        cross = values[(values["variant"] == REFERENCE) & values["task"].map(lambda t: parse_task(t)[1] == db)
                       & values["seed"].isin(part["seed"])]
        rows.append({"database": db, "samples": int(part["n_samples"].iloc[0]), "subjects": int(part["n_subjects"].iloc[0]),
                     "seeds": len(part), "LOSO accuracy (%)": pm(part["accuracy"]), "LOSO mean F1 (%)": pm(part["mean_f1"]),
                     "LOSO UAR (%)": pm(part["uar"]),
                     "cross-database, λ = 0, as target (%)": "; ".join(
                         f"{t.replace('->', '→')} {pm(c['accuracy'])}" for t, c in cross.groupby("task")) or "—"})
    return pd.DataFrame(rows)


def display_table(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`real_table` or :func:`sweep_table` as text (%): ``mean ± std``, the paired difference to λ = 0 with its
    95% t interval (and the bootstrap's), seeds above / below / equal, and the verdict.

    >>> t = pd.DataFrame({"task": ["C->H"] * 2, "variant": ["λ = 0", "paper kernel"], "seeds": [2, 2], "mean": [0.5, 0.6],
    ...                   "std": [0.1, 0.0], "diff_mean": [np.nan, 0.1], "diff_t_low": [np.nan, 0.0],
    ...                   "diff_t_high": [np.nan, 0.2], "diff_boot_low": [np.nan, 0.05], "diff_boot_high": [np.nan, 0.15],
    ...                   "above": [np.nan, 2], "below": [np.nan, 0], "equal": [np.nan, 0], "verdict": [np.nan, "higher"]})
    >>> display_table(t).iloc[1, 2:].tolist()
    ['60.00 ± 0.00', '+10.00 [+0.00, +20.00]', '[+5.00, +15.00]', '2 / 0 / 0', 'higher']
    """
    rows = []
    for r in table.itertuples():
        paired = isinstance(getattr(r, "verdict", None), str)
        rows.append({"task": r.task.replace("->", "→"), "variant": r.variant,
                     "accuracy (%)": f"{100 * r.mean:.2f} ± {100 * r.std:.2f}",
                     "− λ = 0, 95% t interval": (f"{100 * r.diff_mean:+.2f} [{100 * r.diff_t_low:+.2f}, "
                                                  f"{100 * r.diff_t_high:+.2f}]") if paired else "—",
                     "bootstrap interval": f"[{100 * r.diff_boot_low:+.2f}, {100 * r.diff_boot_high:+.2f}]" if paired else "—",
                     "seeds above / below / equal": f"{r.above:.0f} / {r.below:.0f} / {r.equal:.0f}" if paired else "—",
                     "verdict": r.verdict if paired else f"reference ({r.seeds} seeds)"})
    return pd.DataFrame(rows)
