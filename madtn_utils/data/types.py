"""The index's shared types: database names, classes, Table 1's counts, the samples and
manifest frames, and :class:`DatasetIndex`. The readers (:mod:`~madtn_utils.data.casme2`,
:mod:`~madtn_utils.data.smic`) and :func:`~madtn_utils.data.index.build_index` import them
from here, so there is no import circle.

Columns of ``samples``: database, subject, sample, sample_id, label (3-class),
emotion (the database's own label), frames (paths in numeric order), n_frames, fps,
onset, apex, offset (annotated frame numbers, ``<NA>`` where the database has none),
complete (False where frames are missing between onset and offset).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from madtn_utils.data.frames import numeric_key

__all__ = [
    "DATABASES", "CLASSES", "FPS", "TABLE1_COUNTS", "SAMPLE_COLUMNS", "MANIFEST_COLUMNS", "IndexInputError",
    "IndexWarning", "DatasetIndex", "make_samples_frame", "make_manifest", "warn_manifest", "empty_class_rows",
    "finish_index",
]

DATABASES = ("casme2", "smic-hs", "smic-vis", "smic-nir")
CLASSES = ("positive", "negative", "surprise")
FPS = {"casme2": 200, "smic-hs": 100, "smic-vis": 25, "smic-nir": 25}
#: Table 1 of the paper (after label unification): positive, negative, surprise.
TABLE1_COUNTS = {
    "casme2": (32, 73, 25),
    "smic-hs": (51, 70, 43),
    "smic-vis": (23, 28, 20),
    "smic-nir": (23, 28, 20),
}

SAMPLE_COLUMNS = [
    "database", "subject", "sample", "sample_id", "label", "emotion", "frames",
    "n_frames", "fps", "onset", "apex", "offset", "complete",
]
MANIFEST_COLUMNS = ["database", "subject", "sample", "kind", "action", "detail"]


class IndexInputError(ValueError):
    """A root, coding file or layout that is not what the index expects."""


class IndexWarning(UserWarning):
    """Annotation and disk disagree; the manifest holds the details."""


@dataclass(frozen=True)
class DatasetIndex:
    """The samples of one database and the manifest of disagreements."""

    database: str
    root: Path
    sample_list: str
    samples: pd.DataFrame
    manifest: pd.DataFrame = field(repr=False)

    def counts(self) -> dict[str, int]:
        """Samples per class, keys in :data:`CLASSES` order."""
        vc = self.samples["label"].value_counts()
        return {c: int(vc.get(c, 0)) for c in CLASSES}

    def warnings(self) -> list[str]:
        """One line per manifest row that is a warning (not an informational note)."""
        rows = self.manifest[self.manifest["action"] != "info"]
        return [
            f"{r.database}{f' {r.subject}/{r.sample}' if r.subject or r.sample else ''}: {r.kind} ({r.action}): {r.detail}"
            for r in rows.itertuples()
        ]

    def summary(self) -> dict:
        """The JSON-able summary printed by ``madtn index --json``."""
        counts = self.counts()
        return {
            "database": self.database,
            "root": str(self.root),
            "sample_list": self.sample_list,
            **counts,
            "total": sum(counts.values()),
            "subjects": int(self.samples["subject"].nunique()),
            "warnings": self.warnings(),
        }


def make_samples_frame(rows: list[dict]) -> pd.DataFrame:
    """Rows (dicts with :data:`SAMPLE_COLUMNS` keys) to the typed samples frame."""
    df = pd.DataFrame(rows, columns=SAMPLE_COLUMNS)
    for col in ("onset", "apex", "offset"):
        df[col] = pd.array(df[col].tolist(), dtype="Int64")
    df["n_frames"] = df["n_frames"].astype(int)
    df["fps"] = df["fps"].astype(int)
    df["complete"] = df["complete"].astype(bool)
    return df.reset_index(drop=True)


def make_manifest(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=MANIFEST_COLUMNS)


#: Kinds whose warning quotes the manifest's detail (row numbers, class names) instead of listing samples.
_DETAILED_KINDS = frozenset({"duplicate_row", "empty_class"})


def warn_manifest(database: str, manifest: pd.DataFrame) -> None:
    """One :class:`IndexWarning` per kind of disagreement, naming the samples.

    ``duplicate_row`` and ``empty_class`` rows are quoted one by one (their detail
    names the coding file's rows or the class).
    """
    rows = manifest[manifest["action"] != "info"]
    for kind, group in rows.groupby("kind", sort=True):
        if kind in _DETAILED_KINDS:
            for r in group.itertuples():
                where = f" {r.subject}/{r.sample}" if r.subject or r.sample else ""
                warnings.warn(f"{database}{where}: {r.detail}", IndexWarning, stacklevel=4)
            continue
        names = ", ".join(f"{s}/{n}" for s, n in zip(group["subject"], group["sample"]))
        action = group["action"].iloc[0]
        warnings.warn(
            f"{database}: {len(group)} sample(s) {kind.replace('_', ' ')} ({action}): {names}",
            IndexWarning,
            stacklevel=4,
        )


def empty_class_rows(database: str, samples: pd.DataFrame) -> list[dict]:
    """One manifest row (kind ``empty_class``) per class of :data:`CLASSES` without a sample.

    >>> rows = empty_class_rows("smic-vis", pd.DataFrame({"label": ["positive", "negative"]}))
    >>> [(r["kind"], r["action"]) for r in rows], rows[0]["detail"].split(":")[0]
    ([('empty_class', 'empty')], "class 'surprise' has no samples after indexing")
    """
    present = set(samples["label"])
    expected = dict(zip(CLASSES, TABLE1_COUNTS.get(database, (None,) * len(CLASSES))))
    return [
        dict(database=database, subject="", sample="", kind="empty_class", action="empty",
             detail=f"class {label!r} has no samples after indexing: Table 1 expects {expected[label]} (check the "
                    f"class's annotation rows and folders; the manifest lists every one that was left out)")
        for label in CLASSES if label not in present
    ]


def finish_index(database: str, root: Path, sample_list: str, rows: list[dict], manifest: list[dict]) -> DatasetIndex:
    """The reader's last step, shared by every database: sort the samples, add a manifest row
    for every class left empty, warn (one :class:`IndexWarning` per kind), build the index."""
    rows = sorted(rows, key=lambda r: numeric_key(r["sample_id"]))
    samples = make_samples_frame(rows)
    table = make_manifest(list(manifest) + empty_class_rows(database, samples))
    warn_manifest(database, table)
    return DatasetIndex(database, root, sample_list, samples, table)
