"""What a run is: its :class:`RunSpec` (task, λ, input components, params overrides), its
folder name, and the hash of everything that determines its numbers.

A run folder counts as finished only when the ``run_hash`` in its ``metrics.json`` equals
:func:`run_hash` of its spec under the params at hand, so results of other settings never
mix into a table (:func:`matching_records`).
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import warnings
from pathlib import Path

from madtn_utils.config import config_hash, to_dict
from madtn_utils.preprocess.domain import COMPONENTS
from madtn_utils.suite.params import RunParams, override
from madtn_utils.suite.scores import RunWarning, verified_record
from madtn_utils.train.tasks import parse_task

__all__ = ["METRICS_FILE", "RunSpec", "RunWarning", "run_slug", "spec_params", "run_config", "run_hash",
           "recorded_hash", "matching_records", "spec_of_record", "data_overrides", "group_key"]

METRICS_FILE = "metrics.json"


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """One cell of the grid: a task, λ, input components and params overrides of this run only.

    ``overrides``: sorted ``(dotted params key, value)`` pairs beyond λ and components, e.g.
    ``(("train.mmd_kernel", "median"),)``; scalars only. ``train.lam``/``train.components``
    belong in the fields, not here.
    """

    task: str  # "H->V"
    lam: float  # MMD weight λ
    components: str = "onOF-Face-endOF"  # Table 5 input variant
    overrides: tuple = ()  # (("train.mmd_kernel", "median"), ...): params changes of this run

    def __post_init__(self):
        parse_task(self.task)
        if not (isinstance(self.lam, (int, float)) and math.isfinite(self.lam) and self.lam >= 0):
            raise ValueError(f"lam: expected a finite number >= 0, got {self.lam!r}")
        if self.components not in COMPONENTS:
            raise ValueError(f"components: expected one of {', '.join(COMPONENTS)}, got {self.components!r}")
        pairs = tuple(sorted((str(k), v) for k, v in dict(self.overrides).items()))
        for key, value in pairs:
            if key in ("train.lam", "train.components", "seeds") or not re.fullmatch(r"[a-z_]+(\.[a-z_0-9]+)+", key):
                raise ValueError(f"overrides: expected dotted params keys other than train.lam, train.components "
                                 f"and seeds (e.g. 'train.mmd_kernel'), got {key!r}")
            if not isinstance(value, (str, int, float, bool)):
                raise ValueError(f"overrides[{key!r}]: expected a scalar, got {type(value).__name__} {value!r}")
        object.__setattr__(self, "overrides", pairs)


def _slug_value(value) -> str:
    return (f"{value:g}" if isinstance(value, float) else str(value)).replace(".", "p").replace("/", "-")


def run_slug(spec: RunSpec) -> str:
    """A folder name for ``spec``: ``H-V_lam2_onOF-Face-endOF`` (+ ``_mmd_kernel-median`` per override).

    >>> run_slug(RunSpec("C->H", 0.5, overrides={"train.control": "flip_mmd"}))
    'C-H_lam0p5_onOF-Face-endOF_control-flip_mmd'
    """
    lam = f"{spec.lam:g}".replace(".", "p")
    extra = "".join(f"_{key.rsplit('.', 1)[-1]}-{_slug_value(value)}" for key, value in spec.overrides)
    return f"{spec.task.replace('->', '-')}_lam{lam}_{spec.components}{extra}"


def data_overrides(spec: RunSpec) -> tuple:
    """The overrides of ``spec`` that change its data or preprocessing (every key outside ``train.``).

    >>> data_overrides(RunSpec("C->H", 2.0, overrides={"train.mmd_kernel": "median", "preprocess.apex": "onset"}))
    (('preprocess.apex', 'onset'),)
    """
    return tuple((k, v) for k, v in spec.overrides if not k.startswith("train."))


def group_key(spec: RunSpec) -> tuple:
    """Runs with one key share their data and train together in one ``02_train`` execution: the task
    and the :func:`data_overrides` (λ, components and ``train.*`` overrides may differ).

    >>> group_key(RunSpec("C->H", 0.0, "Face")) == group_key(RunSpec("C->H", 2.0, overrides={"train.control": "flip_mmd"}))
    True
    >>> group_key(RunSpec("C->H", 2.0)) == group_key(RunSpec("C->H", 2.0, overrides={"data.shift.spurious": 0.0}))
    False
    """
    return spec.task, data_overrides(spec)


def spec_params(params: RunParams, spec: RunSpec) -> RunParams:
    """``params`` with the spec's overrides applied (validated strictly)."""
    return override(params, dict(spec.overrides)) if spec.overrides else params


def run_config(params: RunParams, spec: RunSpec) -> dict:
    """Everything that determines the numbers of ``spec`` under ``params``, as plain data.

    The data (synthetic size and seed, or the real roots and sample list), the
    preprocessing config and :data:`~madtn_utils.preprocess.cache.PREPROCESS_VERSION`,
    the training config with the run's λ and components (less ``save_model``, and less ``alignment`` at
    its default ``mmd``: :func:`~madtn_utils.train.hparams.hashed_fields`) and
    :data:`~madtn_utils.train.hparams.TRAIN_VERSION` (the training code's numbers: results of an
    older version never count as finished), the package's release (:data:`~madtn_utils.suite.version.PACKAGE_VERSION`:
    runs of another release are redone; the git commit is recorded, not hashed), the task and the seeds. Not in
    it: the run name, folders, ``jobs`` (they do not change a number). The device is in
    it as written in the params (``auto`` stays ``auto``).
    """
    from madtn_utils.preprocess.cache import PREPROCESS_VERSION
    from madtn_utils.suite.version import PACKAGE_VERSION
    from madtn_utils.train.hparams import TRAIN_VERSION, hashed_fields

    from madtn_utils.train.runtime import resolve_autocast

    params = spec_params(params, spec)
    cfg = dataclasses.replace(params.train, lam=float(spec.lam), components=spec.components)
    cfg = dataclasses.replace(cfg, autocast=resolve_autocast(cfg, _device_kind(cfg.device)))  # what runs, not "auto"
    cfg = _resolved_stacking(params, cfg)
    data = to_dict(params.data)
    if data.pop("source") == "composite":  # the composite set's flow files: its root and map size, nothing else
        from madtn_utils.preprocess.composite import COMPOSITE_VERSION

        return {"task": spec.task, "seeds": [int(s) for s in params.seeds],
                "data": {"source": "composite", "composite": data["composite"]}, "preprocess": None,
                "composite_version": COMPOSITE_VERSION, "train": hashed_fields(cfg), "train_version": TRAIN_VERSION,
                "package_version": PACKAGE_VERSION}
    data.pop("composite")  # not read by these runs (and absent from the hashes made before it existed)
    # synthetic: size and seed make byte-identical databases wherever they are written; real: the roots
    unused = (("synthetic_dir", "casme2_root", "casme2_coding", "smic_root") if data["synthetic"]
              else ("synthetic_dir", "synthetic_seed", "shift"))
    data = {k: v for k, v in data.items() if k not in unused}
    return {"task": spec.task, "seeds": [int(s) for s in params.seeds], "data": data,
            "preprocess": to_dict(params.preprocess), "preprocess_version": PREPROCESS_VERSION, "train": hashed_fields(cfg), "train_version": TRAIN_VERSION,
            "package_version": PACKAGE_VERSION}


def _resolved_stacking(params: RunParams, cfg):
    """``cfg`` with ``stacking: auto`` written as the engine it resolves to where that is not what ``auto`` meant
    before the CPU's size rule (``loop`` on the CPU), so those runs hash apart and older runs keep their hashes."""
    from madtn_utils.train.stacked import resolve_stacking

    kind = _device_kind(cfg.device)
    size = params.data.composite.map_size if params.data.source == "composite" else params.preprocess.map_size
    engine = resolve_stacking(cfg, kind, size)
    if cfg.stacking == "auto" and kind == "cpu" and engine != "loop":
        return dataclasses.replace(cfg, stacking=engine)
    return cfg


def _device_kind(device: str) -> str:
    """``cpu`` or ``cuda``: the device type a run of ``train.device`` trains on here (without checking a GPU's index)."""
    if device == "auto":
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    return device.split(":")[0]


def run_hash(params: RunParams, spec: RunSpec) -> str:
    """The hash of :func:`run_config`: a finished run counts only when its ``metrics.json`` holds it.

    >>> p = RunParams()
    >>> run_hash(p, RunSpec("H->V", 2.0)) == run_hash(dataclasses.replace(p, name="other", jobs=3), RunSpec("H->V", 2.0))
    True
    >>> run_hash(p, RunSpec("H->V", 2.0)) == run_hash(p, RunSpec("H->V", 0.0))
    False
    """
    return config_hash(run_config(params, spec))


def recorded_hash(folder: str | Path) -> str | None:
    """The ``run_hash`` of the ``metrics.json`` in ``folder``; None when there is none or it is unreadable."""
    try:
        return json.loads((Path(folder) / METRICS_FILE).read_text()).get("run_hash")
    except (OSError, ValueError, AttributeError):
        return None


def matching_records(run_root: str | Path, params: RunParams | None = None) -> list[dict]:
    """The ``metrics.json`` records under ``run_root/runs/*/``, in folder order, each with its numbers computed from
    its ``predictions.csv`` (:func:`~madtn_utils.suite.scores.verified_record`: ``per_seed`` and ``summary``;
    ValueError naming the file when the predictions do not back the run).

    With ``params``, only runs made with exactly these settings (recorded ``run_hash`` equal to
    :func:`run_hash` of the run's task, λ and components under ``params``) are returned, and the
    others are named in a :class:`RunWarning`: results of other settings never enter a table. Runs made
    by other training code than this checkout's (:func:`~madtn_utils.suite.version.other_code`) are kept,
    named in a :class:`RunWarning`, and carry the reason as ``other_code``.
    """
    from madtn_utils.suite.version import other_code

    records, stale, other = [], [], []
    for path in sorted(Path(run_root).glob(f"runs/*/{METRICS_FILE}")):
        rec = json.loads(path.read_text())
        if params is not None:
            if rec.get("run_hash") != run_hash(params, spec_of_record(rec)):
                stale.append(path.parent.name)
                continue
        rec = verified_record({**rec, "run": path.parent.name}, path.parent)
        rec["other_code"] = other_code(rec)
        other += [f"{path.parent.name} ({rec['other_code']})"] if rec["other_code"] else []
        records.append(rec)
    if stale:
        warnings.warn(f"{run_root}: {len(stale)} run(s) were made with other settings and are left out "
                      f"(rerun them with `madtn reproduce`): {', '.join(stale)}", RunWarning, stacklevel=2)
    if other and params is not None:
        warnings.warn(f"{run_root}: {len(other)} run(s) were made by other training code than this checkout's and "
                      f"count as they are (delete a folder to redo it): {', '.join(other)}", RunWarning, stacklevel=2)
    return records


def spec_of_record(rec: dict) -> RunSpec:
    """The :class:`RunSpec` a ``metrics.json`` record was made for."""
    return RunSpec(rec["task"], float(rec["lam"]), rec["components"], tuple((rec.get("overrides") or {}).items()))
