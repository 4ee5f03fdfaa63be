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

from pathlib import Path

from madtn_utils.data.casme2 import index_casme2
from madtn_utils.data.smic import index_smic
from madtn_utils.data.types import (CLASSES, DATABASES, FPS, TABLE1_COUNTS, DatasetIndex, IndexInputError,
                                    IndexWarning)

__all__ = ["DATABASES", "CLASSES", "FPS", "TABLE1_COUNTS", "IndexInputError", "IndexWarning", "DatasetIndex",
           "build_index"]


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
        return index_casme2(root, coding=coding, sample_list=sample_list)
    if coding is not None:
        raise IndexInputError(f"coding: only CASME II has a coding file, got {str(coding)!r} for {database}")
    return index_smic(root, variant=database.split("-")[1])
