"""The MEGC 2019 composite distribution (STSTNet / HTNet layout): precomputed onset->apex flow.

The authors of STSTNet and HTNet distribute the MEGC 2019 composite set as one CSV and two
image folders, which this reader takes exactly as users have them::

    <root>/combined_3_class2_for_optical_flow.csv      dataset,sub,filename_o,label,apex,imagename,sub_filename
    <root>/datasets/STSNet_whole_norm_u_v_os/{sub}_{filename_o} .png   (note the space before .png)
    <root>/datasets/combined_datasets_whole/{imagename}                 the apex face crop (224 x 224)

``dataset`` is ``casme2``, ``smic`` or ``samm`` (our databases ``casme2``, ``smic-hs``, ``samm``;
letters C, H, S), ``label`` 0 = negative, 1 = positive, 2 = surprise. The flow PNG is 28 x 28,
8-bit, in RGB order R = horizontal flow u, G = vertical flow v, B = optical strain, each channel
min-max stretched to 0..255 per image by the distributors (``cv2.imread`` gives BGR: we reverse it).

Every row of the CSV is either a sample (its flow file exists) or a manifest row
(``missing_files``, one warning per database). A database with no files at all is *absent*:
:attr:`CompositeIndex.absent` lists it, and it is an error only when a selected task needs it
(:meth:`CompositeIndex.database`). Subjects are read as text (SAMM's ``006`` stays ``006``).

>>> COMPOSITE_DATABASES["smic"], LABEL_CODES[0]
('smic-hs', 'negative')
>>> flow_file(Path("r"), "s01", "s01_ne_01").name
's01_s01_ne_01 .png'
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from madtn_utils.data.types import (CLASSES, DatasetIndex, IndexInputError, IndexWarning, make_manifest,
                                    warn_manifest)
from madtn_utils.data.frames import numeric_key

__all__ = ["COMPOSITE_CSV", "FLOW_DIR", "FACE_DIR", "COMPOSITE_DATABASES", "LABEL_CODES", "CompositeIndex",
           "flow_file", "index_composite", "read_flow"]

COMPOSITE_CSV = "combined_3_class2_for_optical_flow.csv"
FLOW_DIR = Path("datasets") / "STSNet_whole_norm_u_v_os"
FACE_DIR = Path("datasets") / "combined_datasets_whole"
#: The CSV's ``dataset`` values and our database names.
COMPOSITE_DATABASES = {"casme2": "casme2", "smic": "smic-hs", "samm": "samm"}
#: The CSV's ``label`` codes (MEGC 2019): 0 negative, 1 positive, 2 surprise.
LABEL_CODES = ("negative", "positive", "surprise")
_COLUMNS = ("dataset", "sub", "filename_o", "label", "imagename")


def flow_file(root: Path, sub: str, filename_o: str) -> Path:
    """The flow image of one row: ``{sub}_{filename_o} .png`` (with the distribution's space)."""
    return Path(root) / FLOW_DIR / f"{sub}_{filename_o} .png"


@dataclass(frozen=True)
class CompositeIndex:
    """The databases of one composite root: an index per present database, and every CSV row left out."""

    root: Path
    indexes: dict = field(default_factory=dict)  # our database name -> DatasetIndex (columns below)
    absent: tuple = ()  # databases listed in the CSV without a single file
    manifest: pd.DataFrame = field(default=None, repr=False)  # one row per CSV row without its files

    @property
    def present(self) -> tuple:
        return tuple(self.indexes)

    def database(self, name: str) -> DatasetIndex:
        """The index of ``name``; ValueError naming the root when it is absent or not in the CSV."""
        if name in self.indexes:
            return self.indexes[name]
        why = "has no files there (absent)" if name in self.absent else "is not listed in its CSV"
        raise ValueError(f"data.composite.root {str(self.root)!r}: database {name!r} {why}: expected its flow images "
                         f"under {FLOW_DIR} (present: {', '.join(self.present) or 'none'})")

    def summary(self) -> dict:
        """Per database: counts per class, subjects, missing rows; JSON-able (``madtn index --composite``)."""
        out = {"root": str(self.root), "databases": {}, "absent": list(self.absent)}
        for name, idx in self.indexes.items():
            out["databases"][name] = {**idx.counts(), "total": len(idx.samples),
                                      "subjects": int(idx.samples["subject"].nunique()),
                                      "missing_rows": int((self.manifest["database"] == name).sum())}
        out["warnings"] = [f"{r.database}: {r.subject}/{r.sample}: {r.kind} ({r.action}): {r.detail}"
                           for r in self.manifest.itertuples()]
        return out


def _read_csv(root: Path) -> pd.DataFrame:
    if not root.is_dir():
        raise IndexInputError(f"data.composite.root {str(root)!r}: expected the composite distribution's folder "
                              f"(holding {COMPOSITE_CSV} and datasets/), got {'a file' if root.exists() else 'no such folder'}")
    path = root / COMPOSITE_CSV
    if not path.is_file():
        raise IndexInputError(f"{path}: expected the composite CSV ({','.join(_COLUMNS)},...), found no such file")
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (ValueError, UnicodeDecodeError) as exc:
        raise IndexInputError(f"{path}: expected a CSV with columns {', '.join(_COLUMNS)}, could not read it ({exc})") from None
    missing = [c for c in _COLUMNS if c not in table.columns]
    if missing:
        raise IndexInputError(f"{path}: expected columns {', '.join(_COLUMNS)}, missing {', '.join(missing)}")
    unknown = sorted(set(table["dataset"]) - set(COMPOSITE_DATABASES))
    if unknown:
        raise IndexInputError(f"{path}: column dataset: expected {', '.join(COMPOSITE_DATABASES)}, got {unknown[0]!r}")
    bad = table[~table["label"].str.strip().isin(["0", "1", "2"])]
    if len(bad):
        raise IndexInputError(f"{path}: row {bad.index[0] + 2}: label: expected 0, 1 or 2, got {bad['label'].iloc[0]!r}")
    return table


def index_composite(root: str | Path) -> CompositeIndex:
    """Index the composite distribution at ``root`` (module docstring); one :class:`IndexWarning` per
    database with missing files and per absent database."""
    root = Path(root)
    table = _read_csv(root)
    indexes, absent, manifest = {}, [], []
    for code, name in COMPOSITE_DATABASES.items():
        rows = table[table["dataset"] == code]
        if not len(rows):
            continue
        samples, missing = [], []
        for r in rows.itertuples():
            sub, sample = r.sub.strip(), r.filename_o.strip()
            flow, face = flow_file(root, sub, sample), root / FACE_DIR / r.imagename.strip()
            label = LABEL_CODES[int(r.label)]
            if flow.is_file():
                samples.append(dict(database=name, subject=sub, sample=sample, sample_id=f"{sub}/{sample}", label=label,
                                    emotion=r.label.strip(), flow=str(flow), face=str(face) if face.is_file() else ""))
            else:
                missing.append(dict(database=name, subject=sub, sample=sample, kind="missing_files", action="dropped",
                                    detail=f"no flow image {flow.relative_to(root)}"))
        manifest += missing
        if not samples:
            absent.append(name)
            continue
        samples.sort(key=lambda s: numeric_key(s["sample_id"]))
        frame = pd.DataFrame(samples).reset_index(drop=True)
        empty = [c for c in CLASSES if c not in set(frame["label"])]
        indexes[name] = DatasetIndex(name, root, "composite", frame, make_manifest(missing))
        for c in empty:
            warnings.warn(f"{name}: class {c!r} has no sample with files in {root}", IndexWarning, stacklevel=2)
    table_m = make_manifest(manifest)
    for name in absent:
        warnings.warn(f"{name}: none of its {int((table_m['database'] == name).sum())} CSV rows has a flow image under "
                      f"{root / FLOW_DIR}: the database is absent", IndexWarning, stacklevel=2)
    present_missing = table_m[~table_m["database"].isin(absent)]
    for name, group in present_missing.groupby("database", sort=False):
        warn_manifest(name, group)
    return CompositeIndex(root, indexes, tuple(absent), table_m)


def read_flow(path: str | Path) -> np.ndarray:
    """One composite flow image as (H, W, 3) uint8 in RGB order (u, v, strain); ValueError naming the file."""
    path = Path(path)
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise ValueError(f"{path}: expected a readable flow image (8-bit RGB PNG), could not decode it")
    if img.ndim != 3 or img.shape[2] not in (3, 4) or img.dtype != np.uint8:
        raise ValueError(f"{path}: expected an 8-bit 3-channel image (R = u, G = v, B = strain), got shape "
                         f"{img.shape} {img.dtype}")
    return np.ascontiguousarray(img[:, :, 2::-1])  # BGR(A) -> RGB
