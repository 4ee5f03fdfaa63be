"""What the report says beyond the tables: which files this reproduction made, the runs' warnings, and runs of other code.

- :func:`product_stamps`: the tables and figures on disk with their stamps; taken before the notebooks
  run, it tells :func:`~madtn_utils.suite.report.write_report` which files the notebooks of this
  reproduction wrote (made from runs whose hash matches the params at hand), so a table of an earlier
  reproduction never shows as this one's;
- :func:`run_notes`: from the runs and baseline records of the params at hand, their warnings (a class
  missing from a source or target: training and the baselines record them), the devices, and the runs
  made by other training code (:func:`~madtn_utils.suite.version.other_code`).

>>> import tempfile
>>> root = Path(tempfile.mkdtemp())
>>> (root / "tables").mkdir()
>>> _ = (root / "tables" / "table3.csv").write_text("a\\n1\\n")
>>> before = product_stamps(root)
>>> made_since(root / "tables" / "table3.csv", before)
False
>>> _ = (root / "tables" / "table4.csv").write_text("a\\n1\\n")
>>> made_since(root / "tables" / "table4.csv", before), made_since(root / "tables" / "table5.csv", before)
(True, False)
"""

from __future__ import annotations

import warnings
from pathlib import Path

__all__ = ["PRODUCT_DIRS", "product_stamps", "made_since", "run_notes"]

#: Where the notebooks write what the report shows.
PRODUCT_DIRS = ("tables", "figures")


def _stamp(path: Path):
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


def product_stamps(run_root: str | Path) -> dict[str, tuple]:
    """``relative path -> (inode, mtime_ns, size)`` of every file under the run's ``tables/`` and ``figures/``."""
    root = Path(run_root)
    out = {}
    for folder in PRODUCT_DIRS:
        for path in (root / folder).glob("*"):
            stamp = _stamp(path)
            if stamp is not None and path.is_file():
                out[path.relative_to(root).as_posix()] = stamp
    return out


def made_since(path: Path, before: dict, run_root: str | Path | None = None) -> bool:
    """Whether ``path`` exists and was written after ``before`` (:func:`product_stamps`) was taken (files are
    replaced atomically: a new inode, or a new time)."""
    stamp = _stamp(Path(path))
    if stamp is None:
        return False
    root = Path(run_root) if run_root is not None else Path(path).parents[1]
    return before.get(Path(path).relative_to(root).as_posix()) != stamp


def run_notes(run_root: str | Path, params) -> dict:
    """``{"warnings", "other_code", "devices"}`` of the runs (and baseline records) under ``run_root`` made with
    ``params``: each run's and record's recorded warnings (prefixed by the run), the runs made by other training
    code (``"<run>: <why>"``) and the devices the runs trained on."""
    from madtn_utils.suite.baselines import baseline_jobs, record_hash, recorded, result_path
    from madtn_utils.suite.spec import matching_records

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the notebooks said it; the report lists it
        try:
            records = matching_records(run_root, params)
        except ValueError as exc:  # a run whose predictions do not back it: the tables refused it already
            records, broken = [], str(exc)
        else:
            broken = None
    notes = {"warnings": [f"{r['run']}: {w}" for r in records for w in r.get("warnings") or ()],
             "other_code": [f"{r['run']}: {r['other_code']}" for r in records if r.get("other_code")],
             "devices": sorted({str(r.get("device", "?")) for r in records})}
    if broken:
        notes["warnings"].insert(0, broken)
    for features, task in baseline_jobs(params):
        rec = recorded(result_path(run_root, task, features)) or {}
        if rec.get("baseline_hash") == record_hash(params, features, task):
            notes["warnings"] += [f"baselines ({features}) {w}" for w in rec.get("warnings") or ()]
    return notes
