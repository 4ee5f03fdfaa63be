"""Faults in the annotation and the layout: duplicated coding rows, classes left empty."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from madtn_utils.data.casme2 import RELABEL
from madtn_utils.data.index import build_index
from madtn_utils.data.types import IndexWarning

ANN = Path(__file__).resolve().parents[2] / "shared" / "annotations"
if not ANN.is_dir():  # a checkout beside shared/ (../shared from the repository root)
    ANN = Path(__file__).resolve().parents[1].parent / "shared" / "annotations"
need_ann = pytest.mark.skipif(not ANN.is_dir(), reason=f"real annotation files not found at {ANN}")


def _touch_frames(folder: Path, first: int, last: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for n in range(first, last + 1):
        (folder / f"img{n}.jpg").touch()


def _coding(root: Path, rows) -> Path:
    """A coding .xlsx in the real header format; a row of ``None`` is a blank spreadsheet row."""
    df = pd.DataFrame(rows, columns=["Subject", "Filename", "OnsetFrame", "ApexFrame", "OffsetFrame",
                                     "Estimated Emotion"])
    df.insert(2, "Unnamed: 2", None)
    df.insert(6, "Unnamed: 6", None)
    df.insert(7, "Action Units", "12")
    path = root / "CASME2-coding-test.xlsx"
    df.to_excel(path, index=False)
    return path


def _messages(record) -> str:
    return "\n".join(str(w.message) for w in record if issubclass(w.category, IndexWarning))


# --- 2. duplicated coding rows -------------------------------------------------------------------


def test_duplicate_coding_rows_are_dropped_and_reported(tmp_path):
    root = tmp_path / "casme"
    for sample in ("EP01_01", "EP01_02", "EP01_03"):
        _touch_frames(root / "sub01" / sample, 1, 10)
    _coding(root, [
        ("01", "EP01_01", 1, 5, 10, "happiness"),   # row 2
        ("01", "EP01_02", 1, 5, 10, "surprise"),    # row 3
        (None, None, None, None, None, None),       # row 4: blank
        ("01", "EP01_03", 1, 5, 10, "disgust"),     # row 5
        (1, "EP01_01", 1, 5, 10, "happiness"),      # row 6: same as row 2
        ("sub01", "EP01_02", 1, 6, 9, "fear"),      # row 7: disagrees with row 3
    ])
    with pytest.warns(IndexWarning) as record:
        idx = build_index("casme2", root, sample_list="coding")
    assert list(idx.samples.sample_id) == ["sub01/EP01_01", "sub01/EP01_02", "sub01/EP01_03"]
    kept = idx.samples.set_index("sample_id").loc["sub01/EP01_02"]
    assert (kept.emotion, kept.label, kept.apex) == ("surprise", "surprise", 5)  # the first row wins
    dup = idx.manifest[idx.manifest["kind"] == "duplicate_row"].set_index("sample")
    assert list(dup.index) == ["EP01_01", "EP01_02"] and set(dup["action"]) == {"dropped"}
    assert "rows 2 and 6 of CASME2-coding-test.xlsx" in dup.loc["EP01_01", "detail"]
    assert "identical" in dup.loc["EP01_01", "detail"]
    detail = dup.loc["EP01_02", "detail"]
    assert "rows 3 and 7" in detail and "disagree" in detail
    assert "emotion 'surprise' vs 'fear'" in detail and "apex 5 vs 6" in detail and "offset 10 vs 9" in detail
    messages = _messages(record)
    assert "rows 2 and 6 of CASME2-coding-test.xlsx" in messages and "rows 3 and 7" in messages
    assert "header is row 1" in messages


@need_ann
def test_duplicate_row_in_the_real_coding_file(tmp_path):
    root = tmp_path / "CASME2-RAW"
    raw = pd.read_excel(ANN / "CASME2-coding-20140508.xlsx", dtype=object)
    k = next(i for i in range(12, len(raw)) if str(raw.iloc[i]["Estimated Emotion"]).strip() in RELABEL)
    raw = pd.concat([raw, raw.iloc[[k]]], ignore_index=True)  # data row k (spreadsheet row k + 2) again
    subject, sample = f"sub{int(raw.iloc[k]['Subject']):02d}", str(raw.iloc[k]["Filename"]).strip()
    _touch_frames(root / subject / sample, int(raw.iloc[k]["OnsetFrame"]), int(raw.iloc[k]["OffsetFrame"]))
    coding = root / "CASME2-coding-dup.xlsx"
    raw.to_excel(coding, index=False)
    with pytest.warns(IndexWarning) as record:
        idx = build_index("casme2", root, coding=coding, sample_list="coding")
    last = len(raw) + 1
    assert f"rows {k + 2} and {last} of CASME2-coding-dup.xlsx" in _messages(record)
    assert (idx.samples.sample_id == f"{subject}/{sample}").sum() == 1
    dup = idx.manifest[idx.manifest["kind"] == "duplicate_row"]
    assert list(zip(dup["subject"], dup["sample"])) == [(subject, sample)]


# --- 3. a class left empty -----------------------------------------------------------------------


def test_missing_smic_class_folder_warns(face_tree):
    shutil.rmtree(face_tree / "HS" / "s1" / "micro" / "surprise")
    with pytest.warns(IndexWarning, match=r"smic-hs: class 'surprise' has no samples") as record:
        idx = build_index("smic-hs", face_tree)
    assert idx.counts() == {"positive": 1, "negative": 1, "surprise": 0}
    empty = idx.manifest[idx.manifest["kind"] == "empty_class"]
    assert len(empty) == 1 and "'surprise'" in empty["detail"].iloc[0]
    assert sum("class 'surprise'" in str(w.message) for w in record) == 1  # warned once
    assert any("class 'surprise' has no samples" in line for line in idx.warnings())


def test_casme2_class_emptied_by_dropped_rows_warns(tmp_path):
    root = tmp_path / "casme"
    _touch_frames(root / "sub01" / "EP01_01", 1, 10)
    _touch_frames(root / "sub01" / "EP01_02", 1, 10)
    _coding(root, [
        ("01", "EP01_01", 1, 5, 10, "happiness"),
        ("01", "EP01_02", 1, 5, 10, "disgust"),
        ("01", "EP05_05", 1, 5, 10, "surprise"),  # the only surprise: no folder, dropped
    ])
    with pytest.warns(IndexWarning) as record:
        idx = build_index("casme2", root, sample_list="coding")
    messages = _messages(record)
    assert "casme2: class 'surprise' has no samples" in messages
    assert "class 'positive'" not in messages and "class 'negative'" not in messages
    assert list(idx.manifest.loc[idx.manifest["kind"] == "empty_class", "action"]) == ["empty"]
