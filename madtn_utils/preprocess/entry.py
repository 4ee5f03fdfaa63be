"""One preprocessing cache entry on disk, and the cache folder that holds it.

An entry is a folder ``cache_dir/<database>-<key>/`` with ``maps.npz``, ``manifest.csv``
and ``config.json`` (see :mod:`madtn_utils.preprocess.cache`). Here:

- :func:`check_cache_dir`: the folder can be created and written, checked before any
  map is computed (:class:`CacheDirError` naming ``preprocess.cache_dir`` otherwise);
- :func:`write_entry`: written under ``.tmp-<entry>-<pid>`` and renamed into place, so no
  half entry can count as a hit; a write error (a full disk) removes the temporary folder
  and raises one :class:`CacheDirError`;
- :func:`read_entry` / :func:`load_cached`: read back, with the arrays and the manifest
  checked against each other; a damaged entry raises one of :data:`READ_ERRORS`;
- :func:`move_aside`: a damaged entry renamed to ``<entry>.corrupt-<timestamp>``;
- :func:`remove_stale_temps`: ``.tmp-…-<pid>`` leftovers of processes no longer alive.

>>> pid_alive(os.getpid())
True
>>> _TEMP.fullmatch(".tmp-smic-hs-0123abcd-4242").group(1)
'4242'
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from madtn_utils.files import os_reason, writable_dir
from madtn_utils.preprocess.domain import DomainData

__all__ = ["CacheDirError", "READ_ERRORS", "ARRAYS", "check_cache_dir", "write_entry", "read_entry", "load_cached",
           "move_aside", "remove_stale_temps", "pid_alive"]

#: What reading a damaged entry raises (pandas' EmptyDataError and ParserError are ValueErrors).
READ_ERRORS = (zipfile.BadZipFile, EOFError, ValueError, OSError, KeyError)
#: The arrays of ``maps.npz``.
ARRAYS = ("train_maps", "train_index", "test_maps", "labels")
_TEMP = re.compile(r"\.tmp-.+-(\d+)")


class CacheDirError(ValueError):
    """``preprocess.cache_dir`` cannot be created, written, or cleaned up."""


def _label(cache_dir: Path) -> str:
    return f"preprocess.cache_dir {str(cache_dir)!r}"


def check_cache_dir(cache_dir: str | Path) -> Path:
    """Create ``cache_dir`` if needed and write and delete a probe file in it; :class:`CacheDirError` otherwise."""
    return writable_dir(cache_dir, _label(Path(cache_dir)), CacheDirError)


def write_entry(folder: Path, arrays: dict, manifest: pd.DataFrame, meta: dict) -> None:
    """Write one entry atomically: a temporary folder beside ``folder``, then a rename.

    When another process published the same entry first, theirs is kept. Any write error
    (``OSError``: a full disk, a quota, a lost mount) removes the temporary folder and raises
    :class:`CacheDirError` naming the cache folder and the reason.
    """
    tmp = folder.parent / f".tmp-{folder.name}-{os.getpid()}"
    try:
        if tmp.exists():
            shutil.rmtree(tmp)  # our own pid: a leftover of an earlier failed write in this process
        tmp.mkdir(parents=True)
        np.savez(tmp / "maps.npz", **arrays)
        manifest.to_csv(tmp / "manifest.csv", index=False)
        (tmp / "config.json").write_text(json.dumps(meta, indent=2, default=str))
        try:
            os.rename(tmp, folder)
        except OSError:
            if not (folder / "maps.npz").is_file():
                raise
            shutil.rmtree(tmp)  # another process finished the same entry first: keep theirs
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)  # best effort; the error that matters is raised below
        if isinstance(exc, OSError):
            raise CacheDirError(f"{_label(folder.parent)}: could not write the cache entry {folder.name}: "
                                f"{os_reason(exc)}; expected a writable folder with room for the maps") from None
        raise


def read_entry(folder: str | Path) -> tuple[dict, pd.DataFrame]:
    """``(fields of DomainData but its name, manifest)`` of one entry; one of :data:`READ_ERRORS` when damaged."""
    folder = Path(folder)
    manifest = pd.read_csv(folder / "manifest.csv", keep_default_na=False)
    ok = manifest[manifest["error"].astype(str) == ""] if "error" in manifest else manifest
    with open(folder / "maps.npz", "rb") as fh, np.load(fh) as z:  # our handle: closed even when np.load fails
        parts = {name: z[name] for name in ARRAYS}
    if not len(parts["labels"]) == len(parts["test_maps"]) == len(ok):
        raise ValueError(f"{folder}: expected one label and test map per manifest row without error ({len(ok)}), "
                         f"got {len(parts['labels'])} and {len(parts['test_maps'])}")
    if len(parts["train_index"]) != len(parts["train_maps"]):
        raise ValueError(f"{folder}: expected one train_index per train map, got {len(parts['train_index'])} "
                         f"for {len(parts['train_maps'])}")
    parts.update(sample_ids=tuple(ok["sample_id"].astype(str)), subjects=tuple(ok["subject"].astype(str)))
    return parts, manifest


def load_cached(folder: str | Path, database: str):
    """``(DomainData, manifest DataFrame)`` from one cache entry folder."""
    parts, manifest = read_entry(folder)
    return DomainData(database, **parts), manifest


def move_aside(folder: Path) -> Path | None:
    """Rename a damaged entry to ``<entry>.corrupt-<timestamp>`` in the same folder; the new path,
    or None when it is gone already (another process moved it)."""
    stamp = time.strftime("%Y%m%dT%H%M%S")
    target, n = folder.with_name(f"{folder.name}.corrupt-{stamp}"), 1
    while target.exists():
        target, n = folder.with_name(f"{folder.name}.corrupt-{stamp}-{n}"), n + 1
    try:
        os.rename(folder, target)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CacheDirError(f"{_label(folder.parent)}: the unreadable cache entry {folder.name} cannot be moved "
                            f"aside: {os_reason(exc)}; expected a writable folder (or delete the entry)") from None
    return target


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists (True where that cannot be known: never remove a live temp)."""
    if os.name != "posix" or pid <= 0:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: it exists, under another user
        return True
    return True


def remove_stale_temps(cache_dir: str | Path) -> tuple[list[Path], list[str]]:
    """Remove ``.tmp-<name>-<pid>`` leftovers whose process is gone: ``(removed, failures)``."""
    removed, failures = [], []
    path = Path(cache_dir)
    if not path.is_dir():
        return removed, failures
    for entry in sorted(path.iterdir()):
        match = _TEMP.fullmatch(entry.name)
        if match is None or pid_alive(int(match.group(1))):
            continue
        try:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        except FileNotFoundError:  # another run removed it first
            continue
        except OSError as exc:
            failures.append(f"{entry}: {os_reason(exc)}")
            continue
        removed.append(entry)
    return removed, failures
