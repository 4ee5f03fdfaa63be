"""The reproduction grid: which 02_train runs each table and figure needs, executed with papermill.

Outputs of a reproduction live in ``<output_dir>/<name>/``:

- ``params.json``: the resolved params of the run;
- ``runs/<task>_lam<λ>_<components>/``: one executed ``02_train.ipynb`` with its
  ``metrics.json``, ``predictions.csv``, ``history.csv``;
- the executed ``03``–``06`` notebooks, ``tables/``, ``figures/`` and ``report.html``.

Resuming: a run is finished when its executed notebook and its ``metrics.json`` both
exist. papermill writes the notebook under a temporary name that is renamed only after
a successful execution, and ``metrics.json`` is written atomically as the notebook's
last act, so an interrupted run never counts as finished and is simply redone.

Execution: ``jobs`` local worker processes, or a Dask distributed cluster when a
scheduler address is given (every worker must see the same file system).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from madtn_utils.suite.runs import METRICS_FILE, RunSpec, run_slug

__all__ = ["OUTPUTS", "NOTEBOOKS", "grid_for", "run_dir_of", "is_finished", "execute_run", "run_grid", "notebooks_dir"]

OUTPUTS = ("table3", "table4", "table5", "fig5", "fig6")
#: The notebook that makes each output.
NOTEBOOKS = {"table3": "03_tables_3_4", "table4": "03_tables_3_4", "table5": "04_ablation_table_5",
             "fig6": "05_lambda_figure_6", "fig5": "06_confusion_figure_5"}
FULL = "onOF-Face-endOF"


def notebooks_dir() -> Path:
    """The project's ``notebooks/`` folder (beside the package in a source checkout)."""
    here = Path(__file__).resolve().parents[2] / "notebooks"
    if not (here / "02_train.ipynb").is_file():
        raise ValueError(f"notebooks folder {here}: expected 02_train.ipynb there (run from a source checkout)")
    return here


def grid_for(params, only=OUTPUTS) -> list[RunSpec]:
    """The distinct runs the selected outputs need, in a stable order (duplicates shared)."""
    unknown = [o for o in only if o not in OUTPUTS]
    if unknown:
        raise ValueError(f"--only: unknown output {unknown[0]!r} (expected some of {', '.join(OUTPUTS)})")
    e, lam = params.experiments, float(params.train.lam)
    specs = []
    if {"table3", "table4", "fig5"} & set(only):
        from madtn_utils.train.tasks import TASKS_TYPE_I, TASKS_TYPE_II

        wanted = set()
        if "table3" in only or "fig5" in only:
            wanted |= set(TASKS_TYPE_I)
        if "table4" in only or "fig5" in only:
            wanted |= set(TASKS_TYPE_II)
        specs += [RunSpec(t, lam, FULL) for t in e.tasks if t in wanted]
    if "table5" in only:
        specs += [RunSpec(t, lam, c) for t in e.ablation_tasks for c in e.ablation_components]
    if "fig6" in only:
        specs += [RunSpec(t, float(x), FULL) for t in e.lambda_tasks for x in e.lambdas]
    return list(dict.fromkeys(specs))


def run_dir_of(run_root: Path, spec: RunSpec) -> Path:
    return Path(run_root) / "runs" / run_slug(spec)


def is_finished(folder: Path) -> bool:
    return (Path(folder) / "02_train.ipynb").is_file() and (Path(folder) / METRICS_FILE).is_file()


def execute_run(params_file: str, spec: RunSpec, folder: str, log_output: bool = False) -> dict:
    """Execute 02_train for ``spec`` into ``folder`` (papermill), atomically; returns a status dict."""
    import papermill as pm

    folder = Path(folder)
    if is_finished(folder):
        return {"run": folder.name, "status": "done before", "seconds": 0.0}
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob(".02_train.partial-*.ipynb"):  # left by an interrupted earlier attempt
        stale.unlink()
    tmp = folder / f".02_train.partial-{os.getpid()}.ipynb"
    t0 = time.perf_counter()
    pm.execute_notebook(
        str(notebooks_dir() / "02_train.ipynb"), str(tmp),
        parameters={"params_file": str(params_file), "source": spec.task.split("->")[0],
                    "target": spec.task.split("->")[1], "lam": float(spec.lam), "components": spec.components,
                    "out_dir": str(folder)},
        cwd=str(notebooks_dir()), progress_bar=False, log_output=log_output, kernel_name="python3",
    )
    if not (folder / METRICS_FILE).is_file():
        raise RuntimeError(f"run {folder.name}: the notebook finished without writing {METRICS_FILE}")
    os.replace(tmp, folder / "02_train.ipynb")
    return {"run": folder.name, "status": "executed", "seconds": round(time.perf_counter() - t0, 2)}


def _execute_star(args):
    return execute_run(*args)


def _limit_threads(threads: int) -> None:
    """Worker initializer: kernels started from here use ``threads`` BLAS/OpenMP threads (no oversubscription)."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)


def run_grid(params_file: str | Path, specs, run_root: str | Path, *, jobs: int = 1, scheduler: str | None = None,
             progress: bool = True) -> list[dict]:
    """Execute every unfinished run of ``specs`` (resume), locally in ``jobs`` processes or on Dask."""
    from tqdm.auto import tqdm

    params_file = str(Path(params_file).resolve())
    todo = [(params_file, s, str(run_dir_of(run_root, s))) for s in specs]
    done = [{"run": Path(t[2]).name, "status": "done before", "seconds": 0.0} for t in todo if is_finished(Path(t[2]))]
    todo = [t for t in todo if not is_finished(Path(t[2]))]
    bar = tqdm(total=len(specs), initial=len(done), desc="grid", unit="run", disable=not progress)
    results = list(done)
    if scheduler:
        from dask.distributed import Client, as_completed

        with Client(scheduler) as client:
            futures = [client.submit(_execute_star, t, pure=False, key=f"madtn-{Path(t[2]).name}-{time.time_ns()}") for t in todo]
            for fut in as_completed(futures):
                results.append(fut.result())
                bar.update()
    elif jobs <= 1 or len(todo) <= 1:
        for t in todo:
            results.append(_execute_star(t))
            bar.update()
    else:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor, as_completed as done_first

        workers = min(jobs, len(todo))
        threads = max(1, (os.cpu_count() or 1) // workers)
        with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"), initializer=_limit_threads,
                                 initargs=(threads,)) as pool:
            futures = [pool.submit(_execute_star, t) for t in todo]
            for fut in done_first(futures):
                results.append(fut.result())
                bar.update()
    bar.close()
    return results
