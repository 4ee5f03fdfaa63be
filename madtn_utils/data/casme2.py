"""CASME II: the coding file as shipped, the frame folders, the benchmark's relabelling.

Layout (raw release ``CASME2-RAW``, or the cropped release)::

    root/sub01/EP02_01f/img46.jpg ... img86.jpg        (raw)
    root/sub01/EP02_01f/reg_img46.jpg ...               (cropped)
    root/CASME2-coding-20140508.xlsx   (or beside root; or pass ``coding=``)

Coding file header (Sheet1): ``Subject, Filename, <blank>, OnsetFrame, ApexFrame,
OffsetFrame, <blank>, Action Units, Estimated Emotion``. Subject is a number or
zero-padded text; one apex is ``/`` (read as unknown).

Relabelling (METHOD.md §1): happiness -> positive; disgust, sadness, fear -> negative;
surprise -> surprise; repression and others are dropped (listed in the manifest as
``dropped_label``, action ``info``).

Sample lists: the 20140508 coding file gives 32/72/25. The benchmark's 32/73/25 also
counts ``sub24/EP02_07`` (disgust, frames 61/91/106), absent from both coding files but
present in the benchmark authors' 5-class list. ``sample_list="benchmark"`` (default)
adds it; ``sample_list="coding"`` uses the coding file alone.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from madtn_utils.data.frames import frame_number, frame_prefix, list_frames, numeric_key
from madtn_utils.data.types import (
    FPS, DatasetIndex, IndexInputError, finish_index,
)

__all__ = ["RELABEL", "BENCHMARK_ADDENDUM", "SAMPLE_LISTS", "read_coding", "find_coding", "index_casme2"]

RELABEL = {
    "happiness": "positive",
    "disgust": "negative",
    "sadness": "negative",
    "fear": "negative",
    "surprise": "surprise",
}
#: Samples the benchmark counts that the coding file lacks (subject, sample, onset, apex, offset, emotion).
BENCHMARK_ADDENDUM = (("sub24", "EP02_07", 61, 91, 106, "disgust"),)
SAMPLE_LISTS = ("benchmark", "coding")
_REQUIRED = ("Subject", "Filename", "OnsetFrame", "ApexFrame", "OffsetFrame", "Estimated Emotion")


def _frame_or_na(value):
    """An annotated frame number, or ``pd.NA`` for blanks and ``/``."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return pd.NA
    text = str(value).strip()
    if re.fullmatch(r"\d+(\.0+)?", text):
        return int(float(text))
    return pd.NA


def _subject(value) -> str:
    text = str(value).strip()
    if text.lower().startswith("sub"):
        text = text[3:]
    if not re.fullmatch(r"\d+(\.0+)?", text):
        raise ValueError(f"expected a subject number like 1, '01' or 'sub01', got {value!r}")
    return f"sub{int(float(text)):02d}"


def read_coding(path: str | Path) -> pd.DataFrame:
    """Read a CASME II coding file (``.xlsx``/``.xls`` or ``.csv``).

    Returns columns subject (``sub01``), sample, onset, apex, offset (Int64, ``<NA>``
    for ``/``), action_units, emotion (lower case), row (the row number a spreadsheet
    shows: the header is row 1, so the first data row is 2; blank rows keep their number).
    """
    path = Path(path)
    if path.is_dir():
        raise IndexInputError(f"coding file {str(path)!r} is a folder: expected the CASME II coding .xlsx or .csv")
    if not path.is_file():
        raise IndexInputError(f"coding file {str(path)!r} does not exist: expected the CASME II coding .xlsx or .csv")
    try:
        if path.suffix.lower() in (".xlsx", ".xls", ".xlsm"):
            raw = pd.read_excel(path, sheet_name=0, dtype=object)
        elif path.suffix.lower() == ".csv":
            raw = pd.read_csv(path, dtype=object, skip_blank_lines=False)
        else:
            raise IndexInputError(f"coding file {str(path)!r}: expected a .xlsx or .csv file, got {path.suffix!r}")
    except IndexInputError:
        raise
    except Exception as exc:  # pandas/openpyxl raise many types for a corrupt file
        raise IndexInputError(f"coding file {str(path)!r} is unreadable: expected a CASME II coding .xlsx or .csv ({type(exc).__name__}: {exc})") from exc
    raw.columns = [str(c).strip() for c in raw.columns]
    missing = [c for c in _REQUIRED if c not in raw.columns]
    if missing:
        raise IndexInputError(
            f"coding file {str(path)!r}: expected columns {', '.join(_REQUIRED)}; missing {', '.join(missing)} (got {', '.join(raw.columns)})"
        )
    raw = raw.dropna(subset=["Subject", "Filename"], how="all")
    rows = []
    for i, r in zip(raw.index + 2, raw.itertuples(index=False)):  # a RangeIndex: data row k is spreadsheet row k + 2
        rec = dict(zip(raw.columns, r))
        try:
            subject = _subject(rec["Subject"])
        except ValueError as exc:
            raise IndexInputError(f"coding file {str(path)!r}, row {i}: Subject: {exc}") from None
        rows.append({
            "subject": subject,
            "sample": str(rec["Filename"]).strip(),
            "onset": _frame_or_na(rec["OnsetFrame"]),
            "apex": _frame_or_na(rec["ApexFrame"]),
            "offset": _frame_or_na(rec["OffsetFrame"]),
            "action_units": "" if pd.isna(rec.get("Action Units")) else str(rec.get("Action Units")).strip(),
            "emotion": str(rec["Estimated Emotion"]).strip().lower(),
            "row": int(i),
        })
    df = pd.DataFrame(rows, columns=["subject", "sample", "onset", "apex", "offset", "action_units", "emotion", "row"])
    for col in ("onset", "apex", "offset", "row"):
        df[col] = pd.array(df[col].tolist(), dtype="Int64")
    return df


def find_coding(root: Path) -> Path:
    """The newest-named ``CASME2-coding*.xlsx|.csv`` in ``root`` or its parent."""
    for folder in (root, root.parent):
        found = sorted(
            p for p in folder.iterdir()
            if p.is_file() and p.name.lower().startswith("casme2-coding") and p.suffix.lower() in (".xlsx", ".xls", ".csv")
        ) if folder.is_dir() else []
        if found:
            return found[-1]
    raise IndexInputError(
        f"no CASME II coding file in {str(root)!r} or its parent: expected CASME2-coding-*.xlsx (or pass --coding FILE)"
    )


def _frames_in_clip(folder: Path):
    """Frames of one clip folder; when raw and cropped names mix, the commonest prefix wins."""
    frames = list_frames(folder)
    prefixes = pd.Series([frame_prefix(p) for p in frames], dtype=object)
    if prefixes.nunique() > 1:
        keep = prefixes.value_counts().index[0]
        frames = [p for p, pre in zip(frames, prefixes) if pre == keep]
    return frames


def _same(a, b) -> bool:
    return (pd.isna(a) and pd.isna(b)) if (pd.isna(a) or pd.isna(b)) else a == b


def _drop_duplicate_rows(table: pd.DataFrame, coding_name: str, note) -> pd.DataFrame:
    """The coding rows with the first of each subject/sample kept; a ``duplicate_row`` note for each later one."""
    first, keep = {}, []
    for i, rec in enumerate(table.itertuples(index=False)):
        kept = first.setdefault((rec.subject, rec.sample), rec)
        if kept is rec:
            keep.append(i)
            continue
        diffs = [f"{name} {_show(getattr(kept, col))} vs {_show(getattr(rec, col))}"
                 for col, name in (("emotion", "emotion"), ("onset", "onset"), ("apex", "apex"), ("offset", "offset"),
                                   ("action_units", "action units"))
                 if not _same(getattr(kept, col), getattr(rec, col))]
        agree = f"they disagree: {', '.join(diffs)}" if diffs else "the two rows are identical"
        note(rec.subject, rec.sample, "duplicate_row", "dropped",
             f"coded twice, in rows {kept.row} and {rec.row} of {coding_name} (spreadsheet row numbers: header is "
             f"row 1); {agree}; row {rec.row} dropped, row {kept.row} kept")
    return table.iloc[keep].reset_index(drop=True)


def _show(value) -> str:
    return "blank" if pd.isna(value) else repr(value) if isinstance(value, str) else str(value)


def index_casme2(root: Path, *, coding=None, sample_list: str = "benchmark") -> DatasetIndex:
    """Index CASME II under ``root`` (see the module docstring)."""
    if sample_list not in SAMPLE_LISTS:
        raise IndexInputError(f"sample_list: expected one of {', '.join(SAMPLE_LISTS)}, got {sample_list!r}")
    subject_dirs = {p.name: p for p in root.iterdir() if p.is_dir() and re.fullmatch(r"sub\d+", p.name)}
    if not subject_dirs:
        raise IndexInputError(
            f"root {str(root)!r} has no subNN folders: expected the CASME II layout subNN/<Filename>/imgN.jpg"
        )
    coding_path = Path(coding) if coding is not None else find_coding(root)
    manifest, rows = [], []

    def note(subject, sample, kind, action, detail):
        manifest.append(dict(database="casme2", subject=subject, sample=sample, kind=kind, action=action, detail=detail))

    table = _drop_duplicate_rows(read_coding(coding_path), coding_path.name, note)
    described = f"coding file {coding_path.name}"
    if sample_list == "benchmark":
        extra = pd.DataFrame(
            [dict(subject=s, sample=n, onset=o, apex=a, offset=f, action_units="", emotion=e)
             for s, n, o, a, f, e in BENCHMARK_ADDENDUM
             if not ((table["subject"] == s) & (table["sample"] == n)).any()],
            columns=table.columns,
        )
        if len(extra):
            table = pd.concat([table, extra.astype(table.dtypes.to_dict())], ignore_index=True)
        described += " + benchmark addendum (" + ", ".join(f"{s}/{n}" for s, n, *_ in BENCHMARK_ADDENDUM) + ")"

    coded = set()
    for rec in table.itertuples(index=False):
        coded.add((rec.subject, rec.sample))
        label = RELABEL.get(rec.emotion)
        if label is None:
            note(rec.subject, rec.sample, "dropped_label", "info", f"emotion {rec.emotion!r} is not in the 3-class benchmark")
            continue
        folder = root / rec.subject / rec.sample
        if not folder.is_dir():
            note(rec.subject, rec.sample, "missing_folder", "dropped", f"coded but {folder} does not exist")
            continue
        frames = _frames_in_clip(folder)
        onset, offset = rec.onset, rec.offset
        complete = True
        if onset is not pd.NA and offset is not pd.NA and offset >= onset:
            inside = [p for p in frames if onset <= frame_number(p) <= offset]
            if len(inside) < len(frames):
                note(rec.subject, rec.sample, "frames_outside_annotation", "info",
                     f"{len(frames) - len(inside)} frame(s) outside onset {onset}..offset {offset} not used")
            frames = inside
            have = {frame_number(p) for p in frames}
            gaps = [n for n in range(onset, offset + 1) if n not in have]
            if gaps:
                complete = False
                note(rec.subject, rec.sample, "missing_frames", "kept",
                     f"{len(gaps)} frame(s) missing between onset {onset} and offset {offset}, first {gaps[0]}")
        else:
            note(rec.subject, rec.sample, "unusable_annotation", "kept",
                 f"onset {onset} / offset {offset} unusable; all {len(frames)} frames on disk used")
        if len(frames) < 3:
            note(rec.subject, rec.sample, "too_few_frames", "dropped", f"{len(frames)} frame(s); at least 3 needed")
            continue
        rows.append(dict(
            database="casme2", subject=rec.subject, sample=rec.sample, sample_id=f"{rec.subject}/{rec.sample}",
            label=label, emotion=rec.emotion, frames=[str(p) for p in frames], n_frames=len(frames),
            fps=FPS["casme2"], onset=onset, apex=rec.apex, offset=offset, complete=complete,
        ))
    for name in sorted(subject_dirs, key=numeric_key):
        for clip in sorted((p for p in subject_dirs[name].iterdir() if p.is_dir()), key=lambda p: numeric_key(p.name)):
            if (name, clip.name) not in coded:
                note(name, clip.name, "not_in_coding", "ignored", f"folder {clip} is not in the sample list")
    return finish_index("casme2", root, described, rows, manifest)
