"""The reproduction grid: which 02_train runs each table and figure needs, executed with papermill.

Outputs of a reproduction live in ``<output_dir>/<name>/``:

- ``params.json``: the resolved params of the run;
- ``runs/<task>_lam<λ>_<components>/``: one executed ``02_train.ipynb`` with its
  ``metrics.json``, ``predictions.csv``, ``history.csv``;
- the executed ``03``–``06`` notebooks, ``tables/``, ``figures/`` and ``report.html``.

Resuming: a run is finished when its executed notebook and its ``metrics.json`` exist
and the ``run_hash`` recorded in ``metrics.json`` is the :func:`~madtn_utils.suite.runs.run_hash`
of the run under the current params. A folder holding a run of other settings is redone:
its executed notebook is removed first, and its ``metrics.json`` replaced (atomically,
as the notebook's last act) only when the new run has finished.

Notebooks (:func:`execute_notebook`) are executed under ``.<name>.partial-<pid>.ipynb`` and
renamed when they succeed; a failing one is kept as ``<name>.failed.ipynb`` and raises
:class:`~madtn_utils.procs.NotebookFailed`, one line naming it. Kernels log nothing on the
terminal (their errors reach us through papermill).

Execution: ``jobs`` local worker processes (which die with the command), or a Dask
distributed cluster when a scheduler address is given (every worker must see the same
file system). The first failing run stops the grid: pending runs are cancelled and the
local workers running others are stopped.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from madtn_utils.procs import NotebookFailed, die_with_parent, remove_stale
from madtn_utils.suite.runs import METRICS_FILE, RunSpec, recorded_hash, run_hash, run_slug

__all__ = ["OUTPUTS", "NOTEBOOKS", "KERNEL_ARGS", "grid_for", "run_dir_of", "is_finished", "execute_notebook",
           "execute_run", "connect", "run_grid", "notebooks_dir"]

OUTPUTS = ("table3", "table4", "table5", "fig5", "fig6")
#: The notebook that makes each output.
NOTEBOOKS = {"table3": "03_tables_3_4", "table4": "03_tables_3_4", "table5": "04_ablation_table_5",
             "fig6": "05_lambda_figure_6", "fig5": "06_confusion_figure_5"}
FULL = "onOF-Face-endOF"
#: Kernel command-line arguments: its own log (the TCP transport warning, shutdown noise) stays off the terminal.
KERNEL_ARGS = ["--IPKernelApp.log_level=CRITICAL"]
TRAIN = "02_train"


def notebooks_dir() -> Path:
    """The project's ``notebooks/`` folder (beside the package in a source checkout)."""
    here = Path(__file__).resolve().parents[2] / "notebooks"
    if not (here / f"{TRAIN}.ipynb").is_file():
        raise ValueError(f"notebooks folder {here}: expected {TRAIN}.ipynb there (run from a source checkout)")
    return here


def _nothing_to_make(params, only) -> str | None:
    """Why one of the selected outputs would have no runs under ``params`` (None when each has some)."""
    from madtn_utils.train.tasks import TASKS_TYPE_I, TASKS_TYPE_II

    e = params.experiments
    for out, name, protocol, tasks in (("table3", "Table 3", "TYPE-I", TASKS_TYPE_I),
                                       ("table4", "Table 4", "TYPE-II", TASKS_TYPE_II)):
        if out in only and not set(e.tasks) & set(tasks):
            return (f"--only {out}: experiments.tasks holds no {protocol} task ({', '.join(tasks)}): "
                    f"nothing to make {name} from")
    for out, name, keys in (("fig5", "Figure 5", ("tasks",)), ("table5", "Table 5", ("ablation_tasks", "ablation_components")),
                            ("fig6", "Figure 6", ("lambda_tasks", "lambdas"))):
        empty = [k for k in keys if not getattr(e, k)]
        if out in only and empty:
            return f"--only {out}: experiments.{empty[0]} is empty: nothing to make {name} from"
    return None


def grid_for(params, only=OUTPUTS) -> list[RunSpec]:
    """The distinct runs the selected outputs need, in a stable order (duplicates shared).

    ValueError naming ``--only`` for an unknown or empty selection, and for a selected
    output the params give no run to (``experiments.tasks`` without a TYPE-II task and
    ``table4`` selected, an empty ``experiments.lambdas`` and ``fig6``, ...).
    """
    only = tuple(only)
    unknown = [o for o in only if o not in OUTPUTS]
    if unknown or not only:
        got = f"unknown output {unknown[0]!r}" if unknown else "an empty selection"
        raise ValueError(f"--only: {got} (expected some of {', '.join(OUTPUTS)})")
    reason = _nothing_to_make(params, only)
    if reason:
        raise ValueError(reason)
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


def is_finished(folder: Path, expected_hash: str) -> bool:
    """Whether ``folder`` holds a finished run made with the settings hashed to ``expected_hash``."""
    folder = Path(folder)
    return ((folder / f"{TRAIN}.ipynb").is_file() and (folder / METRICS_FILE).is_file()
            and recorded_hash(folder) == expected_hash)


def _first_line(text: str, limit: int = 300) -> str:
    line = next((s.strip() for s in str(text).splitlines() if s.strip()), "")
    return line if len(line) <= limit else line[:limit - 3] + "..."


def execute_notebook(name: str, out_dir: str | Path, parameters: dict, *, what: str = "", check=None,
                     log_output: bool = False) -> Path:
    """Execute ``notebooks/<name>.ipynb`` into ``out_dir/<name>.ipynb`` (atomically, module docstring).

    ``check()``, called after a successful execution, returns an error text (the
    notebook then counts as failed) or None. ``what`` ("for run X") goes into the error.
    """
    import papermill as pm

    out_dir = Path(out_dir)
    final, failed = out_dir / f"{name}.ipynb", out_dir / f"{name}.failed.ipynb"
    tmp = out_dir / f".{name}.partial-{os.getpid()}.ipynb"
    label = f"notebook {name}{' ' + what if what else ''}"
    try:
        try:
            pm.execute_notebook(str(notebooks_dir() / f"{name}.ipynb"), str(tmp), parameters=parameters,
                                cwd=str(notebooks_dir()), progress_bar=False, log_output=log_output,
                                kernel_name="python3", extra_arguments=list(KERNEL_ARGS))
            problem = check() if check else None
        except pm.PapermillExecutionError as exc:
            problem = f"{exc.ename}: {_first_line(exc.evalue)}" if _first_line(exc.evalue) else exc.ename
        except Exception as exc:  # a dead kernel, a timeout, a kernel that cannot start: one line, as above
            problem = f"{type(exc).__name__}: {_first_line(exc)}"
        if problem is None:
            os.replace(tmp, final)
            failed.unlink(missing_ok=True)
            return final
        if tmp.is_file():
            os.replace(tmp, failed)
            raise NotebookFailed(f"{label} failed ({problem}): open {failed}")
        raise NotebookFailed(f"{label} could not run ({problem}): expected a working python3 Jupyter kernel")
    finally:
        tmp.unlink(missing_ok=True)


def execute_run(params_file: str, spec: RunSpec, folder: str, expected_hash: str | None = None,
                log_output: bool = False) -> dict:
    """Execute 02_train for ``spec`` into ``folder`` unless it is finished (resume); returns a status dict.

    ``expected_hash``: the run's :func:`run_hash` (computed from ``params_file`` when None).
    """
    folder = Path(folder)
    if expected_hash is None:
        from madtn_utils.suite.params import load_params

        expected_hash = run_hash(load_params(params_file), spec)
    if is_finished(folder, expected_hash):
        return {"run": folder.name, "status": "done before", "seconds": 0.0}
    folder.mkdir(parents=True, exist_ok=True)
    remove_stale(folder)
    (folder / f"{TRAIN}.ipynb").unlink(missing_ok=True)  # another run's notebook: never beside the new metrics

    def check():
        got = recorded_hash(folder)
        if got != expected_hash:
            found = f"records run_hash {got!r}" if (folder / METRICS_FILE).is_file() else "was not written"
            return f"its {METRICS_FILE} {found}: expected run_hash {expected_hash!r} of these params"
        return None

    t0 = time.perf_counter()
    source, target = spec.task.split("->")
    execute_notebook(TRAIN, folder, {"params_file": str(params_file), "source": source, "target": target,
                                     "lam": float(spec.lam), "components": spec.components, "out_dir": str(folder)},
                     what=f"for run {folder.name}", check=check, log_output=log_output)
    return {"run": folder.name, "status": "executed", "seconds": round(time.perf_counter() - t0, 2)}


def _execute_star(args):
    return execute_run(*args)


def _init_worker(threads: int, owner: int) -> None:
    """Grid worker: kernels started from here use ``threads`` BLAS/OpenMP threads; the worker dies with ``owner``."""
    die_with_parent(owner)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)


def connect(address: str, timeout: float = 5.0):
    """A Dask client on ``address``; ValueError naming ``--scheduler`` when none answers within ``timeout`` s."""
    from dask.distributed import Client

    try:
        return Client(address, timeout=timeout)
    except (OSError, TimeoutError, ValueError, TypeError) as exc:
        raise ValueError(f"--scheduler {address}: no Dask scheduler answered within {timeout:g} s "
                         f"({type(exc).__name__}: {_first_line(exc)}): expected the address of a running scheduler "
                         "(tcp://host:port)") from None


def _stop_workers(pool, folders) -> None:
    """Stop a local pool's running workers at once (their kernels follow them), then remove their partial files."""
    procs = list((getattr(pool, "_processes", None) or {}).values())
    kill = getattr(pool, "kill_workers", None)  # Python >= 3.14
    if kill is not None:
        kill()
    else:
        for proc in procs:
            proc.kill()
    for proc in procs:
        proc.join(timeout=10)
    remove_stale(*folders)


def run_grid(params_file: str | Path, specs, run_root: str | Path, *, jobs: int = 1, scheduler=None,
             progress: bool = True) -> list[dict]:
    """Execute every unfinished run of ``specs`` (resume), locally in ``jobs`` processes or on Dask.

    ``scheduler``: a Dask scheduler address or a connected ``distributed.Client``.
    """
    from tqdm.auto import tqdm

    from madtn_utils.suite.params import load_params

    params_file = str(Path(params_file).resolve())
    params = load_params(params_file)
    todo = [(params_file, s, str(run_dir_of(run_root, s)), run_hash(params, s)) for s in specs]
    done = [{"run": Path(t[2]).name, "status": "done before", "seconds": 0.0} for t in todo if is_finished(Path(t[2]), t[3])]
    todo = [t for t in todo if not is_finished(Path(t[2]), t[3])]
    bar = tqdm(total=len(specs), initial=len(done), desc="grid", unit="run", disable=not progress)
    results = list(done)
    try:
        if todo and scheduler is not None:
            _on_dask(scheduler, todo, results, bar)
        elif jobs <= 1 or len(todo) <= 1:
            for t in todo:
                results.append(_execute_star(t))
                bar.update()
        elif todo:
            _on_pool(jobs, todo, results, bar)
    finally:
        bar.close()
    return results


def _on_dask(scheduler, todo, results, bar) -> None:
    from dask.distributed import as_completed

    client = connect(scheduler) if isinstance(scheduler, str) else scheduler
    try:
        futures = [client.submit(_execute_star, t, pure=False, key=f"madtn-{Path(t[2]).name}-{time.time_ns()}") for t in todo]
        try:
            for fut in as_completed(futures):
                results.append(fut.result())
                bar.update()
        except BaseException:
            client.cancel(futures)  # runs already executing on a worker finish there; nothing new starts
            raise
    finally:
        if client is not scheduler:
            client.close()


def _on_pool(jobs, todo, results, bar) -> None:
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    workers = min(jobs, len(todo))
    threads = max(1, (os.cpu_count() or 1) // workers)
    with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"), initializer=_init_worker,
                             initargs=(threads, os.getpid())) as pool:
        futures = [pool.submit(_execute_star, t) for t in todo]
        try:
            for fut in as_completed(futures):
                results.append(fut.result())
                bar.update()
        except BaseException:
            for fut in futures:
                fut.cancel()
            _stop_workers(pool, [t[2] for t in todo])
            raise
