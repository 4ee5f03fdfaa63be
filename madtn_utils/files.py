"""Atomic file writes: a temp file beside the target, then a rename.

Nothing half-written is ever left under a final name, and an existing result is only
replaced when the caller says so (``overwrite=True``).

>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> write_json(d / "m.json", {"a": 1}).name
'm.json'
>>> write_json(d / "m.json", {"a": 2}, overwrite=False)
Traceback (most recent call last):
...
FileExistsError: m.json exists: expected a new path (pass overwrite=True to replace it)
"""

from __future__ import annotations

import json
import os
from pathlib import Path

__all__ = ["atomic_write_bytes", "atomic_write_text", "write_json", "read_json", "os_reason", "writable_dir"]


def atomic_write_bytes(path: str | Path, data: bytes, *, overwrite: bool = True) -> Path:
    """Write ``data`` to ``path`` via ``.name.tmp-<pid>`` and ``os.replace``."""
    path = Path(path)
    if not overwrite and path.exists():
        raise FileExistsError(f"{path.name} exists: expected a new path (pass overwrite=True to replace it)")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def atomic_write_text(path: str | Path, text: str, *, overwrite: bool = True) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"), overwrite=overwrite)


def write_json(path: str | Path, obj, *, overwrite: bool = True) -> Path:
    """``obj`` as indented JSON (numpy scalars and paths become plain values)."""
    def default(value):
        if hasattr(value, "item"):
            return value.item()
        if hasattr(value, "tolist"):
            return value.tolist()
        return str(value)

    return atomic_write_text(path, json.dumps(obj, indent=2, default=default) + "\n", overwrite=overwrite)


def read_json(path: str | Path):
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{path} does not exist: expected a JSON file") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from None


def os_reason(exc: OSError) -> str:
    """``no space left on device``, ``permission denied``, ... (an OSError's message without the path)."""
    return (exc.strerror or str(exc)).lower() if isinstance(exc, OSError) else str(exc)


def writable_dir(path: str | Path, label: str, error: type[Exception] = ValueError) -> Path:
    """``path`` created if needed and shown writable (a probe file written and removed) before any work.

    ``label`` names it in the error (``"out_dir '/x'"``); ``error`` is the exception raised.

    >>> import tempfile, pathlib
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "f"
    >>> _ = f.write_text("x")
    >>> writable_dir(f, f"out_dir {f.name!r}")
    Traceback (most recent call last):
    ...
    ValueError: out_dir 'f' is a file: expected a folder (or a path where one can be created)
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise error(f"{label} is a file: expected a folder (or a path where one can be created)")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        blocker = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
        why = f"{str(blocker)!r} is a file" if blocker is not None else os_reason(exc)
        raise error(f"{label} cannot be created: {why}; expected a path where a folder can be created") from None
    probe = path / f".tmp-probe-{os.getpid()}"
    try:
        probe.write_bytes(b"probe")
        probe.unlink()
    except OSError as exc:
        raise error(f"{label} is not writable: {os_reason(exc)}; expected a folder this user can write") from None
    return path
