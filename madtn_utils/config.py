"""Strict, frozen configuration: unknown keys and wrong types are errors.

Every config section is a frozen dataclass whose fields carry type hints.
:func:`from_dict` builds one from a mapping (a YAML file, papermill parameters) and
raises ``ValueError`` naming the key and the expected type; :func:`to_dict` turns it
back into plain JSON-able data, saved beside every run's outputs.

>>> from dataclasses import dataclass
>>> @dataclass(frozen=True)
... class Demo:
...     lr: float = 2e-4
...     name: str = "x"
>>> from_dict(Demo, {"lr": 1})
Demo(lr=1.0, name='x')
>>> from_dict(Demo, {"lr": "fast"})
Traceback (most recent call last):
...
ValueError: demo.lr: expected float, got str 'fast'
>>> from_dict(Demo, {"epochs": 3})
Traceback (most recent call last):
...
ValueError: demo: unknown key 'epochs' (expected one of: lr, name)
>>> from_dict(Demo, {"lr": float("inf")})
Traceback (most recent call last):
...
ValueError: demo.lr: expected a finite float, got inf
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import types
import typing
from pathlib import Path

__all__ = ["from_dict", "to_dict", "config_hash", "load_yaml"]


def _type_name(tp) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(value, tp, where: str):
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is typing.Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        if len(inner) == 1 and dataclasses.is_dataclass(inner[0]) and isinstance(value, dict):
            return from_dict(inner[0], value, where=where)  # an optional section: its own, precise errors
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, where)
            except ValueError as exc:
                errors.append(str(exc))
        raise ValueError(f"{where}: expected {' or '.join(_type_name(a) for a in args)}, got {type(value).__name__} {value!r}")
    if origin is typing.Literal:
        if value not in args:
            raise ValueError(f"{where}: expected one of {', '.join(repr(a) for a in args)}, got {value!r}")
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"{where}: expected a finite number, got {value!r}")
        return value
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"{where}: expected a list, got {type(value).__name__} {value!r}")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise ValueError(f"{where}: expected {len(args)} items, got {len(value)}")
            return tuple(_coerce(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
        item = args[0] if args else typing.Any
        items = [_coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise ValueError(f"{where}: expected a mapping, got {type(value).__name__} {value!r}")
        return dict(value)
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise ValueError(f"{where}: expected a mapping, got {type(value).__name__} {value!r}")
        return from_dict(tp, value, where=where)
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if not math.isfinite(value):
                raise ValueError(f"{where}: expected a finite float, got {value!r}")
            return float(value)
    elif tp is str:
        if isinstance(value, str):
            return value
    elif isinstance(tp, type) and isinstance(value, tp):
        return value
    raise ValueError(f"{where}: expected {_type_name(tp)}, got {type(value).__name__} {value!r}")


def from_dict(cls, data, *, where: str | None = None):
    """Build the frozen dataclass ``cls`` from ``data``, strictly."""
    where = where or cls.__name__.lower()
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = [k for k in data if k not in fields]
    if unknown:
        raise ValueError(f"{where}: unknown key {unknown[0]!r} (expected one of: {', '.join(fields)})")
    kwargs = {k: _coerce(v, hints[k], f"{where}.{k}") for k, v in data.items()}
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ValueError(f"{where}: {exc}") from None
    except ValueError as exc:  # a __post_init__ check: say where in the params it sits
        raise ValueError(_located(str(exc), where, cls.__name__.lower())) from None


def _located(msg: str, where: str, cls_name: str) -> str:
    """``msg`` of a section's own check, prefixed with the section's full key ``where``.

    >>> _located("map_size: expected at least 8, got 2", "params.preprocess", "preprocessconfig")
    'params.preprocess.map_size: expected at least 8, got 2'
    >>> _located("trainconfig.lam: expected a number >= 0, got -1.0", "params.train", "trainconfig")
    'params.train.lam: expected a number >= 0, got -1.0'
    """
    for prefix in (where, cls_name, where.rsplit(".", 1)[-1]):
        if msg.startswith(prefix + ".") or msg.startswith(prefix + ":"):
            return where + msg[len(prefix):]
    return f"{where}.{msg}" if re.match(r"^[a-z_]+(\[\d+\])?[.:]", msg) else f"{where}: {msg}"


def to_dict(obj):
    """Plain data (dicts, lists, str, numbers) for a config dataclass."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {str(k): to_dict(v) for k, v in obj.items()}
    if isinstance(obj, Path):
        return str(obj)
    return obj


def config_hash(*parts, length: int = 16) -> str:
    """A stable hex digest of JSON-able parts (configs go through :func:`to_dict`)."""
    import hashlib

    blob = json.dumps([to_dict(p) for p in parts], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:length]


def _loader():
    """PyYAML's SafeLoader, with YAML 1.2 floats: ``1e-4`` and ``1E5`` are numbers, not strings.

    >>> import yaml
    >>> yaml.load("lr: 1e-4", Loader=_loader())
    {'lr': 0.0001}
    """
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_implicit_resolver(
        "tag:yaml.org,2002:float",
        re.compile(r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
                    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
                    |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
                    |[-+]?\.(?:inf|Inf|INF)
                    |\.(?:nan|NaN|NAN))$""", re.X),
        list("-+0123456789."))
    return Loader


def _yaml_error(exc) -> str:
    """One line for a YAML error: the problem and its line/column."""
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    mark = getattr(exc, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    hint = " (YAML indents with spaces, not tabs)" if "'\\t'" in problem else ""
    return f"{problem}{where}{hint}"


def load_yaml(path: str | Path) -> dict:
    """A YAML mapping from ``path``; a clear one-line error for a missing or malformed file."""
    import yaml

    path = Path(path)
    if path.is_dir():
        raise ValueError(f"params file {str(path)!r} is a folder: expected a YAML file")
    if not path.is_file():
        raise ValueError(f"params file {str(path)!r} does not exist: expected a YAML file")
    try:
        data = yaml.load(path.read_text(), Loader=_loader())
    except yaml.YAMLError as exc:
        raise ValueError(f"params file {str(path)!r} is not valid YAML: {_yaml_error(exc)}") from None
    if not isinstance(data, dict):
        raise ValueError(f"params file {str(path)!r}: expected a mapping at the top level, got {type(data).__name__}")
    return data
