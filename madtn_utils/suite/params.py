"""Run parameters: one strict, frozen config per run, read from ``params/*.yaml``.

A params file has the sections ``data``, ``preprocess``, ``train``, ``experiments``,
``baselines`` (:class:`~madtn_utils.baselines.config.BaselineParams`) and a few top-level keys (``name``, ``seeds``, ``jobs``, ``cache_dir``, ``output_dir``).
Unknown keys and wrong types raise ``ValueError`` naming them (papermill itself only
warns). Relative paths in a params file are relative to the folder holding that file
(so ``params/smoke.yaml`` writes ``../outputs/...``); :func:`load_params` makes them
absolute, and every run saves the resolved params beside its outputs.

:func:`load_domain` is what notebooks and the CLI call: index one database (generating
the synthetic databases first where the params ask for them and they are absent) and
preprocess it through the cache.
"""

from __future__ import annotations

import dataclasses
import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from madtn_utils.baselines.config import BaselineParams
from madtn_utils.config import from_dict, load_yaml, to_dict
from madtn_utils.data.shift import Shift, shift_tag
from madtn_utils.data.types import DATABASES, IndexWarning
from madtn_utils.data.index import build_index
from madtn_utils.preprocess.domain import COMPONENTS
from madtn_utils.preprocess.sample import PreprocessConfig
from madtn_utils.suite.limits import check_params
from madtn_utils.train.tasks import COMPOSITE_TASKS, TASKS, parse_task
from madtn_utils.train.hparams import TrainConfig

__all__ = ["CompositeParams", "DataParams", "ExperimentParams", "RunParams", "load_params", "params_from_dict",
           "check_run_name", "database_root", "load_index", "load_composite", "load_domain", "dump_params", "needed_databases", "override"]


@dataclass(frozen=True)
class CompositeParams:
    """The real composite set (MEGC 2019, STSTNet/HTNet layout): precomputed onset->apex flow
    (:mod:`madtn_utils.data.composite`); the real-data study (``--only real``) reads it."""

    root: str  # the folder holding combined_3_class2_for_optical_flow.csv and datasets/
    map_size: int = 28  # side of the flow maps: 28 = the files' own; other sizes resize bilinearly

    def __post_init__(self):
        if not 8 <= self.map_size <= 512:
            raise ValueError(f"map_size: expected an integer in 8..512, got {self.map_size}")


@dataclass(frozen=True)
class DataParams:
    """Where the databases are."""

    synthetic: Literal["tiny", "small", "paper"] | None = "tiny"  # synthetic size; null = the real databases below
    synthetic_seed: int = 0  # seed of the synthetic databases
    synthetic_dir: str = "../outputs/synthetic"  # where synthetic databases are written (one folder per size, seed and shift)
    shift: Shift = field(default_factory=Shift)  # synthetic only: strength in [0, 1] of each shift component (data/shift.py)
    casme2_root: str | None = None  # real CASME II: the folder holding subNN/ (raw or cropped release)
    casme2_coding: str | None = None  # real CASME II coding file; default: found in casme2_root or its parent
    casme2_sample_list: Literal["benchmark", "coding"] = "benchmark"  # benchmark = coding file + sub24/EP02_07 (130)
    smic_root: str | None = None  # real SMIC: the folder holding HS/, VIS/, NIR/
    composite: CompositeParams | None = None  # the real composite flow set (--only real); null = none
    source: Literal["databases", "composite"] = "databases"  # what tasks read: the databases above, or data.composite

    def __post_init__(self):
        if self.source == "composite" and self.composite is None:
            raise ValueError("source: 'composite' needs data.composite: {root: ...}, got data.composite null")


@dataclass(frozen=True)
class ExperimentParams:
    """The grid behind Tables 3-5 and Figures 5-6."""

    tasks: tuple[str, ...] = TASKS  # Tables 3-4 and Figure 5
    ablation_tasks: tuple[str, ...] = ("C->H", "C->V", "H->N")  # Table 5
    ablation_components: tuple[str, ...] = ("Face", "onOF-Face", "onOF-endOF", "onOF-Face-endOF")  # Table 5 rows
    lambda_tasks: tuple[str, ...] = ("C->H", "C->V")  # Figure 6
    lambdas: tuple[float, ...] = (0.0, 0.5, 1.0, 2.0, 4.0, 6.0, 8.0, 10.0)  # Figure 6 grid (paper: not given)
    control_tasks: tuple[str, ...] = ("C->H", "H->N")  # negative controls (--only controls; beyond the paper)
    shift_tasks: tuple[str, ...] = ("C->H", "H->N")  # shift study (--only shift; synthetic data only)
    shift_strengths: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0)  # shift study: every data.shift component set to each
    real_tasks: tuple[str, ...] = ()  # real-data study (--only real): tasks on data.composite; () = every ordered pair present
    real_lambdas: tuple[float, ...] = (0.0, 0.5, 1.0, 2.0, 4.0, 8.0)  # real-data study: λ sweep of the paper's kernel
    real_variants: tuple[str, ...] = ("paper kernel", "median kernel", "L2 features", "CORAL", "DANN", "JMMD", "labels permuted",
                                      "input zeroed", "MMD flipped")  # real-data study: variants at λ beside λ = 0 (grid.REAL_VARIANTS)
    alignment_losses: tuple[Literal["coral", "dann", "jmmd"], ...] = ("coral", "dann", "jmmd")  # --only alignment: the losses beside λ = 0 and the MMD
    alignment_tasks: tuple[str, ...] = ()  # --only alignment on the benchmark's data: its tasks; () = experiments.tasks
    real_loso_seeds: int = 3  # real-data study: seeds (the first of params.seeds) of leave-one-subject-out at λ = 0 within each database; 0 = none

    def __post_init__(self):
        for name in ("tasks", "ablation_tasks", "lambda_tasks", "control_tasks", "shift_tasks", "real_tasks",
                     "alignment_tasks"):
            values = getattr(self, name)
            for i, task in enumerate(values):
                try:
                    parse_task(task)
                except ValueError as exc:
                    raise ValueError(f"{name}[{i}]: {exc}") from None
                if name != "real_tasks" and task not in TASKS:
                    raise ValueError(f"{name}[{i}]: expected one of the benchmark's tasks ({', '.join(TASKS)}), got "
                                     f"{task!r} (tasks on the composite set go in experiments.real_tasks)")
                if name == "real_tasks" and task not in COMPOSITE_TASKS:
                    raise ValueError(f"{name}[{i}]: expected a task of the composite set ({', '.join(COMPOSITE_TASKS)}), "
                                     f"got {task!r}")
                if task in values[:i]:
                    raise ValueError(f"{name}[{i}]: task {task!r} is listed twice: expected each task once")
        for i, comp in enumerate(self.ablation_components):
            if comp not in COMPONENTS:
                raise ValueError(f"ablation_components[{i}]: expected one of {', '.join(COMPONENTS)}, got {comp!r}")
        if self.real_loso_seeds < 0:
            raise ValueError(f"real_loso_seeds: expected 0 (no LOSO reference) or a number of seeds, got {self.real_loso_seeds}")
        for name in ("lambdas", "real_lambdas"):
            for i, lam in enumerate(getattr(self, name)):
                if lam < 0:
                    raise ValueError(f"{name}[{i}]: expected λ >= 0, got {lam:g}")
        for i, strength in enumerate(self.shift_strengths):
            if not 0 <= strength <= 1:
                raise ValueError(f"shift_strengths[{i}]: expected a strength in [0, 1], got {strength:g}")


@dataclass(frozen=True)
class RunParams:
    """Everything one reproduction (or one notebook run) needs."""

    name: str = "run"  # run name: outputs go to <output_dir>/<name>/
    seeds: tuple[int, ...] = (0,)  # training seeds; tables report mean ± std over them
    jobs: int = 0  # worker processes for preprocessing and for the grid; 0 = all cores
    cache_dir: str = "../outputs/cache"  # preprocessed maps, keyed by preprocessing parameters and input files
    output_dir: str = "../outputs"  # parent of the run folder
    data: DataParams = field(default_factory=DataParams)
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    experiments: ExperimentParams = field(default_factory=ExperimentParams)
    baselines: BaselineParams = field(default_factory=BaselineParams)  # the baseline rows of Tables 3-4 (notebook 08)

    def __post_init__(self):
        if not self.seeds:
            raise ValueError("params.seeds: expected at least one seed, got none")
        for i, seed in enumerate(self.seeds):
            if seed < 0:
                raise ValueError(f"params.seeds[{i}]: expected an integer >= 0, got {seed}")
            if seed in self.seeds[:i]:
                raise ValueError(f"params.seeds[{i}]: seed {seed} is listed twice: expected distinct seeds")
        if self.jobs < 0:
            raise ValueError(f"params.jobs: expected 0 (all cores) or a positive number, got {self.jobs}")
        check_run_name(self.name)

    @property
    def n_jobs(self) -> int:
        return self.jobs or os.cpu_count() or 1

    @property
    def run_dir(self) -> Path:
        return Path(self.output_dir) / self.name


def check_run_name(name: str) -> str:
    """``name`` when it is a plain folder name (the run folder under ``output_dir``), else ValueError.

    >>> check_run_name("smoke")
    'smoke'
    >>> check_run_name("../..")
    Traceback (most recent call last):
    ...
    ValueError: params.name: expected a plain folder name (letters, digits, '.', '_', '-'; not '.' or '..'), got '../..'
    """
    if not isinstance(name, str) or name in ("", ".", "..") or not re.fullmatch(r"[A-Za-z0-9._-]+", name) \
            or name.startswith("."):
        raise ValueError("params.name: expected a plain folder name (letters, digits, '.', '_', '-'; not '.' or '..'), "
                         f"got {name!r}")
    return name


def _absolute(value: str | None, base: Path) -> str | None:
    if value is None:
        return None
    path = Path(os.path.expanduser(value))
    return str(path if path.is_absolute() else (base / path).resolve())


def params_from_dict(data: dict, *, base: str | Path = ".") -> RunParams:
    """Strictly validated :class:`RunParams`; relative paths resolved against ``base``."""
    params = from_dict(RunParams, data, where="params")
    base = Path(base)
    d = params.data
    composite = d.composite and dataclasses.replace(d.composite, root=_absolute(d.composite.root, base))
    data_abs = dataclasses.replace(
        d, synthetic_dir=_absolute(d.synthetic_dir, base), casme2_root=_absolute(d.casme2_root, base),
        casme2_coding=_absolute(d.casme2_coding, base), smic_root=_absolute(d.smic_root, base), composite=composite)
    pre = params.preprocess
    if pre.retinaface_weights:
        pre = dataclasses.replace(pre, retinaface_weights=_absolute(pre.retinaface_weights, base))
    real = params.baselines.real_features  # the published LBP-TOP files of the real baseline rows
    if real is not None:
        real = dataclasses.replace(real, vis=_absolute(real.vis, base), nir=_absolute(real.nir, base))
        params = dataclasses.replace(params, baselines=dataclasses.replace(params.baselines, real_features=real))
    params = dataclasses.replace(params, data=data_abs, preprocess=pre,
                                 cache_dir=_absolute(params.cache_dir, base), output_dir=_absolute(params.output_dir, base))
    check_params(params)  # hyperparameters, path lengths, a shift of real data: one line naming the key
    return params


def load_params(path: str | Path, **overrides) -> RunParams:
    """Read ``path`` (YAML), apply top-level ``overrides``, validate strictly."""
    path = Path(path)
    data = load_yaml(path)
    data.update(overrides)
    return params_from_dict(data, base=path.resolve().parent)


def database_root(params: RunParams, database: str) -> Path:
    """The root to index ``database`` from; writes the synthetic databases first where needed."""
    if database not in DATABASES:
        raise ValueError(f"database: expected one of {', '.join(DATABASES)}, got {database!r}")
    d = params.data
    if d.synthetic is not None:
        from madtn_utils.data.synth import synthetic_roots
        from madtn_utils.data.synth_write import write_synthetic

        out = Path(d.synthetic_dir) / f"{d.synthetic}-seed{d.synthetic_seed}-shift{shift_tag(d.shift)}"
        if not out.is_dir():
            write_synthetic(out, size=d.synthetic, seed=d.synthetic_seed, jobs=params.n_jobs,
                            progress=d.synthetic == "paper", shift=d.shift)
        return Path(synthetic_roots(out)[database])
    root = d.casme2_root if database == "casme2" else d.smic_root
    if root is None:
        key = "casme2_root" if database == "casme2" else "smic_root"
        raise ValueError(f"params.data.{key}: expected the path of your {database} copy (data.synthetic is null), got null")
    return Path(root)


def load_index(params: RunParams, database: str, *, quiet: bool = False):
    """The :class:`~madtn_utils.data.index.DatasetIndex` of ``database`` under ``params``."""
    root = database_root(params, database)
    coding = params.data.casme2_coding if database == "casme2" and params.data.synthetic is None else None
    kwargs = {"sample_list": params.data.casme2_sample_list} if database == "casme2" else {}
    with warnings.catch_warnings():
        if quiet:
            warnings.simplefilter("ignore", IndexWarning)
        return build_index(database, root, coding=coding, **kwargs)


def load_composite(params: RunParams, *, quiet: bool = True):
    """The :class:`~madtn_utils.data.composite.CompositeIndex` of ``params.data.composite`` (ValueError when unset)."""
    from madtn_utils.data.composite import index_composite

    if params.data.composite is None:
        raise ValueError("params.data.composite: expected {root: <the composite set's folder>} for the real-data study, "
                         "got null")
    with warnings.catch_warnings():
        if quiet:
            warnings.simplefilter("ignore", IndexWarning)
        return index_composite(params.data.composite.root)


def load_domain(params: RunParams, database: str, *, progress: bool = False):
    """``(DomainData, manifest, info)`` of ``database``: indexed and preprocessed through the cache
    (with ``data.source: composite``: the composite set's flow maps of ``database``)."""
    from madtn_utils.preprocess.cache import prepare_database

    if params.data.source == "composite":
        from madtn_utils.preprocess.composite import composite_domain

        index = load_composite(params).database(database)
        info = {"folder": str(index.root), "source": "composite", "map_size": params.data.composite.map_size}
        return composite_domain(index, params.data.composite.map_size), index.manifest, info

    index = load_index(params, database, quiet=True)
    return prepare_database(index, params.preprocess, cache_dir=params.cache_dir, jobs=params.n_jobs, progress=progress)


def dump_params(params: RunParams) -> dict:
    """Plain data of ``params`` (saved beside every run's outputs)."""
    return to_dict(params)


def needed_databases(params: RunParams) -> list[str]:
    """The databases the experiments' tasks use, in :data:`DATABASES` order."""
    e = params.experiments
    used = {db for task in (*e.tasks, *e.ablation_tasks, *e.lambda_tasks) for db in parse_task(task)}
    return [db for db in DATABASES if db in used]


def override(params: RunParams, changes: dict) -> RunParams:
    """``params`` with dotted-key ``changes`` (``{"preprocess.flow.method": "dis"}``), validated strictly again."""
    data = to_dict(params)
    for dotted, value in changes.items():
        node = data
        *parents, leaf = dotted.split(".")
        for key in parents:
            if not isinstance(node.get(key), dict):
                raise ValueError(f"override {dotted!r}: expected a section {key!r} in the params, found none")
            node = node[key]
        if leaf not in node:
            raise ValueError(f"override {dotted!r}: unknown key {leaf!r} (expected one of: {', '.join(node)})")
        node[leaf] = value
    return params_from_dict(data, base=Path.cwd())
