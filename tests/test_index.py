"""The dataset index on trees laid out like the real databases.

The trees are built in a temp dir from the real annotation files in
``../shared/annotations`` (frames are empty files: the index never decodes them).
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import pandas as pd
import pytest

from madtn_utils.data.casme2 import read_coding
from madtn_utils.cli import main
from madtn_utils.data.frames import list_frames
from madtn_utils.data.types import IndexInputError, IndexWarning
from madtn_utils.data.index import build_index

ANN = Path(__file__).resolve().parents[2] / "shared" / "annotations"
if not ANN.is_dir():  # a checkout beside shared/ (../shared from the repository root)
    ANN = Path(__file__).resolve().parents[1].parent / "shared" / "annotations"
need_ann = pytest.mark.skipif(not ANN.is_dir(), reason=f"real annotation files not found at {ANN}")


def _touch_frames(folder: Path, first: int, last: int, pattern: str = "img{}.jpg") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for n in range(first, last + 1):
        (folder / pattern.format(n)).touch()


@pytest.fixture(scope="module")
def casme_tree(tmp_path_factory):
    """CASME II raw layout from the 20140508 coding file, plus sub24/EP02_07 from the 5-class list."""
    root = tmp_path_factory.mktemp("CASME2-RAW")
    coding = read_coding(ANN / "CASME2-coding-20140508.xlsx")
    for r in coding.itertuples():
        _touch_frames(root / r.subject / r.sample, int(r.onset), int(r.offset))
    five = pd.read_csv(ANN / "xiazhaoqiang_Benchmark_casme2-5classes.csv", header=None,
                       names=["subject", "sample", "onset", "apex", "offset", "cls"])
    extra = five[(five.subject == "sub24") & (five["sample"] == "EP02_07")].iloc[0]
    _touch_frames(root / "sub24" / "EP02_07", int(extra.onset), int(extra.offset))
    shutil.copy(ANN / "CASME2-coding-20140508.xlsx", root / "CASME2-coding-20140508.xlsx")
    (root / "sub01" / ".DS_Store").touch()
    return root


@pytest.fixture(scope="module")
def smic_tree(tmp_path_factory):
    """SMIC-HS layout from the benchmark's SMIC list (subjects unpadded on disk, .bmp frames)."""
    root = tmp_path_factory.mktemp("SMIC")
    lst = pd.read_csv(ANN / "xiazhaoqiang_Benchmark_smic-3classes.csv", header=None,
                      names=["subject", "sample", "onset", "apex", "offset", "cls"])
    names = {1: "positive", 2: "negative", 3: "surprise"}
    for r in lst.itertuples():
        subj = f"s{int(r.subject[1:])}"
        sample = subj + r.sample[len(r.subject):]
        _touch_frames(root / "HS" / subj / "micro" / names[r.cls] / sample, r.onset, r.offset, "image{}.bmp")
    (root / "HS" / "s1" / "non_micro" / "x" / "s1_x_01").mkdir(parents=True)
    (root / "HS" / "s1" / "micro" / "Thumbs.db").touch()
    return root


def _index(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IndexWarning)
        return build_index(*args, **kwargs)


@need_ann
def test_casme2_counts_coding_and_benchmark(casme_tree):
    coding = _index("casme2", casme_tree, sample_list="coding")
    assert coding.counts() == {"positive": 32, "negative": 72, "surprise": 25}
    assert "CASME2-coding-20140508.xlsx" in coding.sample_list
    bench = _index("casme2", casme_tree)
    assert bench.counts() == {"positive": 32, "negative": 73, "surprise": 25}
    assert bench.samples["subject"].nunique() == 22
    assert "sub24/EP02_07" in bench.sample_list
    row = bench.samples.set_index("sample_id").loc["sub24/EP02_07"]
    assert (row.onset, row.apex, row.offset, row.emotion) == (61, 91, 106, "disgust")
    # in coding mode the extra folder is reported, not silently ignored
    assert ((coding.manifest["sample"] == "EP02_07") & (coding.manifest["kind"] == "not_in_coding")).any()


@need_ann
def test_casme2_rows(casme_tree):
    idx = _index("casme2", casme_tree)
    s = idx.samples.set_index("sample_id")
    first = s.loc["sub01/EP02_01f"]
    assert first.label == "positive" and first.fps == 200
    assert first.n_frames == first.offset - first.onset + 1 == len(first.frames)
    assert [Path(p).name for p in first.frames[:2]] == [f"img{first.onset}.jpg", f"img{first.onset + 1}.jpg"]
    assert pd.isna(s.loc["sub04/EP12_01f"].apex)  # the '/' apex
    assert set(idx.samples.label) == {"positive", "negative", "surprise"}
    dropped = idx.manifest[idx.manifest.kind == "dropped_label"]
    assert len(dropped) == 255 - 129  # repression + others
    assert idx.samples.sample_id.is_unique


@need_ann
def test_casme2_csv_and_numeric_subjects(casme_tree, tmp_path):
    raw = pd.read_excel(ANN / "CASME2-coding-20140508.xlsx", dtype=object)
    raw["Subject"] = raw["Subject"].astype(int)  # subject as a number
    csv = tmp_path / "coding.csv"
    raw.to_csv(csv, index=False)
    idx = _index("casme2", casme_tree, coding=csv, sample_list="coding")
    assert idx.counts() == {"positive": 32, "negative": 72, "surprise": 25}


@need_ann
def test_casme2_2019_revision(casme_tree):
    idx = _index("casme2", casme_tree, coding=ANN / "CASME2-coding-20190701.xlsx", sample_list="coding")
    assert idx.counts() == {"positive": 32, "negative": 69, "surprise": 28}


@need_ann
def test_smic_hs_counts(smic_tree):
    idx = _index("smic-hs", smic_tree)
    assert idx.counts() == {"positive": 51, "negative": 70, "surprise": 43}
    assert idx.samples["subject"].nunique() == 16
    assert idx.samples["fps"].eq(100).all()
    row = idx.samples.set_index("sample_id").loc["s1/s1_ne_01"]
    assert Path(row.frames[0]).name == "image559740.bmp" and row.n_frames == 559775 - 559740 + 1
    # the variant folder itself is accepted as root
    assert _index("smic-hs", smic_tree / "HS").counts() == idx.counts()
    # subjects in numeric order: s2 before s11 before s20
    subjects = list(dict.fromkeys(idx.samples.subject))
    assert subjects.index("s2") < subjects.index("s11") < subjects.index("s20")


def test_numeric_frame_order(tmp_path):
    for n in (10, 9, 100, 1):
        (tmp_path / f"img{n}.jpg").touch()
    (tmp_path / "Thumbs.db").touch()
    (tmp_path / ".DS_Store").touch()
    assert [p.name for p in list_frames(tmp_path)] == ["img1.jpg", "img9.jpg", "img10.jpg", "img100.jpg"]


def _mini_casme(root: Path, rows) -> Path:
    """A CASME II tree with a coding .xlsx in the real header format."""
    df = pd.DataFrame(rows, columns=["Subject", "Filename", "OnsetFrame", "ApexFrame", "OffsetFrame", "Estimated Emotion"])
    df.insert(2, " ", None)
    df.insert(6, "  ", None)
    df.insert(7, "Action Units", "12")
    df = df.rename(columns={" ": "Unnamed: 2", "  ": "Unnamed: 6"})
    path = root / "CASME2-coding-test.xlsx"
    df.to_excel(path, index=False)
    return path


def test_disagreements_reported(tmp_path):
    root = tmp_path / "casme"
    _touch_frames(root / "sub01" / "EP01_01", 1, 10)
    _touch_frames(root / "sub01" / "EP01_02", 1, 10)
    (root / "sub01" / "EP01_02" / "img5.jpg").unlink()  # a gap between onset and offset
    _touch_frames(root / "sub02" / "EP01_03", 1, 2)  # too short
    _touch_frames(root / "sub02" / "EP09_09", 1, 5)  # on disk, not coded
    _mini_casme(root, [
        ("01", "EP01_01", 1, 5, 10, "happiness"),
        ("01", "EP01_02", 1, 5, 10, "surprise"),
        ("02", "EP01_03", 1, 2, 2, "fear"),
        ("02", "EP07_07", 1, 3, 9, "sadness"),  # coded, no folder
    ])
    with pytest.warns(IndexWarning) as record:
        idx = build_index("casme2", root, sample_list="coding")
    kinds = dict(zip(idx.manifest["sample"], idx.manifest["kind"]))
    assert kinds == {"EP01_02": "missing_frames", "EP01_03": "too_few_frames",
                     "EP07_07": "missing_folder", "EP09_09": "not_in_coding",
                     "": "empty_class"}  # both negative clips dropped: the class is empty
    assert list(idx.samples.sample_id) == ["sub01/EP01_01", "sub01/EP01_02"]
    assert idx.samples.set_index("sample_id").loc["sub01/EP01_02", "complete"] == False  # noqa: E712
    messages = " ".join(str(w.message) for w in record)
    for name in ("sub01/EP01_02", "sub02/EP01_03", "sub02/EP07_07", "sub02/EP09_09"):
        assert name in messages


def test_bad_inputs(tmp_path, capsys):
    with pytest.raises(IndexInputError, match="does not exist"):
        build_index("casme2", tmp_path / "nope")
    (tmp_path / "flat").mkdir()
    with pytest.raises(IndexInputError, match="subNN"):
        build_index("casme2", tmp_path / "flat")
    with pytest.raises(IndexInputError, match=r"HS/ folder nor sK/"):
        build_index("smic-hs", tmp_path / "flat")
    with pytest.raises(IndexInputError, match="database: expected one of"):
        build_index("samm", tmp_path)
    _touch_frames(tmp_path / "c" / "sub01" / "EP01_01", 1, 5)
    with pytest.raises(IndexInputError, match="no CASME II coding file"):
        build_index("casme2", tmp_path / "c")
    bad = tmp_path / "c" / "CASME2-coding-bad.xlsx"
    bad.write_bytes(b"not a zip file")
    with pytest.raises(IndexInputError, match="unreadable"):
        build_index("casme2", tmp_path / "c")
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("a,b\n1,2\n")
    with pytest.raises(IndexInputError, match="missing Subject"):
        build_index("casme2", tmp_path / "c", coding=wrong)
    # the CLI: non-zero exit and one line naming the path
    for argv, needle in (
        (["index", "--database", "casme2", "--root", str(tmp_path / "nope")], "nope"),
        (["index", "--database", "casme2", "--root", str(tmp_path / "c"), "--coding", str(bad)], "CASME2-coding-bad.xlsx"),
        (["index", "--database", "smic-nir", "--root", str(tmp_path / "flat")], "flat"),
    ):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and needle in err and "expected" in err


@need_ann
def test_cli_json(casme_tree, smic_tree, capsys):
    assert main(["index", "--database", "casme2", "--root", str(casme_tree), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["positive"], out["negative"], out["surprise"], out["total"]) == (32, 73, 25, 130)
    assert "sub24/EP02_07" in out["sample_list"] and isinstance(out["warnings"], list)
    assert main(["index", "--database", "casme2", "--root", str(casme_tree), "--json", "--sample-list", "coding"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["positive"], out["negative"], out["surprise"]) == (32, 72, 25)
    assert any("EP02_07" in w for w in out["warnings"])
    assert main(["index", "--database", "smic-hs", "--root", str(smic_tree), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["positive"], out["negative"], out["surprise"]) == (51, 70, 43)
