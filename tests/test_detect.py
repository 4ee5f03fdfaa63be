"""Face detection: MTCNN against boxes known from rendering and Haar's on a real photograph, the
face modes (detect, whole_frame, auto), their manifest record, and the real apex crops."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from madtn_utils.config import from_dict
from madtn_utils.data import synth, synth_write
from madtn_utils.data.index import build_index
from madtn_utils.data.types import IndexWarning
from madtn_utils.preprocess.cache import PrepareWarning, detector_summary, prepare_database
from madtn_utils.preprocess.detect import (BORDER, MARGINS, Face, expand_box, locate_face, make_detector)
from madtn_utils.preprocess.mtcnn import MTCNN, nms
from madtn_utils.preprocess.sample import PreprocessConfig

REAL = Path(__file__).resolve().parents[2] / "shared" / "real" / "megc2019-composite"


def iou(a, b) -> float:
    """IoU of two (x, y, w, h) boxes."""
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


@pytest.fixture(scope="module")
def mtcnn():
    return make_detector("mtcnn")


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """(onset BGR frame, rendered face box) of every tiny synthetic clip (seed 0)."""
    root = synth_write.write_synthetic(tmp_path_factory.mktemp("synth") / "db", size="tiny", seed=0)
    out = []
    for t in json.loads((root / synth.TRUTH_NAME).read_text())["samples"]:
        frames = sorted((root / t["folder"]).glob("*.jpg"), key=lambda p: int("".join(filter(str.isdigit, p.stem))))
        out.append((cv2.imread(str(frames[0])), tuple(t["face_box"])))
    return out


def test_mtcnn_boxes_match_the_rendered_faces(mtcnn, rendered):
    haar = make_detector("haar")
    ious, crops = [], []
    for frame, truth in rendered:
        faces = mtcnn.faces(frame)
        assert len(faces) == 1 and faces[0].score > 0.95  # one face per frame, confident
        ious.append(iou(faces[0].box, truth))
        h = haar(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY))
        if h is not None:  # the crops after each detector's margins (detect.MARGINS) agree
            crops.append(iou(expand_box(faces[0].box, frame.shape, **MARGINS["mtcnn"]),
                             expand_box(h, frame.shape, **MARGINS["haar"])))
    assert len(ious) == 44 and min(ious) > 0.7, np.round(ious, 2)
    assert len(crops) >= 40 and np.mean(crops) > 0.85 and min(crops) > 0.6  # measured: 0.90, min 0.70


def test_mtcnn_on_a_real_photograph_agrees_with_haar(mtcnn):
    from skimage import data

    bgr = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    haar = make_detector("haar")(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY))
    faces = mtcnn.faces(bgr)
    assert len(faces) == 1 and iou(faces[0].box, haar) > 0.7
    assert mtcnn(bgr) == faces[0].box  # __call__: the most confident face's box


def test_mtcnn_weights_come_from_the_wheel_without_importing_it():
    code = ("import sys; from madtn_utils.preprocess.mtcnn import load_nets, weights_file; load_nets(); "
            "print(weights_file('onet').parent.as_posix()); print('facenet_pytorch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    folder, imported = out.stdout.split()
    assert folder.endswith("facenet_pytorch/data") and imported == "False"


def test_pyramid_and_nms():
    m = MTCNN(min_face=0.1, nets=(None, None, None))
    scales = m.scales((240, 320))
    assert scales[0] == pytest.approx(12 / 24) and all(240 * s >= 12 for s in scales)
    assert 240 * scales[-1] * m.factor < 12 and np.allclose(np.diff(np.log(scales)), np.log(0.709))
    boxes = np.array([[0, 0, 10, 10], [2, 2, 6, 6], [5, 0, 15, 10.]])
    scores = np.array([0.9, 0.95, 0.8])
    assert nms(boxes, scores, 0.5).tolist() == [1, 0, 2]  # IoU: 16/100 and 50/150 stay under 0.5
    assert nms(boxes, scores, 0.5, mode="min").tolist() == [1, 2]  # 16/16 = 1: the small box swallows the big
    with pytest.raises(ValueError, match=r"preprocess.mtcnn_min_face: expected a fraction in \(0, 1\], got 0"):
        MTCNN(min_face=0, nets=(None, None, None))


class Fixed:
    """A detector that finds ``boxes`` only on images of ``shape`` (None: any)."""

    color = False

    def __init__(self, boxes, shape=None):
        self.boxes, self.shape, self.seen = boxes, shape, []

    def faces(self, image):
        self.seen.append(image.shape)
        return [Face(b, 0.9) for b in self.boxes] if self.shape in (None, image.shape) else []


def test_face_modes_choose_and_record():
    frame = np.zeros((100, 120), np.uint8)
    margins = dict(top=0.25, bottom=0.05, side=0.08)
    small = locate_face(Fixed([(40, 30, 40, 40), (0, 0, 10, 10)]), frame, mode="auto", **margins)
    assert small["box"] == expand_box((40, 30, 40, 40), frame.shape, **margins) and small["face_mode"] == "detected"
    assert (small["faces_found"], small["face_score"], small["det_box"], small["face_search"]) == (2, 0.9, (40, 30, 40, 40), "frame")
    assert small["face_share"] == pytest.approx(1600 / 12000, abs=1e-4)
    big = locate_face(Fixed([(-10, -20, 130, 110)]), frame, mode="auto", **margins)  # clipped: 120 x 90 of 120 x 100
    assert big["box"] == (0, 0, 120, 100) and big["face_mode"] == "whole_frame" and big["face_share"] == 0.9
    assert locate_face(Fixed([(-10, -20, 130, 110)]), frame, mode="detect", **margins)["face_mode"] == "detected"
    # nothing on the frame itself, a face once the frame has a border: found there, in frame coordinates
    pad = round(BORDER * 120)
    bordered = Fixed([(pad + 5, pad + 5, 100, 90)], shape=(100 + 2 * pad, 120 + 2 * pad))
    got = locate_face(bordered, frame, mode="auto", **margins)
    assert got["face_search"] == "bordered" and got["det_box"] == (5, 5, 100, 90) and got["face_mode"] == "whole_frame"
    none = Fixed([])
    fallback = locate_face(none, frame, mode="auto", **margins)
    assert fallback["face_mode"] == "centre_fallback" and fallback["box"] == (20, 10, 80, 80) and len(none.seen) == 2
    assert locate_face(Fixed([]), frame, mode="detect", **margins)["face_search"] == "frame"
    whole = Fixed([(1, 1, 5, 5)])
    assert locate_face(whole, frame, mode="whole_frame", **margins)["box"] == (0, 0, 120, 100) and not whole.seen
    with pytest.raises(ValueError, match=r"preprocess.face: expected one of auto, detect, whole_frame, got 'crop'"):
        locate_face(whole, frame, mode="crop", **margins)


def test_face_and_detector_params_are_checked():
    with pytest.raises(ValueError, match=r"^params.preprocess.face: expected one of 'auto', 'detect', 'whole_frame', got 'crop'$"):
        from_dict(PreprocessConfig, {"face": "crop"}, where="params.preprocess")
    with pytest.raises(ValueError, match=r"^preprocess.detector: expected one of 'mtcnn', 'haar', 'retinaface', got 'dlib'$"):
        PreprocessConfig(detector="dlib")
    with pytest.raises(ValueError, match=r"^params.preprocess.mtcnn_min_face: expected a fraction in \(0, 1\], got 1.5$"):
        from_dict(PreprocessConfig, {"mtcnn_min_face": 1.5}, where="params.preprocess")
    assert PreprocessConfig().detector == "mtcnn" and PreprocessConfig().face == "auto"
    assert PreprocessConfig(detector="haar").margins == MARGINS["haar"]
    assert PreprocessConfig(margin_side=0.3).margins == dict(MARGINS["mtcnn"], side=0.3)


def test_manifest_records_the_face_mode_per_sample(face_tree, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IndexWarning)
        idx = build_index("smic-hs", face_tree)
    with pytest.warns(PrepareWarning, match="1 sample"):
        _, manifest, info = prepare_database(idx, PreprocessConfig(), cache_dir=tmp_path / "c", jobs=1)
    m = manifest.set_index("sample_id")
    assert m.loc["s1/s1_po_01", "face_mode"] == "detected" and m.loc["s1/s1_sur_01", "face_mode"] == "centre_fallback"
    assert m.loc["s1/s1_sur_01", "face_search"] == "bordered" and str(m.loc["s1/s1_sur_01", "faces_found"]) == "0"
    assert float(m.loc["s1/s1_po_01", "face_score"]) > 0.95 and 0.05 < float(m.loc["s1/s1_po_01", "face_share"]) < 0.6
    assert info["fallback"] == 1 and info["whole_frame"] == 0
    _, whole, info = prepare_database(idx, PreprocessConfig(face="whole_frame"), cache_dir=tmp_path / "c", jobs=1)
    assert set(whole["face_mode"]) == {"whole_frame"} and (whole["face_w"] == 360).all() and info["whole_frame"] == 3
    row = detector_summary(whole).set_index("class").loc["all"]
    assert (row["whole_frame"], row["detected_box"], row["fallback_centre_crop"]) == (3, 0, 0)


def _real_crops():
    if not (REAL / "combined_3_class2_for_optical_flow.csv").is_file():
        pytest.skip(f"real data not found at {REAL} (see shared/real/README.md)")
    table = pd.read_csv(REAL / "combined_3_class2_for_optical_flow.csv")
    folder = REAL / "datasets" / "combined_datasets_whole"
    rows = [(r.dataset, folder / r.imagename) for r in table.itertuples() if r.dataset in ("casme2", "smic")]
    return [(db, path) for db, path in rows if path.is_file()]


def test_mtcnn_and_auto_on_the_real_apex_crops(mtcnn):
    crops = _real_crops()
    assert len(crops) == 309
    found, usable = {"casme2": [], "smic": []}, []
    for db, path in crops:
        bgr = cv2.imread(str(path))
        face = locate_face(mtcnn, bgr, mode="auto", **MARGINS["mtcnn"])
        found[db].append(face["face_search"] == "frame" and face["faces_found"] > 0)  # found without the border
        usable.append(face["face_mode"] != "centre_fallback" and face["box"][2] * face["box"][3] > 0.5 * bgr.shape[0] * bgr.shape[1])
    assert np.mean(found["casme2"]) >= 0.95 and np.mean(found["smic"]) >= 0.95, {k: np.mean(v) for k, v in found.items()}
    assert all(usable)
