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

__all__ = ["atomic_write_bytes", "atomic_write_text", "write_json", "read_json"]


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
