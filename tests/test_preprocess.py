"""Motion-attention preprocessing: flow to gray, maps, apexes, detector fallback, cache."""

from __future__ import annotations

import colorsys
import warnings

import cv2
import numpy as np
import pytest

from madtn_utils.preprocess.domain import apply_components
from madtn_utils.preprocess.flow import FlowParams, compute_flow, flow_to_gray
from madtn_utils.data.types import IndexWarning
from madtn_utils.data.index import build_index
from madtn_utils.preprocess.maps import choose_apexes, train_apexes
from madtn_utils.preprocess.cache import PrepareWarning, prepare_database
from madtn_utils.preprocess.sample import FrameError, PreprocessConfig, SampleWorker


def _reference_gray(flow: np.ndarray) -> np.ndarray:
    """Flow to gray by the letter of METHOD.md §2 step 4, pixel by pixel with colorsys."""
    u, v = flow[..., 0].astype(np.float64), flow[..., 1].astype(np.float64)
    r = np.hypot(u, v)
    theta = np.degrees(np.arctan2(v, u)) % 360.0
    s = (r - r.min()) / (r.max() - r.min())
    out = np.empty(r.shape)
    for idx in np.ndindex(r.shape):
        R, G, B = colorsys.hsv_to_rgb(theta[idx] / 360.0, s[idx], 1.0)
        out[idx] = 0.299 * R + 0.587 * G + 0.114 * B
    return np.rint(out * 255)


def test_flow_to_gray_matches_independent_computation():
    rng = np.random.default_rng(0)
    flow = np.zeros((12, 16, 2), np.float32)
    # a patch translating in each of several directions with several magnitudes
    for k, (deg, mag) in enumerate([(0, 2.0), (90, 1.0), (180, 2.0), (270, 0.5), (45, 1.5), (300, 3.0)]):
        flow[k, :, 0] = mag * np.cos(np.radians(deg))
        flow[k, :, 1] = mag * np.sin(np.radians(deg))
    flow[6:] = rng.normal(size=(6, 16, 2))
    got = flow_to_gray(flow).astype(int)
    assert np.abs(got - _reference_gray(flow)).max() <= 1
    # direction gives hue: full-magnitude rightward (red) vs leftward (cyan) at S = 1 (row 0 vs 2 have equal r)
    pure = np.zeros((1, 3, 2), np.float32)
    pure[0, 1] = (3, 0)  # right: hue 0 (red)
    pure[0, 2] = (-3, 0)  # left: hue 180 (cyan)
    assert flow_to_gray(pure).tolist() == [[255, round(0.299 * 255), round((0.587 + 0.114) * 255)]]


def test_farneback_recovers_a_known_translation():
    rng = np.random.default_rng(1)
    img = cv2.GaussianBlur((rng.random((96, 96)) * 255).astype(np.uint8), (7, 7), 2)
    shifted = np.roll(img, 2, axis=1)  # content moves 2 px to the right
    for method in ("farneback", "tvl1", "dis"):
        flow = compute_flow(img, shifted, FlowParams(method=method))
        centre = flow[24:72, 24:72]
        assert np.median(centre[..., 0]) == pytest.approx(2.0, abs=0.3), method
        assert abs(np.median(centre[..., 1])) < 0.3, method


def test_apex_choice():
    assert choose_apexes(70) == (34, list(range(28, 42)), False)
    assert choose_apexes(8)[1] == [3, 4]
    assert choose_apexes(70, mode="annotated", annotated_index=None)[2] is True
    assert choose_apexes(70, mode="annotated", annotated_index=10)[:2] == (10, list(range(4, 18)))
    assert all(1 <= i <= 3 for i in train_apexes(5, fraction=1.0))
    with pytest.raises(ValueError, match="apex: expected 'middle', 'annotated' or 'onset'"):
        choose_apexes(10, mode="peak")


def test_ablation_zeroing():
    maps = np.arange(2 * 3 * 4 * 4, dtype=np.uint8).reshape(2, 3, 4, 4) + 1
    for name, keep in {"Face": (0, 1, 0), "onOF-Face": (1, 1, 0), "onOF-endOF": (1, 0, 1),
                       "onOF-Face-endOF": (1, 1, 1)}.items():
        out = apply_components(maps, name)
        for c in range(3):
            assert (out[:, c] == (maps[:, c] if keep[c] else 0)).all(), (name, c)
    with pytest.raises(ValueError, match="components: expected one of"):
        apply_components(maps, "Face-only")


def _row(tree, sample_id):
    idx = build_index("smic-hs", tree)
    row = idx.samples.set_index("sample_id").loc[sample_id]
    return {"sample_id": sample_id, "subject": row.subject, "label": row.label, "frames": list(row.frames),
            "n_frames": int(row.n_frames), "apex": None}


def test_sample_maps_and_face_box(face_tree):
    row = _row(face_tree, "s1/s1_po_01")
    out = SampleWorker(PreprocessConfig())(row)
    assert out["train"].shape == (2, 3, 112, 112) and out["train"].dtype == np.uint8  # 10 frames: apexes 4, 5
    assert out["test"].shape == (3, 112, 112)
    assert (out["test"] == out["train"][0]).all()  # the middle frame is the first training apex
    man = out["manifest"]
    assert man["fallback"] is False and man["face_w"] > 60 and man["test_apex_frame"] == 4
    assert out["test"][0].std() > 0 and out["test"][2].std() > 0  # motion present in both flow channels


def test_apex_equal_to_onset_gives_zero_channel(face_tree):
    row = _row(face_tree, "s1/s1_po_01")
    row["apex"] = 0  # the onset frame's number: annotated apex == onset
    out = SampleWorker(PreprocessConfig(apex="annotated"))(row)
    assert out["manifest"]["test_apex_frame"] == 0
    assert not out["test"][0].any()  # onset->apex flow: zero motion -> all-zero channel
    assert out["test"][2].any() and out["test"][1].any()


def test_faceless_clip_falls_back_to_centre_crop(face_tree):
    row = _row(face_tree, "s1/s1_sur_01")  # frames without a face
    out = SampleWorker(PreprocessConfig())(row)
    man = out["manifest"]
    assert man["fallback"] is True
    h, w = cv2.imread(row["frames"][0]).shape[:2]
    side = round(0.8 * min(h, w))
    assert (man["face_x"], man["face_y"], man["face_w"], man["face_h"]) == ((w - side) // 2, (h - side) // 2, side, side)


def test_corrupt_and_missing_frames(face_tree, tmp_path):
    row = _row(face_tree, "s1/s1_po_01")
    bad = tmp_path / "image5.jpg"
    bad.write_bytes(b"\xff\xd8 truncated jpeg")
    row_corrupt = dict(row, frames=row["frames"][:4] + [str(bad)] + row["frames"][5:])
    with pytest.raises(FrameError, match=r"image5\.jpg' could not be decoded"):
        SampleWorker(PreprocessConfig())(row_corrupt)
    row_missing = dict(row, frames=row["frames"][:9] + [str(tmp_path / "image9.jpg")])
    with pytest.raises(FrameError, match=r"image9\.jpg' is missing"):
        SampleWorker(PreprocessConfig())(row_missing)
    skipped = SampleWorker(PreprocessConfig(on_error="skip"))(row_missing)
    assert "missing" in skipped["error"] and "train" not in skipped


def test_cache_hit_miss_and_fallback_count(face_tree, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IndexWarning)
        idx = build_index("smic-hs", face_tree)
    cache = tmp_path / "cache"
    with pytest.warns(PrepareWarning, match="centre crop used"):
        data, manifest, info = prepare_database(idx, PreprocessConfig(), cache_dir=cache, jobs=2)
    assert not info["cache_hit"] and info["fallback"] == 1 and info["samples"] == len(idx.samples) == 3
    assert data.test_maps.shape == (3, 3, 112, 112)
    assert len(data.train_maps) == sum(len(train_apexes(n)) for n in idx.samples.n_frames)
    assert list(data.sample_ids) == list(idx.samples.sample_id)
    with pytest.warns(PrepareWarning):
        again, _, info2 = prepare_database(idx, PreprocessConfig(), cache_dir=cache, jobs=1)
    assert info2["cache_hit"] and info2["folder"] == info["folder"]
    assert (again.train_maps == data.train_maps).all()
    # the serial and the parallel path give identical maps; a new parameter misses the cache
    with pytest.warns(PrepareWarning):
        other, _, info3 = prepare_database(idx, PreprocessConfig(flow=FlowParams(winsize=9)), cache_dir=cache, jobs=1)
    assert not info3["cache_hit"] and info3["folder"] != info["folder"]
    assert not (other.train_maps == data.train_maps).all()
    # a changed frame misses the cache
    first = idx.samples.frames[0][0]
    img = cv2.imread(first)
    cv2.imwrite(first, np.clip(img.astype(int) + 3, 0, 255).astype(np.uint8))
    with pytest.warns(PrepareWarning):
        _, _, info4 = prepare_database(idx, PreprocessConfig(), cache_dir=cache, jobs=1)
    assert not info4["cache_hit"]
    assert sorted(p.name.startswith(".tmp") for p in cache.iterdir()) == [False] * 3
