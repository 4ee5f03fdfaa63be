"""The code that made a run: the package version, the git commit (with a dirty flag) and a hash of the training code.

Two things, kept apart so that a harmless commit (a README edit, a new report section) never retrains
anything, while the results of other code never count silently:

- :data:`PACKAGE_VERSION` (``madtn_utils.__version__``, the release) is part of every run's hash
  (:func:`~madtn_utils.suite.spec.run_config`): runs of another release are redone, like runs of another
  ``TRAIN_VERSION`` or ``PREPROCESS_VERSION`` (the numbers' own versions, bumped when a change moves numbers);
- :func:`code_version` is recorded in every run's ``metrics.json`` (``code``): the version, the git
  commit and whether the checkout had uncommitted changes (None outside a git checkout), and
  ``source_sha256``, the hash of the source files that make a run's numbers (:data:`TRAINING_SOURCES`:
  data, preprocessing, training, the run spec and params, and notebook 02). A run whose ``source_sha256``
  differs from this checkout's is *marked* wherever it is collected (a warning, the report's provenance,
  the ``code`` column of :func:`~madtn_utils.suite.tables.collect_runs`), not redone: to redo it, delete its
  folder (or bump ``TRAIN_VERSION`` when the numbers change on purpose).

>>> v = code_version()
>>> sorted(v) == ["commit", "dirty", "package", "source_sha256"] and v["package"] == PACKAGE_VERSION
True
>>> len(v["source_sha256"])
16
>>> other_code({"code": dict(v)}), other_code({"code": {**v, "commit": "0123456789abcdef", "dirty": True, "source_sha256": "0" * 16}})
(None, 'training code differs (commit 0123456789 with uncommitted changes, source 0000000000000000)')
"""

from __future__ import annotations

import functools
import hashlib
import subprocess
from pathlib import Path

from madtn_utils import __version__

__all__ = ["PACKAGE_VERSION", "TRAINING_SOURCES", "git_commit", "source_hash", "code_version", "other_code"]

#: The release: part of every run hash.
PACKAGE_VERSION = __version__
#: What makes a run's numbers, relative to the repository root: folders (every ``.py`` under them) and files.
TRAINING_SOURCES = ("madtn_utils/config.py", "madtn_utils/files.py", "madtn_utils/data", "madtn_utils/preprocess",
                    "madtn_utils/train", "madtn_utils/suite/params.py", "madtn_utils/suite/spec.py",
                    "madtn_utils/suite/runs.py", "notebooks/02_train.ipynb")
_ROOT = Path(__file__).resolve().parents[2]


@functools.lru_cache(maxsize=1)
def git_commit() -> tuple[str | None, bool | None]:
    """``(commit, dirty)`` of the checkout holding the package; ``(None, None)`` outside git (or without git)."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=_ROOT, capture_output=True, text=True,
                                timeout=10).stdout.strip()
        if not commit:
            return None, None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=_ROOT,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return commit, bool(dirty)
    except (OSError, subprocess.SubprocessError):
        return None, None


@functools.lru_cache(maxsize=4)
def source_hash(root: Path = _ROOT) -> str:
    """The hash of the :data:`TRAINING_SOURCES` under ``root`` (paths and bytes; ``__pycache__`` left out), read
    once per process: the code this process runs."""
    h = hashlib.sha256()
    for entry in TRAINING_SOURCES:
        path = root / entry
        files = sorted(path.rglob("*.py")) if path.is_dir() else [path] if path.is_file() else []
        for f in files:
            if "__pycache__" in f.parts:
                continue
            h.update(f.relative_to(root).as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def code_version() -> dict:
    """``{"package", "commit", "dirty", "source_sha256"}`` of the code running now (recorded in ``metrics.json``)."""
    commit, dirty = git_commit()
    return {"package": PACKAGE_VERSION, "commit": commit, "dirty": dirty, "source_sha256": source_hash()}


def other_code(record: dict, current: dict | None = None) -> str | None:
    """Why the run of ``record`` (a ``metrics.json``) was made by other code than ``current`` (default: this
    checkout's :func:`code_version`), in a few words; None when its training code is the same."""
    current = current or code_version()
    made = record.get("code") or {}
    if not made.get("source_sha256"):
        return "made before runs recorded their code"
    if made["source_sha256"] == current["source_sha256"]:
        return None
    commit = f"commit {made['commit'][:10]}{' with uncommitted changes' if made.get('dirty') is not False else ''}, " \
        if made.get("commit") else ""
    return f"training code differs ({commit}source {made['source_sha256']})"
