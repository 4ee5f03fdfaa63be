"""Process helpers: workers that die with their parent, one-line warnings, leftovers of dead processes.

Every worker pool of the package (preprocessing, the grid, ``madtn synth``) calls
:func:`die_with_parent` in its worker initializer, so no worker outlives the process
that started it, whichever way that process dies (SIGKILL included): on Linux through
``prctl(PR_SET_PDEATHSIG, SIGKILL)`` (set in the worker itself; it fires when the
thread that started the worker exits), elsewhere through a watchdog thread polling
the parent. papermill kernels get ``JPY_PARENT_PID`` from jupyter_client and poll their
parent themselves, so they end within about a second of the worker or the command
that launched them.

Temporary files carry the pid of the process writing them (``.name.partial-<pid>.ipynb``,
``.name.tmp-<pid>``, ``.tmp-<name>-<pid>``, ``.write-probe-<pid>``); :func:`remove_stale` removes those whose
process is gone.

>>> stale_pid(".02_train.partial-1234.ipynb"), stale_pid(".metrics.json.tmp-77"), stale_pid(".tmp-casme2-ab12-99")
(1234, 77, 99)
>>> stale_pid("02_train.ipynb") is None and stale_pid("02_train.failed.ipynb") is None
True
>>> pid_alive(os.getpid())
True
>>> one_line_warning("no face found", UserWarning, "x.py", 3)
'warning: no face found\\n'
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import sys
import threading
import time
import warnings
from pathlib import Path

__all__ = ["NotebookFailed", "RunLock", "die_with_parent", "pid_alive", "pid_running", "stale_pid", "remove_stale",
           "one_line_warning", "one_line_warnings", "BAD_INPUT", "one_line_errors"]

_PR_SET_PDEATHSIG = 1
_STALE = (re.compile(r"\.(?:partial|tmp|write-probe)-(\d+)(?:\.[A-Za-z0-9]+)?$"), re.compile(r"^\.tmp-.+-(\d+)$"))


class NotebookFailed(RuntimeError):
    """A papermill notebook (its kernel) failed; the message is one line naming the executed notebook to open."""


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists (a zombie counts as alive until reaped)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, owned by another user
        return True
    return True


def pid_running(pid: int) -> bool:
    """Whether a process ``pid`` exists and has not exited: a zombie (exited, not yet reaped by its parent) is not
    running (Linux: its ``/proc`` state; elsewhere :func:`pid_alive`)."""
    if not pid_alive(pid):
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return pid_alive(pid)  # no /proc (or the process just went): what kill(pid, 0) says
    return state not in ("Z", "X")


def _kill_self() -> None:
    os.kill(os.getpid(), signal.SIGKILL if hasattr(signal, "SIGKILL") else signal.SIGTERM)


def _watchdog(ppid: int, owner: int | None, interval: float) -> None:
    while os.getppid() == ppid and (owner is None or pid_running(owner)):
        time.sleep(interval)
    _kill_self()


def die_with_parent(owner: int | None = None, *, interval: float = 0.5) -> str:
    """Make this (worker) process die as soon as its parent dies; returns the mechanism used.

    ``owner``: the pid of the process that created the pool, when that is not the
    parent (a forkserver's children): if it is already gone, this process dies now.
    Linux: ``PR_SET_PDEATHSIG`` = SIGKILL ("pdeathsig"); elsewhere a daemon thread
    polls ``os.getppid()`` (and ``owner``) every ``interval`` seconds ("watchdog"). A
    forkserver's child (``owner`` not its parent) gets both ("pdeathsig+watchdog"): the
    forkserver process outlives a SIGKILLed owner, so the parent-death signal alone never
    comes (seen: two baseline workers kept running 30 min after their command was killed).

    The owner counts as gone as soon as it has exited, reaped or not (:func:`pid_running`): a caller that reads
    the command's output to its end before it reaps the command (``subprocess.run(..., capture_output=True)``)
    keeps the killed owner a zombie, while the workers, the forkserver (which lives until its children have
    closed their copies of its pipe) and the resource tracker hold that output open: with "alive" meaning
    "not reaped" each waited for the other (seen once: forkserver and two workers still there 150 s after the
    SIGKILL of ``madtn preprocess --jobs 2``; whether it happened depended on whether the caller reaped first).
    Call it in the worker process itself (a pool initializer), never in a command.
    """
    ppid = os.getppid()
    mechanism = "watchdog"
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0:
                mechanism = "pdeathsig"
        except (OSError, AttributeError):  # no prctl in this libc: the watchdog below does the job
            mechanism = "watchdog"
    if owner is not None and not pid_running(owner):  # the owner died before we asked (a zombie has died)
        _kill_self()
    if owner is not None and owner != ppid and mechanism == "pdeathsig":
        # a forkserver's child: the forkserver outlives a killed owner, so pdeathsig never fires; poll the owner too
        mechanism = "pdeathsig+watchdog"
    if mechanism != "pdeathsig":
        threading.Thread(target=_watchdog, args=(ppid, owner, interval), name="madtn-parent-watchdog", daemon=True).start()
    return mechanism


class RunLock:
    """``folder/.lock`` holding our pid: a second ``madtn reproduce`` of the same run folder is refused while we live
    (a lock whose process is gone is taken over)."""

    def __init__(self, folder: str | Path):
        self.path = Path(folder) / ".lock"

    def __enter__(self):
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                try:
                    pid = int(self.path.read_text().strip() or 0)
                    os.kill(pid, 0)
                except (ValueError, ProcessLookupError, FileNotFoundError):
                    self.path.unlink(missing_ok=True)  # stale: its process is gone
                    continue
                except PermissionError:  # the process exists (another user's): the lock is live, refuse below
                    pass
                raise ValueError(f"{self.path.parent}: another madtn reproduce (pid {pid}) is working on this run folder: "
                                 "expected it to finish first (or remove .lock if that process is gone)") from None
            os.write(fd, str(os.getpid()).encode())
            os.close(fd)
            return self
        raise ValueError(f"{self.path}: could not take the run lock")

    def __exit__(self, *exc):
        self.path.unlink(missing_ok=True)


def stale_pid(name: str) -> int | None:
    """The writer's pid in a temporary file name (module docstring); None for other names."""
    for pattern in _STALE:
        m = pattern.search(name)
        if m:
            return int(m.group(1))
    return None


def remove_stale(*folders) -> list[Path]:
    """Remove the temporary files and folders in ``folders`` whose writing process is gone; returns them."""
    removed = []
    for folder in folders:
        try:
            entries = list(Path(folder).iterdir())
        except (FileNotFoundError, NotADirectoryError):  # nothing there yet: nothing to clean
            continue
        for path in entries:
            pid = stale_pid(path.name)
            if pid is None or pid == os.getpid() or pid_alive(pid):
                continue
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def one_line_warning(message, category, filename, lineno, line=None, *, prefix: str = "") -> str:
    """``warnings.formatwarning`` without the source line: ``[prefix: ]warning: <message>``."""
    return f"{prefix + ': ' if prefix else ''}warning: {message}\n"


def one_line_warnings(prefix: str = ""):
    """Print every Python warning of this process as one line (``madtn <cmd>: warning: ...``); returns the
    previous ``warnings.formatwarning`` (to restore)."""
    def fmt(message, category, filename, lineno, line=None):
        return one_line_warning(message, category, filename, lineno, line, prefix=prefix)

    previous, warnings.formatwarning = warnings.formatwarning, fmt
    return previous


#: What a command turns into one line and exit status 2: a bad input (named by the error) or a failing notebook.
BAD_INPUT = (ValueError, FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError, NotebookFailed)


def one_line_errors(prog: str, func, argv=None) -> int:
    """``func(argv)``'s exit status, with a :data:`BAD_INPUT` error printed as one line ``<prog>: error: <message>``
    (exit status 2) and an interruption as ``<prog>: interrupted`` (130), as ``madtn`` does: for the scripts
    under ``bench/``."""
    try:
        return int(func(argv) or 0)
    except BAD_INPUT as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
