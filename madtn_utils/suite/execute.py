"""Executing the grid with papermill: notebooks, runs, local worker pools and Dask.

Resuming: a folder holding a run of other settings is redone: its executed notebook is
removed first, and its ``metrics.json`` replaced (atomically, as the notebook's last act)
only when the new run has finished.

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
from madtn_utils.suite.grid import TRAIN, is_finished, notebooks_dir, run_dir_of
from madtn_utils.suite.spec import METRICS_FILE, RunSpec, recorded_hash, run_hash

__all__ = ["KERNEL_ARGS", "execute_notebook", "execute_run", "connect", "run_grid"]

#: Kernel command-line arguments: its own log (the TCP transport warning, shutdown noise) stays off the terminal.
KERNEL_ARGS = ["--IPKernelApp.log_level=CRITICAL"]


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
                                     "lam": float(spec.lam), "components": spec.components, "out_dir": str(folder),
                                     "overrides": dict(spec.overrides)},
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
