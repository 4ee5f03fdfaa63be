"""LBP-TOP features: against scikit-image's LBP, their shape and normalisation, and the cached
features of a whole database (order equal to the preprocessing's DomainData)."""

from __future__ import annotations

import warnings

import cv2
import numpy as np
import pytest
from skimage.feature import local_binary_pattern

import madtn_utils.baselines.features as features_mod
from madtn_utils.baselines.features import FeatureWarning, database_features, face_clip
from madtn_utils.baselines.lbptop import LbpTopConfig, feature_dim, lbptop, n_bins, resample
from madtn_utils.data.index import build_index
from madtn_utils.data.types import IndexWarning
from madtn_utils.preprocess.cache import PrepareWarning, prepare_database
from madtn_utils.preprocess.domain import CLASSES
from madtn_utils.preprocess.sample import FrameError, PreprocessConfig


def _reference(clip: np.ndarray, config: LbpTopConfig) -> np.ndarray:
    """LBP-TOP from skimage's nri_uniform codes per frame (XY) and per row/column slice (XT/YT),
    then block histograms by explicit loops over blocks."""
    P, R = config.points, config.radius
    T, H, W = clip.shape
    xy = np.stack([local_binary_pattern(clip[t], P, R, "nri_uniform") for t in range(T)])
    xt = np.stack([local_binary_pattern(clip[:, y, :], P, R, "nri_uniform") for y in range(H)], axis=1)
    yt = np.stack([local_binary_pattern(clip[:, :, x], P, R, "nri_uniform") for x in range(W)], axis=2)
    out = []
    for n in config.grids:
        for i in range(n):
            for j in range(n):
                y0, y1 = max(i * H // n, R), min((i + 1) * H // n, H - R)
                x0, x1 = max(j * W // n, R), min((j + 1) * W // n, W - R)
                for codes in (xy, xt, yt):  # the planes in the order XY, XT, YT
                    block = codes[R:T - R, y0:y1, x0:x1].astype(np.int64).ravel()
                    hist = np.bincount(block, minlength=n_bins(P)).astype(np.float64)
                    out.append(hist / hist.sum())
    return np.concatenate(out)


@pytest.mark.parametrize("config", [
    LbpTopConfig(size=32, frames=9),  # R3P8 over 1, 2, 4, 8 as the benchmark, on a small clip
    LbpTopConfig(radius=1, points=4, grids=(1, 3), size=13, frames=None),  # blocks of 4, 4, 5 pixels
    LbpTopConfig(radius=2, points=12, grids=(2,), size=16, frames=None),
])
def test_features_equal_skimage_nri_uniform_per_plane(config):
    rng = np.random.default_rng(config.points)
    T = config.frames or 8
    clip = rng.integers(0, 256, (T, config.size, config.size), dtype=np.uint8)
    clip[:, : config.size // 2] //= 64  # few grey levels there: many ties (neighbour == centre)
    ours = lbptop(clip, config)
    assert ours.shape == (feature_dim(config),)
    np.testing.assert_array_equal(ours, _reference(clip, config))


def test_default_dimension_normalisation_and_determinism():
    config = LbpTopConfig()
    clip = np.random.default_rng(1).integers(0, 256, (10, 112, 112), dtype=np.uint8)
    before = clip.copy()
    f = lbptop(clip, config)
    assert f.shape == (15045,) == (feature_dim(config),) and f.dtype == np.float64
    hists = f.reshape(85, 3, 59)
    np.testing.assert_allclose(hists.sum(axis=2), 1.0, rtol=0, atol=1e-12)
    assert (clip == before).all()
    assert lbptop(clip, config).tobytes() == f.tobytes()


def test_constant_clip_puts_all_mass_in_the_all_ones_bin():
    f = lbptop(np.full((10, 112, 112), 77, np.uint8)).reshape(85, 3, 59)
    assert (f[..., 57] == 1).all() and f.sum() == 255  # every neighbour - centre = 0 >= 0: all bits 1


def test_planes_and_axes_on_a_ramp():
    """A ramp along x, constant in y and t: XY and XT see bits 6, 7, 0, 1, 2 set (bin 35), YT nothing (57)."""
    config = LbpTopConfig(size=32, frames=9)
    clip = np.broadcast_to(np.arange(32, dtype=np.uint8) * 5, (9, 32, 32)).copy()
    f = lbptop(clip, config).reshape(85, 3, 59)
    assert (f[:, 0, 35] == 1).all() and (f[:, 1, 35] == 1).all() and (f[:, 2, 57] == 1).all()


def test_clip_and_config_errors_name_what_was_expected():
    with pytest.raises(ValueError, match=r"clip: expected \(10, 112, 112\) .* got shape \(9, 112, 112\)"):
        lbptop(np.zeros((9, 112, 112), np.uint8))
    with pytest.raises(ValueError, match=r"clip: expected \(T >= 2 \* radius \+ 1 = 7, 32, 32\).*got shape \(6, 32, 32\)"):
        lbptop(np.zeros((6, 32, 32), np.uint8), LbpTopConfig(size=32, frames=None))
    with pytest.raises(ValueError, match=r"clip: expected \(10, 112, 112\).*got shape \(10, 100, 112\)"):
        lbptop(np.zeros((10, 100, 112), np.uint8))
    with pytest.raises(ValueError, match="clip: expected a uint8 gray clip"):
        lbptop(np.zeros((10, 112, 112), np.float32))
    for kwargs, message in [({"radius": 0}, "lbptop.radius: expected an integer >= 1, got 0"),
                            ({"points": 3}, "lbptop.points: expected an integer in 4..16, got 3"),
                            ({"grids": ()}, "lbptop.grids: expected one or more integers >= 1"),
                            ({"size": 31}, r"lbptop.size: expected at least \(radius \+ 1\) \* max\(grids\) = 32"),
                            ({"frames": 6}, r"lbptop.frames: expected None or at least 2 \* radius \+ 1 = 7, got 6")]:
        with pytest.raises(ValueError, match=message):
            LbpTopConfig(**kwargs)


def test_resample_is_linear_in_time_and_keeps_the_ends():
    clip = np.stack([np.full((2, 3), v, np.uint8) for v in (0, 100, 200)])
    out = resample(clip, 5)
    assert out.shape == (5, 2, 3) and out[:, 0, 0].tolist() == [0, 50, 100, 150, 200]
    assert resample(clip, None) is clip and resample(clip, 3) is clip
    assert resample(clip[:1], 4)[:, 0, 0].tolist() == [0, 0, 0, 0]


# --- a whole database ----------------------------------------------------------------------------


def _prepared(tree, cache, **config):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IndexWarning)
        warnings.filterwarnings("ignore", ".*no face found", PrepareWarning)
        warnings.filterwarnings("ignore", ".*left out for unreadable frames", PrepareWarning)
        idx = build_index("smic-hs", tree)
        data, manifest, _ = prepare_database(idx, PreprocessConfig(**config), cache_dir=cache, jobs=1)
    return idx, data, manifest


def test_database_features_order_cache_hit_and_miss(face_tree, tmp_path, monkeypatch):
    idx, data, manifest = _prepared(face_tree, tmp_path / "maps")
    cache = tmp_path / "features"
    fs = database_features(idx, manifest, LbpTopConfig(), cache_dir=cache, jobs=2)
    assert fs.X.shape == (3, 15045) and fs.X.dtype == np.float32
    assert fs.sample_ids == data.sample_ids and fs.labels.tolist() == data.labels.tolist()
    assert [CLASSES[i] for i in fs.labels] == list(idx.samples.set_index("sample_id").loc[list(fs.sample_ids), "label"])
    # the features are those of the manifest's face box, crop by crop (the faceless clip: its centre box)
    row = manifest.iloc[2]
    box = tuple(int(row[k]) for k in ("face_x", "face_y", "face_w", "face_h"))
    frames = idx.samples.set_index("sample_id").loc[row["sample_id"], "frames"]
    np.testing.assert_array_equal(fs.X[2], lbptop(face_clip(frames, box, LbpTopConfig())).astype(np.float32))
    # a second call reads the entry (no computing) and gives identical bytes; serial == parallel
    entry = next(cache.glob("lbptop-smic-hs-*"))
    npz = (entry / "maps.npz").read_bytes()

    def no_compute(*args, **kwargs):
        raise AssertionError("a cache hit must not compute")

    with monkeypatch.context() as m:
        m.setattr(features_mod, "_compute", no_compute)
        again = database_features(idx, manifest, LbpTopConfig(), cache_dir=cache)
    assert again.X.tobytes() == fs.X.tobytes() and again.sample_ids == fs.sample_ids
    assert (entry / "maps.npz").read_bytes() == npz
    serial = database_features(idx, manifest, LbpTopConfig(), cache_dir=tmp_path / "serial", jobs=1)
    assert serial.X.tobytes() == fs.X.tobytes()
    # a changed config misses: a new entry, other features
    other = database_features(idx, manifest, LbpTopConfig(radius=2), cache_dir=cache)
    assert len(list(cache.glob("lbptop-smic-hs-*"))) == 2 and not np.array_equal(other.X, fs.X)
    # a changed frame misses too
    first = idx.samples.frames[0][3]
    cv2.imwrite(first, np.clip(cv2.imread(first).astype(int) + 9, 0, 255).astype(np.uint8))
    database_features(idx, manifest, LbpTopConfig(), cache_dir=cache)
    assert len(list(cache.glob("lbptop-smic-hs-*"))) == 3


def test_rows_with_errors_are_left_out_like_domain_data(face_tree, tmp_path):
    apex = face_tree / "HS" / "s1" / "micro" / "positive" / "s1_po_01" / "image4.jpg"
    apex.write_bytes(apex.read_bytes()[: apex.stat().st_size // 2])
    idx, data, manifest = _prepared(face_tree, tmp_path / "maps", on_error="skip")
    assert len(manifest) == 3 and len(data) == 2
    fs = database_features(idx, manifest, LbpTopConfig(), cache_dir=tmp_path / "features")
    assert fs.sample_ids == data.sample_ids and "s1/s1_po_01" not in fs.sample_ids
    assert fs.labels.tolist() == data.labels.tolist()


def test_unreadable_frame_and_corrupt_entry(face_tree, tmp_path):
    idx, data, manifest = _prepared(face_tree, tmp_path / "maps")
    cache = tmp_path / "features"
    database_features(idx, manifest, LbpTopConfig(), cache_dir=cache)
    entry = next(cache.glob("lbptop-smic-hs-*"))
    (entry / "maps.npz").write_bytes(b"PK\x03\x04 cut short")
    with pytest.warns(FeatureWarning, match="unreadable .* moved aside to .*corrupt-.*recomputing"):
        fs = database_features(idx, manifest, LbpTopConfig(), cache_dir=cache)
    assert fs.X.shape == (3, 15045) and len(list(cache.glob("*.corrupt-*"))) == 1
    # a middle frame (never read by the maps) cut short: an error naming the sample and the file
    middle = idx.samples.set_index("sample_id").loc["s1/s1_ne_01", "frames"][5]
    with open(middle, "r+b") as fh:
        fh.truncate(100)
    with pytest.raises(FrameError, match=r"s1/s1_ne_01: frame .*image5\.jpg' could not be decoded: truncated JPEG"):
        database_features(idx, manifest, LbpTopConfig(frames=12), cache_dir=cache)
    with pytest.raises(ValueError, match="jobs: expected an integer >= 1, got 0"):
        database_features(idx, manifest, cache_dir=cache, jobs=0)
