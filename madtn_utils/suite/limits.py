"""Checks at the edge that need no data: the baselines' hyperparameters and the lengths of paths.

:func:`check_hparams` checks every value of ``baselines.hparams`` and ``baselines.grids`` with the
checks the methods run when they fit (:mod:`madtn_utils.baselines.kernels`), so a bad value is one
line naming its full key when the params are read, not a "failed" row of every task after the
features are computed:

>>> from madtn_utils.baselines.config import BaselineParams
>>> check_hparams(BaselineParams(hparams={"SVM": {"C": "abc"}}))
Traceback (most recent call last):
...
ValueError: params.baselines.hparams.SVM.C: expected a finite number > 0, got 'abc'
>>> check_hparams(BaselineParams(grids={"SA": {"n_components": [5, 0]}}))
Traceback (most recent call last):
...
ValueError: params.baselines.grids.SA.n_components[1]: expected an integer >= 1, got 0

:func:`check_path` refuses a path the file system cannot hold (a folder name longer than its
``NAME_MAX``, usually 255 bytes, or a whole path, with what will be written under it, longer than its
``PATH_MAX``), naming the key, before ``OSError: [Errno 36] File name too long`` would come from deep inside:

>>> check_path("/tmp/" + "x" * 300, "params.output_dir")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
ValueError: params.output_dir: the folder name 'xxxxxxxx...' has 300 bytes, more than the file system allows (255): ...
"""

from __future__ import annotations

import os
from pathlib import Path

from madtn_utils.baselines.kernels import KERNELS, PREPROCESSING, check_choice, check_int, check_positive

__all__ = ["HPARAM_CHECKS", "check_hparam", "check_hparams", "name_limits", "check_path", "check_params"]

#: Bytes a folder of the params needs beneath it (the deepest file written there, with room for a run folder's name).
_BELOW = {"output_dir": 320, "cache_dir": 128, "synthetic_dir": 200}


def _positive(name, value):
    check_positive(name, value)


def _positive_or_none(name, value):
    check_positive(name, value, allow_none=True)


def _fraction_or_none(name, value):
    check_positive(name, value, allow_none=True, inclusive=True)
    if value is not None and value >= 1:
        raise ValueError(f"{name}: expected a number in [0, 1) or None, got {value!r}")


#: hyperparameter -> its check (name, value); a (method, hyperparameter) entry wins over the hyperparameter's own.
HPARAM_CHECKS = {
    "C": _positive, "B": _positive, "mu": _positive, "tol": _positive, "gamma": _positive_or_none,
    "lam": lambda n, v: check_positive(n, v, inclusive=True), "eps": _fraction_or_none,
    "zeta": lambda n, v: check_positive(n, v, minimum=1.0, inclusive=True),
    "n_components": lambda n, v: check_int(n, v), "n_eig": lambda n, v: check_int(n, v, extra=(None,)),
    "max_iter": lambda n, v: check_int(n, v), "kernel": lambda n, v: check_choice(n, v, KERNELS),
    "preprocess": lambda n, v: check_choice(n, v, PREPROCESSING),
    "classifier": lambda n, v: check_choice(n, v, ("1nn", "svm")),
    ("GFK", "n_components"): lambda n, v: check_int(n, v, extra=("sdm",)),
    ("TCA", "kernel"): lambda n, v: check_choice(n, v, ("primal", "linear", "rbf")),
    ("TKL", "gamma"): _positive, ("STM", "lam"): _positive,
}


def check_hparam(method: str, key: str, value, where: str) -> None:
    """ValueError ``<where>: expected ...`` when ``value`` is not a valid ``key`` of ``method``."""
    check = HPARAM_CHECKS.get((method, key), HPARAM_CHECKS.get(key))
    if check is None:
        return
    try:
        check(key, value)
    except TypeError:  # a comparison of a string with a number
        raise ValueError(f"{where}: expected a number, got {value!r}") from None
    except ValueError as exc:
        raise ValueError(f"{where}{str(exc)[len(key):]}") from None


def check_hparams(b, where: str = "params.baselines") -> None:
    """Every value of ``b.hparams`` and ``b.grids`` (a :class:`~madtn_utils.baselines.config.BaselineParams`)."""
    for method, values in (b.hparams or {}).items():
        for key, value in values.items():
            check_hparam(method, key, value, f"{where}.hparams.{method}.{key}")
    for method, grid in (b.grids or {}).items():
        for key, values in grid.items():
            for i, value in enumerate(values):
                check_hparam(method, key, value, f"{where}.grids.{method}.{key}[{i}]")


def name_limits(path: str | Path) -> tuple[int, int]:
    """``(NAME_MAX, PATH_MAX)`` of the file system holding ``path`` (its nearest existing folder); 255, 4096 where
    the system does not say."""
    here = Path(os.path.abspath(path))
    while not os.path.isdir(here) and here != here.parent:  # os.path: False, not Errno 36, for a long name
        here = here.parent
    try:
        return os.pathconf(here, "PC_NAME_MAX"), os.pathconf(here, "PC_PATH_MAX")
    except (OSError, ValueError, AttributeError):
        return 255, 4096


def check_path(path: str | Path, key: str, *, below: int = 0) -> None:
    """ValueError naming ``key`` when ``path`` has a component longer than the file system's ``NAME_MAX`` (in bytes),
    or is, with ``below`` more bytes of what is written under it, longer than ``PATH_MAX``."""
    name_max, path_max = name_limits(path)
    full = os.fsencode(os.path.abspath(path))
    for part in Path(os.path.abspath(path)).parts:
        size = len(os.fsencode(part))
        if size > name_max:
            raise ValueError(f"{key}: the folder name {part[:8] + '...'!r} has {size} bytes, more than the file system "
                             f"allows ({name_max}): expected shorter folder names")
    if len(full) + below >= path_max:
        extra = f" with the {below} bytes of what is written under it" if below else ""
        raise ValueError(f"{key}: the path {os.fsdecode(full[:40])}... has {len(full)} bytes{extra}, more than the file "
                         f"system allows ({path_max}): expected a shorter path")


def check_params(params) -> None:
    """What :func:`~madtn_utils.suite.params.load_params` checks beyond the sections' own checks: the baselines'
    hyperparameters (:func:`check_hparams`), every folder of the params and the run folder (:func:`check_path`),
    and a ``data.shift`` given with the real databases (it would apply to nothing)."""
    from madtn_utils.data.shift import Shift

    check_hparams(params.baselines)
    d = params.data
    for key, path in (("output_dir", params.output_dir), ("cache_dir", params.cache_dir),
                      ("synthetic_dir", d.synthetic_dir if d.synthetic else None)):
        if path is not None:
            check_path(path, f"params.{key}", below=_BELOW[key] if key != "output_dir" else 0)
    name_max, _ = name_limits(params.output_dir)
    if len(os.fsencode(params.name)) > name_max:
        raise ValueError(f"params.name: {params.name[:8] + '...'!r} has {len(os.fsencode(params.name))} bytes, more "
                         f"than the file system allows in a folder name ({name_max}): expected a shorter name")
    check_path(params.run_dir, "params.output_dir (with params.name)", below=_BELOW["output_dir"])
    if d.synthetic is None and d.shift != Shift():
        raise ValueError(f"params.data.shift: the shift applies to the synthetic databases only, and data.synthetic "
                         f"is null (the real databases): expected no data.shift, got {d.shift.as_dict()}")
