"""The reproduction, end to end: what ``madtn reproduce`` runs (notebooks and bench may call :func:`reproduce`).

0. check what can be checked before any work: the params (paths that the file system can hold:
   :func:`~madtn_utils.suite.checks.check_paths`), the selection (``only``: every selected output must
   get runs), ``jobs``, the Dask scheduler (connected first, 5 s at most); take the run folder's lock
   (:class:`~madtn_utils.procs.RunLock`) and remove the partial and temporary files that dead processes
   left in it; the params file of the run folder must be the same (or ``overwrite``);
1. preprocess every database the grid needs (once, through the cache); with ``baselines`` selected, check
   the baselines' dimensions against the sizes of the databases (:func:`~madtn_utils.suite.checks.check_baseline_sizes`);
2. execute the 02_train runs of the grid that are not finished (resume), locally in
   ``jobs`` processes or on a Dask cluster (``scheduler``);
3. with ``baselines`` selected, execute notebook 08: LBP-TOP features and the baselines of
   every task (label-free; the oracle audit when the params ask), resumable per task;
4. execute notebooks 03–11 for the selected outputs (``jobs`` at a time beside 08; 03 after
   08), which collect the runs and write tables (CSV, Markdown, LaTeX) and figures (PNG, PDF);
   Tables 3-4 carry the baseline rows;
5. write ``report.html`` (what this call's notebooks wrote, for the selected outputs only:
   :func:`~madtn_utils.suite.report.write_report`), print the runs' data warnings (a class missing from a
   source or target: recorded by the runs and the baselines, one line each) and return the report's path.

A failing notebook (a grid run or 03–11) stops the command with one line naming the
executed notebook to open (``<name>.failed.ipynb``).
"""

from __future__ import annotations

import json
import os
import time
import warnings
from pathlib import Path

from madtn_utils.procs import RunLock, remove_stale

__all__ = ["reproduce", "select_outputs", "check_jobs", "parse_only", "with_tables", "save_params"]


def save_params(run_root: Path, data: dict, overwrite: bool) -> None:
    """Write ``run_root/params.json``; ValueError when the folder holds a reproduction of other params (unless
    ``overwrite``). Keys added since the old file was written count at their defaults."""
    from madtn_utils.config import to_dict
    from madtn_utils.files import write_json
    from madtn_utils.suite.params import RunParams

    path = run_root / "params.json"
    if path.is_file():
        old = _with_defaults(json.loads(path.read_text()), to_dict(RunParams()))
        if old != data and not overwrite:
            changed = sorted(k for k in set(old) | set(data) if old.get(k) != data.get(k))
            raise ValueError(f"{run_root}: holds a reproduction made with other params (differing: {', '.join(changed)}): "
                             "expected the same params to resume; give the run another `name`, or pass --overwrite")
    write_json(path, data)


def _with_defaults(old: dict, defaults: dict) -> dict:
    """``old`` with every key it lacks, at any depth of its sections, taken from ``defaults`` (a params.json
    saved before ``train.alignment`` existed resumes under params that leave it at its default).

    >>> _with_defaults({"train": {"lam": 1.0}, "seeds": [0]}, {"train": {"lam": 2.0, "alignment": "mmd"}, "seeds": [0]})
    {'train': {'lam': 1.0, 'alignment': 'mmd'}, 'seeds': [0]}
    """
    out = dict(old)
    for key, value in defaults.items():
        if key not in out:
            out[key] = value
        elif isinstance(value, dict) and isinstance(out[key], dict):
            out[key] = _with_defaults(out[key], value)
    return out


def check_jobs(jobs: int | None, what: str = "parallel runs") -> int | None:
    """``--jobs``: None (the params' jobs), 0 (all cores) or a positive count; ValueError naming --jobs otherwise."""
    if jobs is not None and jobs < 0:
        raise ValueError(f"--jobs: expected 0 (all cores) or a positive number of {what}, got {jobs}")
    return jobs


def parse_only(text: str | None) -> tuple[str, ...] | None:
    """``--only table3,fig6`` as a tuple (None: every output); ValueError naming --only for a blank selection."""
    from madtn_utils.suite.grid import OUTPUTS

    if text is None:
        return None
    only = tuple(dict.fromkeys(o.strip() for o in text.split(",") if o.strip()))
    if only == ("all",):
        return OUTPUTS
    if not only:
        raise ValueError(f"--only {text!r}: expected a comma-separated selection of {', '.join(OUTPUTS)} (or all)")
    return only


def select_outputs(params, only) -> tuple[str, ...]:
    """The outputs of ``only`` (a tuple or the ``--only`` text) under ``params``: None = the default outputs, ``all`` =
    every output these params can make (``real`` only with ``data.composite``, ``shift`` only with synthetic data)."""
    from madtn_utils.suite.grid import DEFAULT_OUTPUTS, OUTPUTS

    only = parse_only(only) if isinstance(only, str) else only
    if only is not None and tuple(only) == OUTPUTS:
        only = tuple(o for o in only if not (o == "real" and params.data.composite is None)
                     and not (o == "shift" and params.data.synthetic is None))
    return tuple(DEFAULT_OUTPUTS if only is None else only)


def reproduce(params_file: str, *, only=None, jobs: int | None = None, scheduler: str | None = None,
              overwrite: bool = False, progress: bool = True) -> Path:
    """Run the reproduction (module docstring); returns the report's path.

    ``only``: a selection of outputs (a tuple, or the ``--only`` text); None: the default outputs. Everything
    that can be checked is checked before any work: the params, the selection (each selected output must get
    runs), ``jobs`` and the scheduler (connected first, a few seconds at most).
    """
    from madtn_utils.suite.checks import check_paths
    from madtn_utils.suite.execute import connect
    from madtn_utils.suite.grid import grid_for
    from madtn_utils.suite.params import load_params

    check_jobs(jobs)
    only = parse_only(only) if isinstance(only, str) else only
    params_file = str(Path(params_file).resolve())  # the notebooks run elsewhere: they get the absolute path
    params = load_params(params_file)
    only = select_outputs(params, only)
    specs = grid_for(params, only)
    check_paths(params, specs)
    jobs = params.n_jobs if jobs is None else (jobs or os.cpu_count() or 1)
    client = connect(scheduler) if scheduler else None
    try:
        run_root = params.run_dir
        run_root.mkdir(parents=True, exist_ok=True)
        with RunLock(run_root):
            remove_stale(run_root, *run_root.glob("*/"), *run_root.glob("runs/*/"))
            return _reproduce_locked(params, params_file, only, specs, run_root, jobs=jobs, scheduler=client,
                                     overwrite=overwrite, progress=progress)
    finally:
        if client is not None:
            client.close()


def _reproduce_locked(params, params_file, only, specs, run_root: Path, *, jobs, scheduler, overwrite, progress) -> Path:
    from madtn_utils.config import config_hash, to_dict
    from madtn_utils.files import write_json
    from madtn_utils.suite.checks import check_baseline_sizes
    from madtn_utils.suite.execute import run_grid
    from madtn_utils.suite.params import load_domain
    from madtn_utils.suite.notes import product_stamps, run_notes
    from madtn_utils.suite.scores import RunWarning
    from madtn_utils.suite.report import write_report
    from madtn_utils.suite.spec import spec_params
    from madtn_utils.train.tasks import parse_task

    save_params(run_root, to_dict(params), overwrite)
    stages = {}
    t0 = time.perf_counter()
    inputs = {}  # every (data, preprocessing) the runs need, once: a shift study needs its own databases
    for spec in specs:
        p = spec_params(params, spec)
        for db in parse_task(spec.task):
            inputs.setdefault((config_hash(p.data, p.preprocess), db), (p, db))
    if "baselines" in only:  # LBP-TOP crops with the face boxes of the params' own preprocessing
        from madtn_utils.suite.baselines import database_tasks

        for db in {db for task in database_tasks(params) for db in parse_task(task)}:
            inputs.setdefault((config_hash(params.data, params.preprocess), db), (params, db))
        check_baseline_sizes(params)  # dimensions the databases can hold, before any fit
    for p, db in sorted(inputs.values(), key=lambda v: (config_hash(v[0].data, v[0].preprocess), v[1])):
        load_domain(p, db, progress=progress)
    stages["data_and_preprocess"] = round(time.perf_counter() - t0, 1)
    t0 = time.perf_counter()
    results = run_grid(params_file, specs, run_root, jobs=jobs, scheduler=scheduler, progress=progress)
    stages["grid"] = round(time.perf_counter() - t0, 1)
    stages["runs_executed"] = sum(r["status"] == "executed" for r in results)
    stages["runs_done_before"] = sum(r["status"] == "done before" for r in results)
    t0 = time.perf_counter()
    before = product_stamps(run_root)  # the report shows only what the notebooks below write
    selected = _run_notebooks(params, params_file, only, run_root, jobs, stages, t0)
    stages["notebooks"] = round(time.perf_counter() - t0, 1)
    notes = run_notes(run_root, params)
    report = write_report(run_root, to_dict(params), only=selected, before=before, notes=notes)
    for line in notes["warnings"]:  # the kernels' warnings never reach the terminal: the runs' own, once here
        warnings.warn(line, RunWarning, stacklevel=2)
    write_json(run_root / "stages.json", stages)
    if progress:
        print(f"stages (s): {stages}")
    return report


def _run_notebooks(params, params_file, only, run_root: Path, jobs: int, stages: dict, t0: float) -> tuple[str, ...]:
    """Execute the selected outputs' notebooks, ``jobs`` at a time: 08 (the baselines) first, 03 once 08 is
    done (Tables 3-4 carry its rows), the others beside them. The first failure is raised once all have ended.
    Returns the outputs made (``only`` and the tables that carry the baselines' rows)."""
    from concurrent.futures import ThreadPoolExecutor

    from madtn_utils.suite.baselines import baseline_tables
    from madtn_utils.suite.execute import execute_notebook
    from madtn_utils.suite.grid import NOTEBOOKS

    selected = with_tables(only, baseline_tables(params))
    names = list(dict.fromkeys(NOTEBOOKS[o] for o in selected if o != "baselines"))

    def parameters(name: str, **extra) -> dict:
        out = {"params_file": str(Path(params_file).resolve()), "run_missing": False, **extra}
        if name in (NOTEBOOKS["table3"], NOTEBOOKS["gap"]):  # 03 and 09 make the selected ones of their outputs
            out["tables" if name == NOTEBOOKS["table3"] else "sections"] = ",".join(
                o for o in selected if NOTEBOOKS[o] == name)
        return out

    with ThreadPoolExecutor(max(1, min(jobs, len(names) + 1))) as pool:
        futures = []
        if "baselines" in only:  # 08 fits the baselines (resumable per task)
            futures.append(pool.submit(execute_notebook, NOTEBOOKS["baselines"], run_root,
                                       parameters(NOTEBOOKS["baselines"], run_missing=True)))
        futures += [pool.submit(execute_notebook, n, run_root, parameters(n)) for n in names if n != NOTEBOOKS["table3"]]
        if "baselines" in only:
            futures[0].result()
            stages["baselines"] = round(time.perf_counter() - t0, 1)
        if NOTEBOOKS["table3"] in names:
            futures.append(pool.submit(execute_notebook, NOTEBOOKS["table3"], run_root, parameters(NOTEBOOKS["table3"])))
        errors = [f.exception() for f in futures]
    for error in errors:
        if error is not None:
            raise error
    return selected


def with_tables(only, tables=("table3", "table4")) -> tuple[str, ...]:
    """``only``, plus those of ``tables`` (the tables the baselines have rows in) when the baselines are selected
    without Table 3 or 4 (their rows live there).

    >>> with_tables(("baselines",)), with_tables(("table3", "baselines")), with_tables(("baselines",), ("table3",))
    (('baselines', 'table3', 'table4'), ('table3', 'baselines'), ('baselines', 'table3'))
    """
    if "baselines" in only and not {"table3", "table4"} & set(only):
        return tuple(only) + tuple(tables)
    return tuple(only)
