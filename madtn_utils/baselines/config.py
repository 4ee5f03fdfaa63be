"""The ``baselines:`` section of a params file: which methods, their hyperparameters, the features.

Every hyperparameter is fixed before any target label is seen: the defaults are
:data:`~madtn_utils.baselines.DEFAULTS` (taken from each method's paper, documented there),
and ``hparams`` may replace some of them per method. Nothing here is chosen on the target.
The oracle audit (``oracle: true``) is separate and labelled as such: it sweeps
:data:`~madtn_utils.baselines.ORACLE_GRIDS` and keeps the best setting *on the target's
labels*, the way published baseline numbers were most likely obtained; its results appear
only in the report's audit section, never as our rows of Tables 3 and 4.

>>> p = BaselineParams(methods=("SVM",), hparams={"SVM": {"C": 10.0}})
>>> method_hparams(p, "SVM")["C"]
10.0
>>> BaselineParams(methods=("XYZ",))
Traceback (most recent call last):
...
ValueError: methods[0]: expected one of the implemented baselines (...), got 'XYZ'

``real_features`` names the published LBP-TOP features of SMIC-VIS and SMIC-NIR
(:mod:`~madtn_utils.baselines.real`); with both files given, every method is also fitted on them
for V->N and N->V (the "[ours, real LBP-TOP]" rows). Both null (the default) = no real rows.

>>> RealFeatures(vis="a.mat", nir=None)
Traceback (most recent call last):
...
ValueError: nir: expected the path of SMIC_NIR_Corpus_LBPTOP.mat, got null (real_features: null for no real rows)
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

from madtn_utils.baselines.lbptop import LbpTopConfig

__all__ = ["BaselineParams", "RealFeatures", "implemented", "method_hparams", "oracle_settings"]

#: The baselines of Tables 3 and 4, in the paper's row order.
PAPER_ORDER = ("SVM", "IW-SVM", "TCA", "GFK", "SA", "STM", "TKL", "TSRG", "DRFS-T", "DRLS", "RSTR")


def implemented() -> tuple[str, ...]:
    """The names of :data:`~madtn_utils.baselines.METHODS`, in the paper's row order."""
    from madtn_utils.baselines import METHODS

    return tuple(m for m in PAPER_ORDER if m in METHODS) + tuple(m for m in METHODS if m not in PAPER_ORDER)


def _check_value(where: str, value) -> None:
    if isinstance(value, bool) or isinstance(value, (int, str)):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{where}: expected a finite number, got {value!r}")
        return
    if isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _check_value(f"{where}[{i}]", v)
        return
    raise ValueError(f"{where}: expected a number, string, boolean or list, got {type(value).__name__} {value!r}")


@dataclass(frozen=True)
class RealFeatures:
    """The published LBP-TOP features of SMIC-VIS and SMIC-NIR (``../shared/real/zong-lbptop``)."""

    vis: str | None = None  # SMIC_VIS_Corpus_LBPTOP.mat (a relative path: to the params file's folder)
    nir: str | None = None  # SMIC_NIR_Corpus_LBPTOP.mat, rows aligned with vis's

    def __post_init__(self):
        for name in ("vis", "nir"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                got = "null" if value is None else repr(value)
                raise ValueError(f"{name}: expected the path of SMIC_{name.upper()}_Corpus_LBPTOP.mat, got {got} "
                                 "(real_features: null for no real rows)")


@dataclass(frozen=True)
class BaselineParams:
    """Which baselines run (``madtn reproduce --only baselines``, notebook 08) and how."""

    methods: tuple[str, ...] | None = None  # baselines to run, paper names; null = every implemented one
    lbptop: LbpTopConfig = field(default_factory=LbpTopConfig)  # the LBP-TOP features (baselines/lbptop.py)
    hparams: dict = field(default_factory=dict)  # per method, hyperparameters replacing its paper defaults: {SA: {n_components: 10}}
    oracle: bool = False  # also run the oracle audit: sweep the grids, keep the best on the TARGET labels (audit only)
    grids: dict = field(default_factory=dict)  # oracle audit only: per method, a grid replacing its ORACLE_GRIDS entry: {SVM: {C: [0.1, 1]}}
    real_features: RealFeatures | None = None  # {vis: ..., nir: ...}: also fit V->N, N->V on the published LBP-TOP; null = no real rows

    def __post_init__(self):
        names = implemented()
        for i, name in enumerate(self.methods or ()):
            if name not in names:
                raise ValueError(f"methods[{i}]: expected one of the implemented baselines ({', '.join(names)}), got {name!r}")
            if name in self.methods[:i]:
                raise ValueError(f"methods[{i}]: {name!r} is listed twice: expected each method once")
        if self.methods is not None and not self.methods:
            raise ValueError("methods: expected at least one method (or null for all), got an empty list")
        for name, values in self.hparams.items():
            if name not in names:
                raise ValueError(f"hparams: expected method names among {', '.join(names)}, got {name!r}")
            if not isinstance(values, dict):
                raise ValueError(f"hparams.{name}: expected a mapping of hyperparameters, got {type(values).__name__} {values!r}")
            allowed = _constructor_params(name)
            for key, value in values.items():
                if key not in allowed:
                    raise ValueError(f"hparams.{name}: unknown hyperparameter {key!r} (expected one of: {', '.join(allowed)})")
                _check_value(f"hparams.{name}.{key}", value)
        for name, grid in self.grids.items():
            if name not in names:
                raise ValueError(f"grids: expected method names among {', '.join(names)}, got {name!r}")
            if not isinstance(grid, dict) or not grid:
                raise ValueError(f"grids.{name}: expected a non-empty mapping of hyperparameter -> list of values, got {grid!r}")
            allowed = _constructor_params(name)
            for key, values in grid.items():
                if key not in allowed:
                    raise ValueError(f"grids.{name}: unknown hyperparameter {key!r} (expected one of: {', '.join(allowed)})")
                if not isinstance(values, (list, tuple)) or not values:
                    raise ValueError(f"grids.{name}.{key}: expected a non-empty list of values, got {values!r}")
                _check_value(f"grids.{name}.{key}", list(values))

    @property
    def selected(self) -> tuple[str, ...]:
        """The methods to run, in the paper's order."""
        return tuple(m for m in implemented() if self.methods is None or m in self.methods)


def _constructor_params(name: str) -> list[str]:
    from madtn_utils.baselines import METHODS

    return sorted(METHODS[name]().get_params(deep=False))


def method_hparams(params: BaselineParams, name: str) -> dict:
    """The label-free hyperparameters of ``name``: its paper defaults, then the params' replacements."""
    from madtn_utils.baselines import DEFAULTS

    return {**DEFAULTS.get(name, {}), **params.hparams.get(name, {})}


def oracle_settings(params: BaselineParams, name: str) -> list[dict]:
    """The oracle audit's settings of ``name``: the label-free one first, then every point of its grid
    (``grids`` of the params, else :data:`~madtn_utils.baselines.ORACLE_GRIDS`), so the oracle is never
    below the label-free row."""
    from madtn_utils.baselines import ORACLE_GRIDS

    base = method_hparams(params, name)
    grid = params.grids.get(name, ORACLE_GRIDS.get(name, {}))
    keys = list(grid)
    settings = [base] + [{**base, **dict(zip(keys, values))} for values in itertools.product(*(grid[k] for k in keys))]
    unique = []
    for s in settings:
        if s not in unique:
            unique.append(s)
    return unique
