"""RetinaFace on retina-face's PyTorch backend: the package's own model built on random weights (no
download) checks the integration (input conversion, box format, one box per clip, loading
``retinaface.pth``, the offline error); the accuracy check needs the real weights and skips without."""

from __future__ import annotations

import os
import warnings

import cv2
import numpy as np
import pytest
import torch

pytest.importorskip("retinaface", reason="retina-face not installed: pip install 'madtn[retinaface]'")

from madtn_utils.data.index import build_index  # noqa: E402
from madtn_utils.data.types import IndexWarning  # noqa: E402
from madtn_utils.preprocess import retina  # noqa: E402
from madtn_utils.preprocess.detect import MARGINS, expand_box, make_detector  # noqa: E402
from madtn_utils.preprocess.sample import PreprocessConfig, SampleWorker  # noqa: E402

STRIDE, ROW, COL = 16, 4, 5  # the planted anchor: stride-16 map, cell (4, 5), first anchor [-56, -56, 71, 71]
PLANTED = (COL * STRIDE - 56, ROW * STRIDE - 56, 127, 127)  # its box, (x, y, w, h), with zero deltas


@pytest.fixture()
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPFACE_HOME", str(tmp_path))
    monkeypatch.setenv("DEEPFACE_BACKEND_ENGINE", "pytorch")  # restored after the test
    return tmp_path


@pytest.fixture(scope="module")
def random_model():
    _, pth = retina.import_retinaface()
    torch.manual_seed(0)
    return pth.RetinaFace().eval()


class Planted(torch.nn.Module):
    """The random-weight model, with every face score 0 but one anchor's (0.99, zero box deltas);
    records the input tensors it was given."""

    def __init__(self, model):
        super().__init__()
        self.model, self.inputs, self.run_model = model, [], True

    def forward(self, x):
        self.inputs.append(x.clone())
        if self.run_model:
            out = [o.clone() for o in self.model(x)]
        else:  # zeros of the model's output shapes (a 1024-px forward pass is slow on a CPU)
            out = [torch.zeros(1, -(-x.shape[1] // s), -(-x.shape[2] // s), c) for s in (32, 16, 8) for c in (4, 8, 20)]
        for k, stride in enumerate((32, 16, 8)):
            scores, deltas = out[3 * k], out[3 * k + 1]
            scores[..., 2:] = 0.0  # channels [bg_a1, bg_a2, face_a1, face_a2]
            if stride == STRIDE:
                scores[0, ROW, COL, 2] = 0.99
                deltas[0, ROW, COL, 0:4] = 0.0
        return out


def test_box_format_and_input_conversion(home, random_model):
    planted = Planted(random_model)
    detector = retina.RetinaFaceDetector(model=planted, upscale=False)
    rng = np.random.default_rng(0)
    gray = rng.integers(0, 256, (200, 240), dtype=np.uint8)
    faces = detector.faces(gray)
    assert [(f.box, round(f.score, 2)) for f in faces] == [(PLANTED, 0.99)]
    x = planted.inputs[-1]
    assert tuple(x.shape) == (1, 200, 240, 3) and x.dtype == torch.float32
    assert all(torch.equal(x[0, ..., c], torch.from_numpy(gray).float()) for c in range(3))  # gray -> 3 equal channels
    bgr = rng.integers(0, 256, (200, 240, 3), dtype=np.uint8)
    assert detector(bgr) == PLANTED
    assert torch.equal(planted.inputs[-1][0], torch.from_numpy(bgr[..., ::-1].copy()).float())  # BGR in, RGB to the net
    detector.upscale, planted.run_model = True, False  # retina-face's default: shorter side to 1024 px, boxes mapped back
    s = 1024 / 200
    x1, y1, x2, y2 = (np.array([PLANTED[0], PLANTED[1], PLANTED[0] + 127, PLANTED[1] + 127]) / s).astype(int)
    assert detector(gray) == (x1, y1, x2 - x1, y2 - y1)
    assert tuple(planted.inputs[-1].shape) == (1, 1024, round(240 * s), 3)


def test_one_box_per_clip_through_the_pipeline(home, random_model, face_tree, monkeypatch):
    monkeypatch.setattr(retina, "_load", lambda path, pth: Planted(random_model))
    (home / ".deepface" / "weights").mkdir(parents=True)
    (home / ".deepface" / "weights" / "retinaface.pth").write_bytes(b"")  # present: nothing to download
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IndexWarning)
        idx = build_index("smic-hs", face_tree)
    row = idx.samples.iloc[0]
    out = SampleWorker(PreprocessConfig(detector="retinaface", retinaface_upscale=False))(
        {"sample_id": row.sample_id, "subject": row.subject, "label": row.label, "frames": list(row.frames),
         "n_frames": int(row.n_frames), "apex": None})
    man = out["manifest"]
    onset = cv2.imread(row.frames[0])
    assert (man["face_x"], man["face_y"], man["face_w"], man["face_h"]) == expand_box(PLANTED, onset.shape, **MARGINS["retinaface"])
    assert (man["face_mode"], man["faces_found"], round(man["face_score"], 2)) == ("detected", 1, 0.99)
    assert (man["det_x"], man["det_y"], man["det_w"], man["det_h"]) == PLANTED and out["test"].shape == (3, 112, 112)


def test_weights_file_is_retinaface_pth_and_loaded(home, random_model):
    folder = home / ".deepface" / "weights"
    folder.mkdir(parents=True)
    torch.save(random_model.state_dict(), folder / "retinaface.pth")
    assert retina.expected_weights() == folder / "retinaface.pth"
    detector = make_detector("retinaface")  # no path given: retina-face's own file, no download needed
    for name, value in random_model.state_dict().items():
        assert torch.equal(detector.model.state_dict()[name], value), name
    assert not detector.model.training
    (home / "retinaface.h5").write_bytes(b"\x89HDF\r\n\x1a\n not a state dict")
    with pytest.raises(ValueError, match=r"retinaface.h5' is not retina-face's PyTorch state dict .*expected retinaface.pth"):
        make_detector("retinaface", weights=str(home / "retinaface.h5"))
    with pytest.raises(ValueError, match=r"weights file .* is a folder: expected retinaface.pth"):
        make_detector("retinaface", weights=str(home))


def test_offline_without_weights_says_where_to_put_them(home, monkeypatch):
    from retinaface.commons import weight_utils

    def offline(file_name, source_urls):  # what retina-face raises when no source answers
        raise ValueError(f"Pre-trained weight could not be loaded! ... {file_name}") from OSError("no network")

    monkeypatch.setattr(weight_utils, "download_weights_if_necessary", offline)
    expected = home / ".deepface" / "weights" / "retinaface.pth"
    with pytest.raises(ValueError, match=rf"^retinaface detector: retinaface.pth is not at {expected} and could not be "
                                         r"downloaded \(OSError\): put the file there .* or set preprocess.retinaface_weights"):
        retina.retinaface_weights(None)


def test_the_backend_is_pytorch_and_warnings_stay_on(home, monkeypatch):
    from retinaface.commons import backend_utils

    assert backend_utils.get_backend_engine() == "pytorch"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        retina.import_retinaface()
        warnings.warn("still heard", UserWarning)
    assert [str(w.message) for w in caught] == ["still heard"]
    monkeypatch.setenv("DEEPFACE_BACKEND_ENGINE", "tensorflow")
    with pytest.raises(ValueError, match=r"DEEPFACE_BACKEND_ENGINE is 'tensorflow': expected pytorch"):
        retina.import_retinaface()


def test_accuracy_with_the_real_weights():
    path = retina.expected_weights() if not os.environ.get("MADTN_RETINAFACE_WEIGHTS") else os.environ["MADTN_RETINAFACE_WEIGHTS"]
    if not os.path.isfile(path):
        pytest.skip(f"retinaface.pth not at {path} (set MADTN_RETINAFACE_WEIGHTS): accuracy check skipped")
    from skimage import data

    from test_detect import iou

    bgr = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    haar = make_detector("haar")(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY))
    faces = make_detector("retinaface", weights=str(path)).faces(bgr)
    assert len(faces) == 1 and faces[0].score > 0.9 and iou(faces[0].box, haar) > 0.6
