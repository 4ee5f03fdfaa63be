"""The dataset index: one row per benchmark sample, and a manifest of what was off.

``build_index(database, root, ...)`` dispatches to the CASME II or SMIC reader and
returns a :class:`DatasetIndex`: ``samples`` (a DataFrame, one row per sample, in
subject/sample order) and ``manifest`` (a DataFrame of every disagreement between
annotation and disk: nothing is dropped without a row there and a warning).

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

__all__ = [
    "DATABASES",
    "CLASSES",
    "FPS",
    "TABLE1_COUNTS",
    "IndexInputError",
    "IndexWarning",
    "DatasetIndex",
    "build_index",
    "make_samples_frame",
    "make_manifest",
    "warn_manifest",
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
            f"{r.database} {r.subject}/{r.sample}: {r.kind} ({r.action}): {r.detail}"
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


def warn_manifest(database: str, manifest: pd.DataFrame) -> None:
    """One :class:`IndexWarning` per kind of disagreement, naming the samples."""
    rows = manifest[manifest["action"] != "info"]
    for kind, group in rows.groupby("kind", sort=True):
        names = ", ".join(f"{s}/{n}" for s, n in zip(group["subject"], group["sample"]))
        action = group["action"].iloc[0]
        warnings.warn(
            f"{database}: {len(group)} sample(s) {kind.replace('_', ' ')} ({action}): {names}",
            IndexWarning,
            stacklevel=3,
        )


def build_index(database: str, root: str | Path, *, coding: str | Path | None = None,
                sample_list: str = "benchmark") -> DatasetIndex:
    """Index one database laid out as its licensed release.

    Parameters
    ----------
    database : one of :data:`DATABASES`.
    root : CASME II: the folder holding ``subNN/``; SMIC: the folder holding
        ``HS/``, ``VIS/``, ``NIR/`` (or the variant's own folder holding ``sK/``).
    coding : CASME II coding file (``.xlsx`` or ``.csv``); found in ``root`` or its
        parent when omitted.
    sample_list : CASME II only. ``"benchmark"`` (default): the coding file plus
        the benchmark's extra sample ``sub24/EP02_07``, giving Table 1's 130;
        ``"coding"``: the coding file as it is.
    """
    if database not in DATABASES:
        raise IndexInputError(f"database: expected one of {', '.join(DATABASES)}, got {database!r}")
    root = Path(root)
    if not root.exists():
        raise IndexInputError(f"root {str(root)!r} does not exist: expected the {database} database folder")
    if not root.is_dir():
        raise IndexInputError(f"root {str(root)!r} is not a folder: expected the {database} database folder")
    if database == "casme2":
        from .casme2 import index_casme2

        return index_casme2(root, coding=coding, sample_list=sample_list)
    if coding is not None:
        raise IndexInputError(f"coding: only CASME II has a coding file, got {str(coding)!r} for {database}")
    from .smic import index_smic

    return index_smic(root, variant=database.split("-")[1])
