"""Checks at the edge that need the data's sizes or the run's folders (the data-free ones: :mod:`~madtn_utils.suite.limits`).

- :func:`check_paths`: every run folder the grid will write fits the file system (name and path lengths);
- :func:`check_baseline_sizes`: the baselines' dimensions (``n_components`` of SA, GFK and TCA, TKL's
  ``n_eig``) against the sizes of the domains they are fitted on, for the label-free hyperparameters and,
  under ``baselines.oracle``, every value of the oracle grid: one line naming the full key and what fits,
  before any feature is computed (not a "failed" row per task once notebook 08 has run);
- :func:`check_features`: the LBP-TOP features of a database are finite and not all alike, else one line
  naming the database and its cache entry.

>>> limit, _ = DIMENSIONS["SA"][1](9, 12), None
>>> limit
8
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from madtn_utils.config import to_dict
from madtn_utils.suite.limits import check_path

__all__ = ["DIMENSIONS", "check_paths", "domain_sizes", "check_baseline_sizes", "feature_entry", "check_features"]

#: method -> (its dimension hyperparameter, the largest value that fits (n_source, n_target), what bounds it).
DIMENSIONS = {
    "SA": ("n_components", lambda ns, nt: min(ns, nt) - 1, "the fewest samples of the two domains minus 1"),
    "GFK": ("n_components", lambda ns, nt: min(ns, nt) - 1, "the fewest samples of the two domains minus 1"),
    "TCA": ("n_components", lambda ns, nt: ns + nt - 1, "the samples of both domains minus 1"),
    "TKL": ("n_eig", lambda ns, nt: nt, "the target's samples"),
}


def check_paths(params, specs) -> None:
    """ValueError naming ``params.output_dir`` when a run folder of ``specs`` (with the files written in it) is too
    long a path or name for the file system."""
    from madtn_utils.suite.grid import run_dir_of

    for spec in specs:
        check_path(run_dir_of(params.run_dir, spec), "params.output_dir (with params.name and the run's folder)", below=64)


def domain_sizes(params) -> list[tuple[str, str, int, int]]:
    """``(features, task, n_source, n_target)`` of every baseline fit whose sizes the indexes give (the params'
    databases, the composite set's flow), before any feature is computed."""
    from madtn_utils.suite.baselines import DATABASES_FEATURES, FLOW_FEATURES, baseline_jobs
    from madtn_utils.suite.params import load_composite, load_index
    from madtn_utils.train.tasks import parse_task

    counts, out = {}, []
    for kind, task in baseline_jobs(params):
        if kind not in (DATABASES_FEATURES, FLOW_FEATURES):
            continue
        for db in parse_task(task):
            if (kind, db) not in counts:
                index = load_index(params, db, quiet=True) if kind == DATABASES_FEATURES else load_composite(params).database(db)
                counts[kind, db] = len(index.samples)
        s, t = parse_task(task)
        out.append((kind, task, counts[kind, s], counts[kind, t]))
    return out


def _domains_text(task: str, ns: int, nt: int) -> str:
    from madtn_utils.train.tasks import parse_task

    s, t = parse_task(task)
    return f"on {task} the source {s} has {ns} samples and the target {t} {nt}"


def check_baseline_sizes(params, sizes=None) -> None:
    """ValueError naming ``params.baselines.hparams.<method>.<key>`` (or ``grids``) when a selected method's dimension
    does not fit the smallest of ``sizes`` (default :func:`domain_sizes`), with what fits."""
    b = params.baselines
    sizes = domain_sizes(params) if sizes is None else sizes
    problems = []
    for method in b.selected:
        try:
            _check_method(b, method, sizes)
        except ValueError as exc:
            problems.append(str(exc))
    if problems:  # one line: the first in full, the keys of the others
        more = [p.split(":", 1)[0] for p in problems[1:]]
        raise ValueError(problems[0] + (f" (and likewise {', '.join(more)})" if more else ""))


def _check_method(b, method: str, sizes) -> None:
    from madtn_utils.baselines import ORACLE_GRIDS
    from madtn_utils.baselines.config import method_hparams

    if method not in DIMENSIONS or not sizes:
        return
    key, top, why = DIMENSIONS[method]
    _, task, ns, nt = min(sizes, key=lambda x: top(x[2], x[3]))
    limit, where = top(ns, nt), _domains_text(task, ns, nt)
    value = method_hparams(b, method)[key]
    given = key in b.hparams.get(method, {})
    name = f"params.baselines.hparams.{method}.{key}"
    if method == "TKL" and value is None:
        _, task, ns, nt = min(sizes, key=lambda x: x[3])
        if nt - 10 < 1:
            raise ValueError(f"{name}: null (min(n_t - 10, 200) eigenvectors) leaves none: "
                             f"{_domains_text(task, ns, nt)}: expected an integer in 1..{nt}")
    elif isinstance(value, int) and not isinstance(value, bool) and value > limit:
        raise ValueError(f"{name}: {value}{'' if given else ' (the default)'} does not fit the data: {where}, so "
                         f"{method} fits {key} up to {limit} ({why}): expected an integer in 1..{limit}")
    if not b.oracle:
        return
    grid = b.grids.get(method, ORACLE_GRIDS.get(method, {}))
    values = list(grid.get(key, ()))
    big = [v for v in values if isinstance(v, int) and not isinstance(v, bool) and v > limit]
    if big:
        fits = [v for v in values if v not in big] or sorted({max(1, limit // 4), max(1, limit // 2), max(1, limit)})
        own = "the grid" if method in b.grids else "the default grid (baselines.ORACLE_GRIDS)"
        raise ValueError(f"params.baselines.grids.{method}.{key}: {', '.join(map(str, big))} of {own} {values} do not "
                         f"fit the data: {where}, so {method} fits {key} up to {limit} ({why}): expected values in "
                         f"1..{limit}, e.g. grids: {{{method}: {{{key}: {fits}}}}}")


def feature_entry(params, index) -> str:
    """The LBP-TOP cache entry of ``index`` under ``params`` (the folder whose ``config.json`` names its root, sample
    list and LBP-TOP config; the newest if several), or a pattern where none is found."""
    want = to_dict(params.baselines.lbptop)
    found = []
    for folder in Path(params.cache_dir).glob(f"lbptop-{index.database}-*"):
        try:
            meta = json.loads((folder / "config.json").read_text())
        except (OSError, ValueError):
            continue
        if meta.get("root") == str(index.root) and meta.get("config") == want \
                and meta.get("sample_list") == index.sample_list:
            found.append(folder)
    if not found:
        return str(Path(params.cache_dir) / f"lbptop-{index.database}-*")
    return str(max(found, key=lambda f: f.stat().st_mtime_ns))


def check_features(features, params, index) -> None:
    """ValueError naming the database and its cache entry when its LBP-TOP features hold non-finite values or are
    the same for every sample (every method would then predict one class)."""
    X = np.asarray(features.X)
    bad = ~np.isfinite(X)
    if bad.any():
        rows = np.flatnonzero(bad.any(1))
        ids = ", ".join(str(features.sample_ids[i]) for i in rows[:3]) + (" ..." if len(rows) > 3 else "")
        raise ValueError(f"{features.database}: the LBP-TOP features of {len(rows)} sample(s) ({ids}) hold "
                         f"{int(bad.sum())} non-finite value(s), in the cache entry {feature_entry(params, index)}: "
                         "expected finite features (delete that folder to compute them again)")
    if len(X) > 1 and not np.ptp(X, axis=0).any():
        raise ValueError(f"{features.database}: every one of its {len(X)} samples has the same LBP-TOP features, in the "
                         f"cache entry {feature_entry(params, index)}: expected features that differ between samples "
                         "(delete that folder to compute them again; check the clips' frames)")
