"""The reproduction grid: which 02_train runs each table and figure needs, and where they live.

Outputs of a reproduction live in ``<output_dir>/<name>/``:

- ``params.json``: the resolved params of the run;
- ``runs/<task>_lam<λ>_<components>[_<overrides>]/``: one executed ``02_train.ipynb`` with its
  ``metrics.json``, ``predictions.csv``, ``history.csv``;
- the executed ``03``–``06`` notebooks, ``tables/``, ``figures/`` and ``report.html``.

Resuming: a run is finished when the ``run_hash`` recorded in its ``metrics.json`` is the
:func:`~madtn_utils.suite.spec.run_hash` of the run under the current params (:func:`is_finished`). Running the grid is
:mod:`madtn_utils.suite.execute`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from madtn_utils.data.shift import Shift
from madtn_utils.preprocess.domain import FULL
from madtn_utils.suite.spec import RunSpec, recorded_hash, run_slug

__all__ = ["OUTPUTS", "DEFAULT_OUTPUTS", "NOTEBOOKS", "MEDIAN", "CONTROL_RUNS", "COMPOSITE", "REAL_VARIANTS", "real_tasks",
           "real_specs", "alignment_specs", "SHIFT_COMPONENTS", "FULL", "TRAIN", "grid_for", "run_dir_of", "is_finished", "notebooks_dir"]

#: The paper's outputs (the baseline rows of Tables 3-4 as ``baselines``: no training runs, notebook 08),
#: then ours beyond it: the domain gap (no runs of its own), the median kernel on every task, the
#: negative controls and the shift study.
OUTPUTS = ("table3", "table4", "baselines", "table5", "fig5", "fig6", "gap", "kernel", "controls", "shift", "real",
           "alignment")
#: What ``madtn reproduce`` makes without ``--only``: the paper's outputs and the domain gap.
DEFAULT_OUTPUTS = ("table3", "table4", "baselines", "table5", "fig5", "fig6", "gap")
#: The notebook that makes each output.
NOTEBOOKS = {"table3": "03_tables_3_4", "table4": "03_tables_3_4", "table5": "04_ablation_table_5",
             "fig6": "05_lambda_figure_6", "fig5": "06_confusion_figure_5", "shift": "07_shift_study",
             "gap": "09_mmd_study", "kernel": "09_mmd_study", "controls": "09_mmd_study", "baselines": "08_baselines",
             "real": "10_real_flow", "alignment": "11_alignment"}
#: Overrides of the study runs.
MEDIAN = {"train.mmd_kernel": "median"}
#: The negative controls (components, overrides): labels permuted, flow zeroed, MMD maximised, apex = onset.
CONTROL_RUNS = ((FULL, {"train.control": "permute_source_labels"}), ("Face", {}),
                (FULL, {"train.control": "flip_mmd"}), (FULL, {"preprocess.apex": "onset"}))
#: The real-data study's runs read the composite set (``data.source: composite``).
COMPOSITE = {"data.source": "composite"}
#: The real-data study's variants beside λ = 0 and the λ sweep, at the params' λ: (name, components, overrides).
REAL_VARIANTS = (("paper kernel", FULL, {}), ("median kernel", FULL, MEDIAN), ("L2 features", FULL, {"train.mmd_features": "l2"}),
                 ("CORAL", FULL, {"train.alignment": "coral"}), ("DANN", FULL, {"train.alignment": "dann"}),
                 ("JMMD", FULL, {"train.alignment": "jmmd"}),
                 ("labels permuted", FULL, {"train.control": "permute_source_labels"}),
                 ("input zeroed", FULL, {"train.control": "zero_input"}), ("MMD flipped", FULL, {"train.control": "flip_mmd"}))
#: The shift components the shift study sets together: every field of ``data.shift``.
SHIFT_COMPONENTS = tuple(f.name for f in dataclasses.fields(Shift))
TRAIN = "02_train"


def notebooks_dir() -> Path:
    """The project's ``notebooks/`` folder (beside the package in a source checkout)."""
    here = Path(__file__).resolve().parents[2] / "notebooks"
    if not (here / f"{TRAIN}.ipynb").is_file():
        raise ValueError(f"notebooks folder {here}: expected {TRAIN}.ipynb there (run from a source checkout)")
    return here


def _nothing_to_make(params, only) -> str | None:
    """Why one of the selected outputs would have no runs under ``params`` (None when each has some)."""
    from madtn_utils.train.tasks import TASKS_TYPE_I, TASKS_TYPE_II

    e = params.experiments
    for out, name, protocol, tasks in (("table3", "Table 3", "TYPE-I", TASKS_TYPE_I),
                                       ("table4", "Table 4", "TYPE-II", TASKS_TYPE_II)):
        if out in only and not set(e.tasks) & set(tasks):
            return (f"--only {out}: experiments.tasks holds no {protocol} task ({', '.join(tasks)}): "
                    f"nothing to make {name} from")
    if "real" in only and params.data.composite is None:
        return "--only real: data.composite is null: expected {root: <the composite set's folder>} to study real flow"
    if "shift" in only and params.data.synthetic is None:
        return "--only shift: the shift study needs synthetic data (data.synthetic is null): nothing to vary"
    for out, name, keys in (("fig5", "Figure 5", ("tasks",)), ("table5", "Table 5", ("ablation_tasks", "ablation_components")),
                            ("fig6", "Figure 6", ("lambda_tasks", "lambdas")), ("gap", "the domain gap", ("tasks",)),
                            ("baselines", "the baseline rows", ("tasks",)),
                            ("kernel", "the kernel table", ("tasks",)), ("controls", "the controls", ("control_tasks",)),
                            ("shift", "the shift study", ("shift_tasks", "shift_strengths")),
                            ("alignment", "the alignment comparison", ("tasks",))):
        empty = [k for k in keys if not getattr(e, k)]
        if out in only and empty:
            return f"--only {out}: experiments.{empty[0]} is empty: nothing to make {name} from"
    return None


def grid_for(params, only=DEFAULT_OUTPUTS) -> list[RunSpec]:
    """The distinct runs the selected outputs need, in a stable order (duplicates shared).

    ValueError naming ``--only`` for an unknown or empty selection, and for a selected
    output the params give no run to (``experiments.tasks`` without a TYPE-II task and
    ``table4`` selected, an empty ``experiments.lambdas`` and ``fig6``, ...).
    """
    only = tuple(only)
    unknown = [o for o in only if o not in OUTPUTS]
    if unknown or not only:
        got = f"unknown output {unknown[0]!r}" if unknown else "an empty selection"
        raise ValueError(f"--only: {got} (expected some of {', '.join(OUTPUTS)})")
    reason = _nothing_to_make(params, only)
    if reason:
        raise ValueError(reason)
    e, lam = params.experiments, float(params.train.lam)
    specs = []
    if {"table3", "table4", "fig5"} & set(only):
        from madtn_utils.train.tasks import TASKS_TYPE_I, TASKS_TYPE_II

        wanted = set()
        if "table3" in only or "fig5" in only:
            wanted |= set(TASKS_TYPE_I)
        if "table4" in only or "fig5" in only:
            wanted |= set(TASKS_TYPE_II)
        specs += [RunSpec(t, lam, FULL) for t in e.tasks if t in wanted]
    if "table5" in only:
        specs += [RunSpec(t, lam, c) for t in e.ablation_tasks for c in e.ablation_components]
    if "fig6" in only or "gap" in only:
        specs += [RunSpec(t, float(x), FULL) for t in e.lambda_tasks for x in e.lambdas]
    return list(dict.fromkeys(specs + _study_specs(params, only)))


def _study_specs(params, only) -> list[RunSpec]:
    """The runs of the outputs beyond the paper (module constants)."""
    e, lam, specs = params.experiments, float(params.train.lam), []
    if "gap" in only:
        specs += [RunSpec(t, lam, FULL) for t in e.tasks]
    if "kernel" in only:
        specs += [RunSpec(t, x, FULL, tuple(o.items())) for t in e.tasks for x, o in ((lam, {}), (lam, MEDIAN), (0.0, {}))]
    if "controls" in only:
        specs += [RunSpec(t, x, FULL) for t in e.control_tasks for x in (lam, 0.0)]
        specs += [RunSpec(t, lam, c, tuple(o.items())) for t in e.control_tasks for c, o in CONTROL_RUNS]
    if "real" in only:
        specs += real_specs(params)
    if "alignment" in only:
        specs += alignment_specs(params)
    if "shift" in only:
        base = params.data.shift
        for t in e.shift_tasks:
            for strength in e.shift_strengths:  # the params' own shift: the runs without overrides (made once)
                same = all(float(strength) == getattr(base, c) for c in SHIFT_COMPONENTS)
                shift = {} if same else {f"data.shift.{c}": float(strength) for c in SHIFT_COMPONENTS}
                specs += [RunSpec(t, x, FULL, tuple({**shift, **o}.items())) for x, o in ((0.0, {}), (lam, {}), (lam, MEDIAN))]
    return specs


def real_tasks(params) -> tuple[str, ...]:
    """The real-data study's tasks: ``experiments.real_tasks``, or every ordered pair of the databases present in
    ``data.composite``; ValueError naming the key when a task needs an absent database or fewer than two are present."""
    from madtn_utils.suite.params import load_composite
    from madtn_utils.train.tasks import composite_tasks, parse_task

    index = load_composite(params)
    if params.experiments.real_tasks:
        for i, task in enumerate(params.experiments.real_tasks):
            for db in parse_task(task):
                if db not in index.present:
                    raise ValueError(f"params.experiments.real_tasks[{i}]: {task} needs {db}, which has no flow files in "
                                     f"{index.root} (present: {', '.join(index.present) or 'none'})")
        return tuple(params.experiments.real_tasks)
    tasks = composite_tasks(index.present)
    if not tasks:
        raise ValueError(f"params.data.composite.root {str(index.root)!r}: expected two or more databases with flow files, "
                         f"got {', '.join(index.present) or 'none'}: no cross-database task")
    return tasks


def real_specs(params) -> list[RunSpec]:
    """The runs of the real-data study (``--only real``): per task, the λ sweep of the paper's kernel
    (``experiments.real_lambdas``, λ = 0 among them), then the :data:`REAL_VARIANTS` named in
    ``experiments.real_variants`` at the params' λ."""
    lam, specs, known = float(params.train.lam), [], {name: (c, o) for name, c, o in REAL_VARIANTS}
    for i, name in enumerate(params.experiments.real_variants):
        if name not in known:
            raise ValueError(f"params.experiments.real_variants[{i}]: expected one of {', '.join(known)}, got {name!r}")
    for t in real_tasks(params):
        specs += [RunSpec(t, float(x), FULL, tuple(COMPOSITE.items())) for x in (0.0, *params.experiments.real_lambdas)]
        specs += [RunSpec(t, lam, known[v][0], tuple({**COMPOSITE, **known[v][1]}.items()))
                  for v in params.experiments.real_variants]
    return list(dict.fromkeys(specs))


def alignment_specs(params) -> list[RunSpec]:
    """The runs of ``--only alignment``: on each task of the params' data (``experiments.alignment_tasks`` or
    ``experiments.tasks``; with ``data.source: composite`` the real-data tasks), λ = 0, the MMD and each loss of
    ``experiments.alignment_losses`` at ``train.lam``."""
    e, lam = params.experiments, float(params.train.lam)
    real = params.data.source == "composite"
    base = dict(COMPOSITE) if real else {}
    specs = []
    for t in (real_tasks(params) if real else (e.alignment_tasks or e.tasks)):
        specs += [RunSpec(t, 0.0, FULL, tuple(base.items())), RunSpec(t, lam, FULL, tuple(base.items()))]
        specs += [RunSpec(t, lam, FULL, tuple({**base, "train.alignment": a}.items())) for a in e.alignment_losses]
    return specs


def run_dir_of(run_root: Path, spec: RunSpec) -> Path:
    return Path(run_root) / "runs" / run_slug(spec)


def is_finished(folder: Path, expected_hash: str) -> bool:
    """Whether ``folder`` holds a finished run made with the settings hashed to ``expected_hash``: its
    ``metrics.json`` (written last, atomically, once the run is done) records that hash. A finished run is never
    redone, even when an interruption kept its executed notebook from being put beside it."""
    return recorded_hash(folder) == expected_hash
