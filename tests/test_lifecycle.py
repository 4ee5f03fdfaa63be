"""Lifecycle of `madtn reproduce`: resume by run hash, bad arguments and impossible selections refused
before any work, an unreachable scheduler in seconds, failing notebooks in one line, leftovers of dead
processes removed, no process outliving a killed command, one-line output."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from madtn_utils.cli import main
from madtn_utils.procs import NotebookFailed, remove_stale, stale_pid
from madtn_utils.suite.execute import run_grid
from madtn_utils.suite.grid import grid_for, is_finished, run_dir_of
from madtn_utils.suite.params import load_domain, load_params
from madtn_utils.suite.spec import RunSpec, recorded_hash, run_hash

from tiny import write_params

ROOT = Path(__file__).resolve().parents[1]
TINY = {
    "seeds": [0], "jobs": 2, "data": {"synthetic": "tiny", "synthetic_seed": 0},
    "preprocess": {"map_size": 32},
    "train": {"epochs": 1, "batch_size": 16, "widths": [4, 8, 8], "fc_dim": 16, "device": "cpu"},
    "experiments": {"tasks": ["H->V"], "ablation_tasks": ["H->V"], "ablation_components": ["onOF-Face-endOF"],
                    "lambda_tasks": ["H->V"], "lambdas": [2.0]},
}


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """Synthetic databases and a warm cache for SMIC-HS and SMIC-VIS (the H->V runs of this module)."""
    folder = tmp_path_factory.mktemp("lifecycle")
    params = load_params(_params(folder, folder, "warm"))
    for db in ("smic-hs", "smic-vis"):
        load_domain(params, db)
    return folder


def _params(folder: Path, shared: Path, name: str = "t", **changes) -> Path:
    """A tiny params file; ``changes`` as ``train__epochs=2`` (nested keys joined by ``__``)."""
    return write_params(TINY, folder, shared, name, **changes)


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


#: One tqdm progress-bar state: ``grid:  25%|██▌       | 1/4 [00:12<00:38, 12.99s/run]``.
_BAR = r"[\w ()-]+: +\d+%\|[^|\r\n]*\|[^\]\r\n]*\]"


def _error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.strip()]


# --- refused before any work --------------------------------------------------------------------

@pytest.mark.parametrize("argv, message", [
    (["--jobs", "-1"], r"^madtn reproduce: error: --jobs: expected 0 \(all cores\) or a positive number of parallel runs, got -1$"),
    (["--only", ","], r"^madtn reproduce: error: --only ',': expected a comma-separated selection of table3, table4, baselines, table5, fig5, fig6, gap, kernel, controls, shift, real, alignment \(or all\)$"),
    (["--only", ""], r"^madtn reproduce: error: --only '': expected a comma-separated selection of table3, .*, alignment \(or all\)$"),
    (["--only", "  "], r"^madtn reproduce: error: --only '  ': expected a comma-separated selection of table3, .*, alignment \(or all\)$"),
    (["--only", "table4"], r"^madtn reproduce: error: --only table4: experiments.tasks holds no TYPE-II task "
                           r"\(C->H, H->C, C->V, V->C, C->N, N->C\): nothing to make Table 4 from$"),
])
def test_bad_arguments_and_impossible_selections_are_one_line_before_any_work(tmp_path, argv, message, capsys):
    params = _params(tmp_path, tmp_path)  # its data is never written: nothing may run
    assert main(["reproduce", "--params", str(params), *argv]) == 2
    lines = _error_lines(capsys.readouterr().err)
    assert len(lines) == 1 and re.match(message, lines[0]), lines
    assert not (tmp_path / "outputs").exists() and not (tmp_path / "synthetic").exists()


@pytest.mark.parametrize("command", [["preprocess"], ["synth", "--out", "OUT"]])
def test_negative_jobs_of_preprocess_and_synth_name_jobs(tmp_path, command, capsys):
    argv = [a.replace("OUT", str(tmp_path / "s")) for a in command]
    if command[0] == "preprocess":
        argv += ["--params", str(_params(tmp_path, tmp_path))]
    assert main([*argv, "--jobs", "-2"]) == 2
    lines = _error_lines(capsys.readouterr().err)
    assert len(lines) == 1 and "--jobs: expected 0 (all cores) or a positive number of worker processes, got -2" in lines[0]


def test_grid_for_names_the_output_without_runs(tmp_path):
    p = load_params(_params(tmp_path, tmp_path))
    assert grid_for(p, ("table3",)) == [RunSpec("H->V", 2.0)]
    with pytest.raises(ValueError, match=r"--only table4: experiments.tasks holds no TYPE-II task"):
        grid_for(p, ("table3", "table4"))
    p = load_params(_params(tmp_path, tmp_path, experiments__lambdas=[]))
    with pytest.raises(ValueError, match=r"--only fig6: experiments.lambdas is empty: nothing to make Figure 6 from"):
        grid_for(p, ("fig6",))
    with pytest.raises(ValueError, match=r"--only: an empty selection \(expected some of table3, table4"):
        grid_for(p, ())


def test_unreachable_scheduler_is_one_line_in_seconds_before_preprocessing(tmp_path, capsys):
    params = _params(tmp_path, tmp_path)
    address = f"tcp://127.0.0.1:{_free_port()}"
    t0 = time.perf_counter()
    assert main(["reproduce", "--params", str(params), "--only", "table3", "--scheduler", address]) == 2
    assert time.perf_counter() - t0 < 15
    lines = _error_lines(capsys.readouterr().err)
    assert len(lines) == 1 and lines[0].startswith(f"madtn reproduce: error: --scheduler {address}: "), lines
    assert not (tmp_path / "synthetic").exists() and not (tmp_path / "outputs").exists()  # nothing preprocessed


def test_python_warnings_print_as_one_line_without_source():
    code = ("import sys, warnings\n"
            "import madtn_utils.cli.synth as synth\n"
            "from madtn_utils.cli import main\n"
            "def warn_and_stop(args):\n"
            "    warnings.warn('no face found on 2 sample(s): centre crop used', UserWarning)\n"
            "    return 0\n"
            "synth.run = warn_and_stop\n"
            "before = warnings.formatwarning\n"
            "code = main(['synth', '--out', 'unused'])\n"
            "assert warnings.formatwarning is before, 'main left its warning format installed'\n"
            "sys.exit(code)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stderr == "madtn synth: warning: no face found on 2 sample(s): centre crop used\n"


# --- leftovers of dead processes ----------------------------------------------------------------

def test_leftovers_of_dead_processes_are_removed_when_reproduce_starts(tmp_path, monkeypatch):
    import madtn_utils.suite.reproduce as rep

    params = _params(tmp_path, tmp_path)
    run = load_params(params).run_dir
    dead, alive = _dead_pid(), os.getppid()
    stale = [run / f".03_tables_3_4.partial-{dead}.ipynb", run / f".params.json.tmp-{dead}",
             run / "runs" / "H-V_lam2_onOF-Face-endOF" / f".02_train.partial-{dead}.ipynb",
             run / "runs" / "H-V_lam2_onOF-Face-endOF" / f".metrics.json.tmp-{dead}",
             run / "tables" / f".table3.csv.tmp-{dead}"]
    kept = [run / f".04_ablation_table_5.partial-{alive}.ipynb", run / "runs" / "H-V_lam2_onOF-Face-endOF" / "02_train.ipynb",
            run / "02_train.failed.ipynb"]
    for path in stale + kept:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
    (run / f".tmp-entry-{dead}").mkdir()
    monkeypatch.setattr(rep, "_reproduce_locked", lambda *a, **k: run / "report.html")  # the cleanup only
    assert rep.reproduce(str(params), only=("table3",), progress=False) == run / "report.html"
    assert not any(p.exists() for p in stale) and not (run / f".tmp-entry-{dead}").exists()
    assert all(p.exists() for p in kept)
    assert stale_pid(f".02_train.partial-{dead}.ipynb") == dead and remove_stale(run) == []


# --- resume by run hash -------------------------------------------------------------------------

@pytest.mark.slow
def test_a_run_of_other_settings_is_redone_and_replaced_only_when_finished(tmp_path, shared):
    first = _params(tmp_path, shared, "same")
    spec = RunSpec("H->V", 2.0)
    p1 = load_params(first)
    folder = run_dir_of(p1.run_dir, spec)
    assert [r["status"] for r in run_grid(first, [spec], p1.run_dir, progress=False)] == ["executed"]
    assert is_finished(folder, run_hash(p1, spec)) and recorded_hash(folder) == run_hash(p1, spec)
    assert [r["status"] for r in run_grid(first, [spec], p1.run_dir, progress=False)] == ["done before"]

    second = tmp_path / "other" / "same.yaml"  # same run folder, other training settings
    second.parent.mkdir()
    second.write_text(first.read_text().replace("epochs: 1", "epochs: 2"))
    p2 = load_params(second)
    assert p2.run_dir == p1.run_dir and run_hash(p2, spec) != run_hash(p1, spec)
    assert not is_finished(folder, run_hash(p2, spec))
    old_notebook = (folder / "02_train.ipynb").stat().st_mtime_ns
    assert [r["status"] for r in run_grid(second, [spec], p2.run_dir, progress=False)] == ["executed"]
    assert recorded_hash(folder) == run_hash(p2, spec) and is_finished(folder, run_hash(p2, spec))
    assert (folder / "02_train.ipynb").stat().st_mtime_ns != old_notebook
    assert json.loads((folder / "metrics.json").read_text())["params"]["train"]["epochs"] == 2
    assert not is_finished(folder, run_hash(p1, spec))
    assert sorted(p.name for p in folder.iterdir()) == ["02_train.ipynb", "history.csv", "metrics.json", "predictions.csv"]


# --- failing notebooks --------------------------------------------------------------------------

def _descendants(pid: int) -> set[int]:
    """Every live descendant of ``pid`` (psutil when installed, else /proc children files)."""
    try:
        import psutil
    except ImportError:
        psutil = None
    if psutil is not None:
        try:
            return {c.pid for c in psutil.Process(pid).children(recursive=True)}
        except psutil.NoSuchProcess:
            return set()
    out, todo = set(), [pid]
    while todo:
        for children in Path(f"/proc/{todo.pop()}/task").glob("*/children"):
            try:
                kids = {int(x) for x in children.read_text().split()}
            except OSError:  # the task ended while we read it
                continue
            todo += sorted(kids - out)
            out |= kids
    return out


def _running(pid: int) -> bool:
    """Alive and not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # another user's process: it exists
            return True
        return True
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


@pytest.mark.slow
def test_a_failing_run_stops_the_pool_and_names_its_notebook(tmp_path, shared):
    """λ = 1e12 diverges in epoch 1; the runs stacked with it stop with it (fail fast: none is written); the
    V->H execution beside it (many epochs) is stopped. The runs of one task train in one execution."""
    params = _params(tmp_path, shared, "fail", train__epochs=400)
    p = load_params(params)
    specs = [RunSpec("H->V", 1e12), RunSpec("H->V", 0.0), RunSpec("V->H", 0.5)]
    before = _descendants(os.getpid())  # a preprocessing pool of the fixture may be kept
    t0 = time.perf_counter()
    with pytest.raises(NotebookFailed) as info:
        run_grid(params, specs, p.run_dir, jobs=2, progress=False)
    message = str(info.value)
    failed = run_dir_of(p.run_dir, specs[0]) / "02_train.failed.ipynb"
    assert "\n" not in message
    assert message.startswith(f"notebook 02_train for run {failed.parent.name} and 1 stacked with it failed "
                              f"(TrainingDivergedError: H->V ({failed.parent.name}) seed 0: ")
    assert message.endswith(f"): open {failed}") and failed.is_file()
    assert time.perf_counter() - t0 < 120
    deadline = time.time() + 10
    while _descendants(os.getpid()) - before and time.time() < deadline:
        time.sleep(0.1)
    assert {pid for pid in _descendants(os.getpid()) - before if _running(pid)} == set()
    assert list(p.run_dir.rglob("*partial*")) == [] and list(p.run_dir.rglob(".*.tmp-*")) == []
    assert not any((run_dir_of(p.run_dir, s) / "metrics.json").exists() for s in specs)


@pytest.mark.slow
def test_reproduce_prints_one_line_messages_and_names_a_failing_notebook(tmp_path, shared):
    """A tiny reproduction: progress bars and one-line messages only (no kernel TCP warning, no source
    lines); then a 03 notebook that fails gives one line naming its executed notebook, and no partial file."""
    params = _params(tmp_path, shared, "lines")
    run = load_params(params).run_dir
    cmd = [sys.executable, "-m", "madtn_utils.cli", "reproduce", "--params", str(params), "--only", "table3"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().endswith(f"report: {run / 'report.html'}")
    messages = [line for line in re.split(r"[\r\n]+", re.sub(_BAR, "", done.stderr)) if line.strip()]
    assert "without encryption" not in done.stderr and "Traceback" not in done.stderr
    assert all(re.match(r"^madtn reproduce: warning: ", line) for line in messages), messages
    assert (run / "tables" / "table3.csv").is_file() and not (run / "tables" / "table4.csv").exists()

    (run / "tables" / "table3.csv").unlink()
    (run / "tables").rename(run / "tables-moved")
    (run / "tables").write_text("a file where the tables folder should be")
    failed = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert failed.returncode == 2
    lines = _error_lines(re.sub(_BAR, "", failed.stderr).replace("\r", "\n"))
    assert len(lines) == 1, lines
    assert re.match(rf"^madtn reproduce: error: notebook 03_tables_3_4 failed \((\w+Error): .+\): "
                    rf"open {re.escape(str(run / '03_tables_3_4.failed.ipynb'))}$", lines[0]), lines
    assert (run / "03_tables_3_4.failed.ipynb").is_file() and list(run.rglob("*partial*")) == []


# --- no process outlives a killed command -------------------------------------------------------

#: Seconds a worker or kernel may outlive its killed command (kernels poll their parent every second).
GRACE = 5


def _kill_leftovers(proc, seen) -> None:
    """Cleanup after a kill test: SIGKILL ``proc``'s process group and every pid of ``seen`` still running."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:  # the group is gone: nothing to clean up
        pass
    for pid in seen:
        if _running(pid):
            os.kill(pid, signal.SIGKILL)


def _kill_main_and_check(cmd: list[str], ready, cwd: Path, timeout: float = 240) -> None:
    """Start ``cmd`` in its own session, wait until ``ready(descendant pids)``, SIGKILL only the main
    process, then assert every descendant is gone within GRACE s (cleanup: killpg, then each by pid)."""
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    seen: set[int] = set()
    try:
        deadline = time.time() + timeout
        while time.time() < deadline:
            assert proc.poll() is None, f"{cmd[3]} ended before its workers could be seen"
            kids = _descendants(proc.pid)
            seen |= kids
            if ready(kids):
                break
            time.sleep(0.05)
        else:
            pytest.fail(f"{cmd[3]}: its workers never appeared")
        seen |= _descendants(proc.pid)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        deadline = time.time() + GRACE
        while any(_running(pid) for pid in seen) and time.time() < deadline:
            time.sleep(0.1)
        left = {pid: _cmdline(pid)[:120] for pid in seen if _running(pid)}
        assert left == {}, f"still running {GRACE} s after the SIGKILL of {cmd[3]}: {left}"
    finally:
        _kill_leftovers(proc, seen)


@pytest.mark.slow
@pytest.mark.parametrize("command", ["preprocess", "synth"])
def test_killed_preprocess_or_synth_leaves_no_worker(tmp_path, shared, command):
    if command == "preprocess":
        params = _params(tmp_path, shared, "pre", cache_dir=str(tmp_path / "cold-cache"), preprocess__map_size=64)
        args = ["--params", str(params)]
    else:
        args = ["--out", str(tmp_path / "synthetic"), "--size", "small"]
    cmd = [sys.executable, "-m", "madtn_utils.cli", command, *args, "--jobs", "2"]
    # the forkserver and its two workers (which share its command line)
    _kill_main_and_check(cmd, lambda kids: sum("forkserver" in _cmdline(k) for k in kids) >= 3, tmp_path)


@pytest.mark.slow
def test_killed_reproduce_leaves_no_worker_and_no_kernel(tmp_path, shared):
    params = _params(tmp_path, shared, "kill", train__epochs=400, experiments__lambdas=[0.0, 2.0])
    cmd = [sys.executable, "-m", "madtn_utils.cli", "reproduce", "--params", str(params), "--only", "fig6", "--jobs", "2"]
    _kill_main_and_check(cmd, lambda kids: sum("ipykernel" in _cmdline(k) for k in kids) >= 2, tmp_path)


_BUSY_POOL = '''
import os, sys, time, multiprocessing as mp
from concurrent.futures import ProcessPoolExecutor


def init(owner):
    from madtn_utils.procs import die_with_parent
    die_with_parent(owner)
    open(os.path.join(sys.argv[1], f"ready-{os.getpid()}"), "w").close()  # initialised: now kill the owner


def work(x):
    time.sleep(120)  # busy far longer than the test waits
    return x


if __name__ == "__main__":
    with ProcessPoolExecutor(2, mp_context=mp.get_context("forkserver"), initializer=init, initargs=(os.getpid(),)) as pool:
        for f in [pool.submit(work, i) for i in range(2)]:
            f.result()
'''


@pytest.mark.slow
def test_busy_forkserver_workers_die_with_their_killed_owner(tmp_path):
    """A forkserver outlives its SIGKILLed owner, so the parent-death signal never reaches its busy
    children; die_with_parent(owner) must still end them (seen once: two baseline fits ran on 30 min)."""
    script = tmp_path / "pool.py"
    script.write_text(_BUSY_POOL)
    cmd = [sys.executable, str(script), str(tmp_path), "pool"]  # cmd[3] names it in messages
    _kill_main_and_check(cmd, lambda kids: len(list(tmp_path.glob("ready-*"))) >= 2, ROOT)


def _kill_unreaped_and_read_to_eof(cmd: list[str], ready, cwd: Path, timeout: float = 240) -> None:
    """Start ``cmd`` with its stdout a pipe, wait until ``ready(descendant pids)``, SIGKILL the main process and,
    without reaping it (a caller reading the output to its end first, as ``subprocess.run(capture_output=True)``
    does), expect the end of its output within GRACE s: nothing it started may hold the pipe open."""
    import select

    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True)
    seen: set[int] = set()
    try:
        deadline = time.time() + timeout
        while time.time() < deadline:
            assert proc.poll() is None, f"{cmd[3]} ended before it could be killed"
            seen |= _descendants(proc.pid)
            if ready(seen):
                break
            time.sleep(0.01)
        else:
            pytest.fail(f"{cmd[3]}: never reached the point to kill it at")
        seen |= _descendants(proc.pid)
        os.kill(proc.pid, signal.SIGKILL)  # not waited for: the killed command stays a zombie meanwhile
        end = time.time() + GRACE
        eof = False
        while not eof and time.time() < end:
            if select.select([proc.stdout], [], [], max(0.0, end - time.time()))[0]:
                eof = os.read(proc.stdout.fileno(), 1 << 16) == b""
        left = {pid: _cmdline(pid)[:120] for pid in seen if _running(pid)}
        assert eof, f"the killed command's output still open {GRACE} s after its SIGKILL, held by {left}"
    finally:
        proc.wait()
        _kill_leftovers(proc, seen)


def _forkservers(kids) -> int:
    return sum("forkserver" in _cmdline(k) for k in kids)


@pytest.mark.slow
@pytest.mark.parametrize("point", ["forkserver", "workers forked", "workers busy"])
def test_killed_owner_not_yet_reaped_leaves_nothing_holding_its_output(tmp_path, point):
    """The race behind a forkserver and two workers still holding the caller's stdout 150 s after a SIGKILL: a
    caller that reads to EOF before it reaps keeps the killed owner a zombie, which counted as alive for the
    workers' watchdog, while the forkserver waits for its workers. Killed at three points, the output must end."""
    script = tmp_path / "pool.py"
    script.write_text(_BUSY_POOL)
    ready = {"forkserver": lambda kids: _forkservers(kids) >= 1,
             "workers forked": lambda kids: _forkservers(kids) >= 3,
             "workers busy": lambda kids: len(list(tmp_path.glob("ready-*"))) >= 2}[point]
    _kill_unreaped_and_read_to_eof([sys.executable, str(script), str(tmp_path), "pool"], ready, ROOT)


@pytest.mark.slow
@pytest.mark.parametrize("delay", [0.0, 1.0, 3.0])
def test_killed_preprocess_on_a_cold_cache_releases_its_output(tmp_path, shared, delay):
    """``madtn preprocess --jobs 2`` on a cold cache, SIGKILLed at several points after its forkserver starts and
    not reaped before its output has ended."""
    # TV-L1 flow: a cold cache takes well over the last delay even on an idle machine (Farnebäck finished in < 3 s)
    params = _params(tmp_path, shared, "pre", cache_dir=str(tmp_path / "cold-cache"), preprocess__map_size=64,
                     preprocess__flow__method="tvl1")
    cmd = [sys.executable, "-m", "madtn_utils.cli", "preprocess", "--params", str(params), "--jobs", "2"]
    start: list[float] = []

    def ready(kids) -> bool:
        if _forkservers(kids) >= 1 and not start:
            start.append(time.time())
        return bool(start) and time.time() - start[0] >= delay

    _kill_unreaped_and_read_to_eof(cmd, ready, tmp_path)
