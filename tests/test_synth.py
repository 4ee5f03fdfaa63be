"""Synthetic databases: layout read back by the index, determinism, motion, faces, errors."""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from madtn_utils import cli
from madtn_utils.data import synth, synth_write
from madtn_utils.data.shift import NO_SHIFT
from madtn_utils.data.frames import list_frames
from madtn_utils.data.types import CLASSES
from madtn_utils.data.index import build_index

CLASS_LABELS = set(CLASSES)
BASE_REGIONS = ("brow_l", "brow_r", "mouth_l", "mouth_r", "jaw")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    """The default databases (default shift)."""
    return synth_write.write_synthetic(tmp_path_factory.mktemp("synth") / "db", size="tiny", seed=0)


@pytest.fixture(scope="module")
def tiny0(tmp_path_factory) -> Path:
    """Without the shift components (the camera's look, amplitude and frame rate only)."""
    return synth_write.write_synthetic(tmp_path_factory.mktemp("synth0") / "db", size="tiny", seed=0, shift=NO_SHIFT)


@pytest.fixture(scope="module")
def truth(tiny) -> list[dict]:
    return json.loads((tiny / synth.TRUTH_NAME).read_text())["samples"]


@pytest.fixture(scope="module")
def truth0(tiny0) -> list[dict]:
    return json.loads((tiny0 / synth.TRUTH_NAME).read_text())["samples"]


def _index(database, root, **kw):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        idx = build_index(database, root, **kw)
    return idx, caught


def _hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _gray(folder: Path, i: int) -> np.ndarray:
    return cv2.imread(str(list_frames(folder)[i]), cv2.IMREAD_GRAYSCALE).astype(np.float32)


def test_index_reads_expected_counts(tiny):
    roots = synth.synthetic_roots(tiny)
    expected = synth.expected_counts("tiny")
    assert set(expected) == {"casme2", "smic-hs", "smic-vis", "smic-nir"}
    for database, counts in expected.items():
        idx, caught = _index(database, roots[database])
        assert tuple(idx.counts()[c] for c in CLASSES) == counts, database
        assert idx.warnings() == [] and not caught, database
        assert idx.samples["complete"].all()
    idx, _ = _index("casme2", roots["casme2"], sample_list="coding")
    pos, neg, sur = expected["casme2"]
    assert tuple(idx.counts()[c] for c in CLASSES) == (pos, neg - 1, sur)
    assert "sub24/EP02_07" not in set(idx.samples["sample_id"])
    assert (idx.manifest["kind"] == "not_in_coding").sum() == 1


@pytest.mark.parametrize("shifted", [False, True])
def test_casme2_coding_file_and_addendum(tiny, tiny0, shifted):
    tiny = tiny if shifted else tiny0
    raw = pd.read_excel(tiny / "casme2" / synth.CODING_NAME, dtype=object)
    assert list(raw.columns) == ["Subject", "Filename", "Unnamed: 2", "OnsetFrame", "ApexFrame", "OffsetFrame",
                                 "Unnamed: 6", "Action Units", "Estimated Emotion"]
    assert isinstance(raw["Subject"].iloc[0], str) and raw["Subject"].iloc[0] == "01"
    emotions = set(raw["Estimated Emotion"])
    assert {"repression", "others", "happiness", "surprise"} <= emotions
    assert emotions <= {"happiness", "disgust", "sadness", "fear", "surprise", "repression", "others"}
    assert not ((raw["Subject"] == "24") & (raw["Filename"] == "EP02_07")).any()
    clip = tiny / "casme2" / "sub24" / "EP02_07"
    assert [p.name for p in list_frames(clip)] == [f"img{n}.jpg" for n in range(61, 107)]
    lo, hi = (0.29, 0.71) if shifted else (0.39, 0.61)  # the shift's sampling: apex anywhere in 30-70 %
    for row in raw.itertuples():  # annotated apex inside the middle 40-60 % of the clip
        frac = (row.ApexFrame - row.OnsetFrame) / (row.OffsetFrame - row.OnsetFrame)
        assert lo <= frac <= hi
    idx, _ = _index("casme2", tiny / "casme2")
    assert idx.manifest["kind"].eq("dropped_label").sum() == raw["Estimated Emotion"].isin(["repression", "others"]).sum()


def test_smic_layout_and_clutter(tiny):
    smic = tiny / "smic"
    assert sorted(p.name for p in smic.iterdir()) == ["HS", "NIR", "VIS"]
    assert list(smic.glob("HS/s*/non_micro/*/*.jpg")) and list(smic.rglob(".DS_Store"))
    hs = {p.name for p in (smic / "HS").iterdir() if p.is_dir()}
    vis = {p.name for p in (smic / "VIS").iterdir() if p.is_dir()}
    assert vis == {p.name for p in (smic / "NIR").iterdir() if p.is_dir()} and vis < hs
    assert sorted(vis, key=lambda s: int(s[1:])) == sorted(hs, key=lambda s: int(s[1:]))[-len(vis):]
    for database, (lo, hi) in (("smic-hs", (20, 50)), ("smic-vis", (5, 12)), ("smic-nir", (5, 12))):
        idx, _ = _index(database, smic)
        assert idx.samples["n_frames"].between(lo, hi).all(), database
    sample = next(smic.glob("VIS/s*/micro/positive/*_po_*"))
    assert all(p.name.startswith("image") and len(p.stem) == 11 for p in list_frames(sample))


def test_motion_is_where_the_class_acts(tiny0, truth0):
    tiny, truth = tiny0, truth0  # without distractors: the class's motion is the only motion
    ratios = {}
    for t in truth:
        if t["label"] not in CLASS_LABELS:
            continue
        folder = tiny / t["folder"]
        diff = np.abs(_gray(folder, 0) - _gray(folder, t["apex_index"]))

        def mad(box):
            x0, y0, x1, y1 = box
            return float(diff[max(y0, 0):y1, max(x0, 0):x1].mean())

        moving = np.mean([mad(t["regions"][r]) for r in t["moving"]])
        # the five regions of the shared mixture's AUs (eyes, cheeks, nose, upper lip neighbour them)
        still = np.mean([mad(b) for r, b in t["regions"].items() if r not in t["moving"] and r in BASE_REGIONS])
        background = mad(t["background_box"])
        assert moving > 1.25 * still and moving > 1.5 * background, (t["sample_id"], moving, still, background)
        ratios.setdefault(t["database"], []).append(moving / still)
    assert set(ratios) == {"casme2", "smic-hs", "smic-vis", "smic-nir"}
    for database, r in ratios.items():
        assert np.mean(r) > 2.0, database


@pytest.mark.parametrize("shifted", [False, True])
def test_offset_returns_to_neutral_and_apex_is_peak(tiny, truth, tiny0, truth0, shifted):
    tiny, truth = (tiny, truth) if shifted else (tiny0, truth0)
    t = next(t for t in truth if t["database"] == "casme2" and t["label"] == "positive" and not t["blink_frames"])
    folder, n = tiny / t["folder"], t["n_frames"]
    x0, y0, x1, y1 = t["regions"][t["moving"][0]]
    onset = _gray(folder, 0)[y0:y1, x0:x1]
    change = [np.abs(_gray(folder, i)[y0:y1, x0:x1] - onset).mean() for i in range(n)]
    assert int(np.argmax(change)) in range(t["apex_index"] - 3, t["apex_index"] + 4)
    assert change[-1] < 0.5 * max(change)


def test_haar_detects_faces_on_onset_frames(tiny, truth):
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    found = []
    for t in truth:
        gray = _gray(tiny / t["folder"], 0).astype(np.uint8)
        h = gray.shape[0]
        found.append(len(cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5, minSize=(h // 5, h // 5))) > 0)
    assert len(found) == len(truth) > 40
    assert np.mean(found) >= 0.95


def test_still_frame_does_not_tell_the_class(truth0):
    truth = truth0  # amplitudes without the per-subject intensity of the shift
    # identity and per-sample shape vary the mouth corners more than the 1-3 px apex movement
    for database in ("casme2", "smic-hs"):
        samples = [t for t in truth if t["database"] == database and t["label"] in CLASS_LABELS]
        amplitude = np.mean([t["amplitude"] for t in samples])
        assert all(1.0 <= t["amplitude"] <= 3.0 for t in samples)
        for region in ("mouth_l", "mouth_r"):
            y = [(t["regions"][region][1] + t["regions"][region][3]) / 2 - t["face_box"][1] for t in samples]
            assert np.std(y) > amplitude, (database, region)


@pytest.mark.timeout(300)
def test_cli_seed_determinism_and_overwrite(tiny, tmp_path, capsys):
    out = tmp_path / "cli"
    assert cli.main(["synth", "--out", str(out), "--size", "tiny", "--seed", "1", "--jobs", "1"]) == 0
    assert "casme2" in capsys.readouterr().out
    first, other = _hashes(tiny), _hashes(out)
    jpgs = lambda h: {v for k, v in h.items() if k.endswith(".jpg")}  # noqa: E731
    assert jpgs(first) and not jpgs(first) & jpgs(other)  # another seed: no frame in common
    # OpenCV's thread pool now busy in this process: a worker pool must still start (no fork deadlock)
    cv2.setNumThreads(2)
    cv2.GaussianBlur(np.zeros((1024, 1024, 3), np.float32), (0, 0), 5)
    # same seed, another worker count, written over the seed-1 databases: byte-identical
    synth_write.write_synthetic(out, size="tiny", seed=0, jobs=2, overwrite=True)
    assert _hashes(out) == first
    assert not list(tmp_path.glob("cli.*"))  # no partial/old folders left


def test_bad_input(tiny, tmp_path, capsys):
    with pytest.raises(ValueError, match="size"):
        synth_write.write_synthetic(tmp_path / "x", size="huge")
    with pytest.raises(ValueError, match="size"):
        synth.expected_counts("huge")
    with pytest.raises(ValueError, match="seed"):
        synth_write.write_synthetic(tmp_path / "x", seed=-1)
    with pytest.raises(ValueError, match="jobs"):
        synth_write.write_synthetic(tmp_path / "x", jobs=0)
    with pytest.raises(ValueError, match=str(tiny)):
        synth_write.write_synthetic(tiny)
    assert cli.main(["synth", "--out", str(tiny)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and str(tiny) in err and "overwrite" in err
    assert cli.main(["synth", "--out", str(tmp_path / "y"), "--size", "huge"]) == 2
    assert "size" in capsys.readouterr().err
    assert not (tmp_path / "y").exists()


def test_interrupted_run_leaves_nothing(tiny, tmp_path, monkeypatch):
    before = _hashes(tiny / "casme2" / "sub24")

    def boom(*args, **kwargs):
        raise RuntimeError("interrupted")

    monkeypatch.setattr(synth, "render_clip", boom)
    with pytest.raises(RuntimeError):
        synth_write.write_synthetic(tmp_path / "new", jobs=1)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(RuntimeError):
        synth_write.write_synthetic(tiny, jobs=1, overwrite=True)
    assert _hashes(tiny / "casme2" / "sub24") == before
    assert not list(tiny.parent.glob("db.*"))


def test_expected_counts_paper_is_table1():
    from madtn_utils.data.types import TABLE1_COUNTS

    assert synth.expected_counts("paper") == TABLE1_COUNTS
    specs = synth.plan("paper", 0)
    by_db = {}
    for s in specs:
        by_db.setdefault(s.database, set()).add(s.subject)
    assert len(by_db["casme2"]) == 26 and len(by_db["smic-hs"]) == 16
    assert by_db["smic-vis"] == by_db["smic-nir"] == {f"s{n}" for n in range(9, 17)}
    frames = {db: [s.event.n_frames for s in specs if s.database == db] for db in by_db}
    assert min(frames["casme2"]) >= 40 and max(frames["casme2"]) <= 100
    assert min(frames["smic-vis"]) >= 5 and max(frames["smic-nir"]) <= 12
