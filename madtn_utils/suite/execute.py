"""Executing the grid with papermill: notebooks, runs, local worker pools and Dask.

Stacking: the unfinished runs of one task and data (:func:`~madtn_utils.suite.spec.group_key`)
are trained by one ``02_train`` execution (:func:`execute_runs`, chunks planned by
:func:`~madtn_utils.suite.groups.plan_groups`; one-run chunks of several tasks packed into one
execution by :func:`~madtn_utils.suite.groups.pack_singles`), in the folder of its first run; the executed
notebook is then copied into the folder of every other run it trained, so each finished run
folder holds the notebook that made it, and resume, run hashes and rescue stay per run.

Resuming: a folder holding a run of other settings is redone: its executed notebook is
removed first, and its ``metrics.json`` replaced (atomically, by the notebook) only when the
new run has finished. A run counts as finished as soon as its ``metrics.json`` holds its hash
(written last, atomically), so a run whose group was interrupted (SIGINT, SIGKILL) after it
wrote its metrics is never trained again; it then lacks the executed notebook (the group's
notebook was not finished).

Notebooks (:func:`execute_notebook`) are executed under ``.<name>.partial-<pid>.ipynb`` and
renamed when they succeed; a failing one is kept as ``<name>.failed.ipynb`` and raises
:class:`~madtn_utils.procs.NotebookFailed`, one line naming it. Kernels log nothing on the
terminal (their errors reach us through papermill).

Execution: local worker processes (which die with the command; on CUDA one per GPU, each
seeing only its GPU: :func:`~madtn_utils.suite.groups.grid_devices`), or a Dask distributed
cluster when a scheduler address is given (every worker must see the same file system; which
GPU a Dask worker uses is the cluster's business). The first failing execution stops the grid:
pending ones are cancelled and the local workers running others are stopped.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from madtn_utils.procs import NotebookFailed, die_with_parent, remove_stale
from madtn_utils.suite.grid import TRAIN, is_finished, notebooks_dir, run_dir_of
from madtn_utils.suite.groups import grid_devices, pack_singles, plan_groups
from madtn_utils.suite.spec import METRICS_FILE, RunSpec, group_key, recorded_hash, run_hash

__all__ = ["KERNEL_ARGS", "execute_notebook", "execute_runs", "execute_run", "connect", "run_grid"]

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


def _copy_notebook(notebook: Path, folder: Path) -> None:
    """``notebook`` into ``folder`` atomically (via a partial file of this process): a hard link where the
    file system allows (executed notebooks are only ever replaced, never edited), else a copy."""
    tmp = folder / f".{TRAIN}.partial-{os.getpid()}.ipynb"
    try:
        tmp.unlink(missing_ok=True)
        try:
            os.link(notebook, tmp)
        except OSError:
            shutil.copyfile(notebook, tmp)
        os.replace(tmp, folder / f"{TRAIN}.ipynb")
    finally:
        tmp.unlink(missing_ok=True)


def execute_runs(params_file: str, specs, folders, expected_hashes=None, log_output: bool = False) -> list[dict]:
    """Execute 02_train once for the unfinished runs of ``specs``, each into its folder; one status dict per run.
    The runs of one :func:`~madtn_utils.suite.spec.group_key` (a task and its data) train together (stacked);
    ``specs`` may hold several such groups (one-run chunks packed by
    :func:`~madtn_utils.suite.groups.pack_singles`), which the notebook trains one after another.

    The notebook is executed in the folder of the first unfinished run (the *lead*); when it
    succeeds (every run's ``metrics.json`` holds its expected hash), it is copied into the folder
    of each other run it trained, so every finished run folder holds the executed notebook that
    made it. A failing notebook is ``<lead>/02_train.failed.ipynb``. ``expected_hashes``: the
    runs' :func:`run_hash` (computed from ``params_file`` when None).
    """
    specs, folders = list(specs), [Path(f) for f in folders]
    if not specs or len(folders) != len(specs):
        raise ValueError(f"specs, folders: expected one folder per run, got {len(specs)} runs and {len(folders)} folders")
    if expected_hashes is None:
        from madtn_utils.suite.params import load_params

        params = load_params(params_file)
        expected_hashes = [run_hash(params, s) for s in specs]
    runs = list(zip(specs, folders, expected_hashes))
    todo = [r for r in runs if not is_finished(r[1], r[2])]
    results = [{"run": f.name, "status": "done before", "seconds": 0.0} for _, f, h in runs if is_finished(f, h)]
    if not todo:
        return results
    for _, folder, _ in todo:
        folder.mkdir(parents=True, exist_ok=True)
        remove_stale(folder)
        (folder / f"{TRAIN}.ipynb").unlink(missing_ok=True)  # another run's notebook: never beside the new metrics

    def check():
        for _, folder, expected in todo:
            got = recorded_hash(folder)
            if got != expected:
                found = f"records run_hash {got!r}" if (folder / METRICS_FILE).is_file() else "was not written"
                return f"{folder.name}/{METRICS_FILE} {found}: expected run_hash {expected!r} of these params"
        return None

    t0 = time.perf_counter()
    lead = todo[0][1]
    source, target = specs[0].task.split("->")
    parameters = {"params_file": str(params_file), "source": source, "target": target,
                  "runs": [{"lam": float(s.lam), "components": s.components, "overrides": dict(s.overrides),
                            "out_dir": str(f), **dict(zip(("source", "target"), s.task.split("->")))}
                           for s, f, _ in todo]}
    together = "stacked" if len({group_key(s) for s, _, _ in todo}) == 1 else "trained"
    what = f"for run {lead.name}" + (f" and {len(todo) - 1} {together} with it" if len(todo) > 1 else "")
    notebook = execute_notebook(TRAIN, lead, parameters, what=what, check=check, log_output=log_output)
    for _, folder, _ in todo[1:]:
        _copy_notebook(notebook, folder)
    seconds = round(time.perf_counter() - t0, 2)
    return results + [{"run": f.name, "status": "executed", "seconds": seconds, "stacked": len(todo)} for _, f, _ in todo]


def execute_run(params_file: str, spec: RunSpec, folder: str, expected_hash: str | None = None,
                log_output: bool = False) -> dict:
    """Execute 02_train for ``spec`` into ``folder`` unless it is finished (resume); returns a status dict.

    ``expected_hash``: the run's :func:`run_hash` (computed from ``params_file`` when None).
    """
    return execute_runs(params_file, [spec], [folder], None if expected_hash is None else [expected_hash], log_output)[0]


def _execute_star(args):
    return execute_runs(*args)


def _init_worker(threads: int, owner: int, gpus=None) -> None:
    """Grid worker: kernels started from here use ``threads`` BLAS/OpenMP threads and, with ``gpus`` (a queue of
    GPU indices), see only the GPU this worker takes from it; the worker dies with ``owner``."""
    die_with_parent(owner)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)
    if gpus is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(gpus.get())


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
    """Execute every unfinished run of ``specs`` (resume), the runs of a task and data together
    (:func:`plan_groups`, one ``02_train`` execution each: :func:`execute_runs`), locally in up to
    ``jobs`` processes (on CUDA one per GPU: :func:`grid_devices`) or on Dask. One status dict per run.

    ``scheduler``: a Dask scheduler address or a connected ``distributed.Client``.
    """
    from tqdm.auto import tqdm

    from madtn_utils.suite.params import load_params

    params_file = str(Path(params_file).resolve())
    params = load_params(params_file)
    runs = {s: (run_dir_of(run_root, s), run_hash(params, s)) for s in specs}
    remove_stale(*(f for f, _ in runs.values()))  # a killed group's partial notebook, beside runs it finished
    results = [{"run": f.name, "status": "done before", "seconds": 0.0} for f, h in runs.values() if is_finished(f, h)]
    pending = [s for s, (f, h) in runs.items() if not is_finished(f, h)]
    workers, gpus = (jobs, None) if scheduler is not None else grid_devices(params.train.device, jobs)
    todo = [(params_file, g, [str(runs[s][0]) for s in g], [runs[s][1] for s in g])
            for g in pack_singles(plan_groups(pending, workers), workers)]
    bar = tqdm(total=len(runs), initial=len(results), desc="grid", unit="run", disable=not progress)
    try:
        if todo and scheduler is not None:
            _on_dask(scheduler, todo, results, bar)
        elif workers <= 1 or len(todo) <= 1:
            for t in todo:
                results += _execute_star(t)
                bar.update(len(t[1]))
        elif todo:
            _on_pool(workers, todo, results, bar, gpus)
    finally:
        bar.close()
    return results


def _on_dask(scheduler, todo, results, bar) -> None:
    from dask.distributed import as_completed

    client = connect(scheduler) if isinstance(scheduler, str) else scheduler
    try:
        futures = [client.submit(_execute_star, t, pure=False, key=f"madtn-{Path(t[2][0]).name}-{time.time_ns()}")
                   for t in todo]
        try:
            for fut in as_completed(futures):
                done = fut.result()
                results += done
                bar.update(len(done))
        except BaseException:
            client.cancel(futures)  # runs already executing on a worker finish there; nothing new starts
            raise
    finally:
        if client is not scheduler:
            client.close()


def _on_pool(jobs, todo, results, bar, gpus=None) -> None:
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    workers = min(jobs, len(todo))
    threads = max(1, (os.cpu_count() or 1) // workers)
    ctx = mp.get_context("spawn")
    queue = None
    if gpus:
        queue = ctx.Queue()
        for i in range(workers):
            queue.put(gpus[i % len(gpus)])
    with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker,
                             initargs=(threads, os.getpid(), queue)) as pool:
        futures = [pool.submit(_execute_star, t) for t in todo]
        try:
            for fut in as_completed(futures):
                done = fut.result()
                results += done
                bar.update(len(done))
        except BaseException:
            for fut in futures:
                fut.cancel()
            _stop_workers(pool, [f for t in todo for f in t[2]])
            raise
