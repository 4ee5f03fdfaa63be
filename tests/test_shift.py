"""The shift components of the synthetic databases (madtn_utils.data.shift): strengths
validated, shift 0 is the baseline, each component changes what it should, bytes per seed and shift."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from madtn_utils.data import faces, shift as shift_mod, synth, synth_write
from madtn_utils.data.frames import list_frames
from madtn_utils.data.render import render_clip
from madtn_utils.data.shift import COMPONENTS, NO_SHIFT, Shift, as_shift, shift_tag
from madtn_utils.data.shift_events import middle_course

ONLY = {c: Shift(**{k: float(k == c) for k in COMPONENTS}) for c in COMPONENTS}


def _hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _truth(root: Path) -> list[dict]:
    return json.loads((root / synth.TRUTH_NAME).read_text())["samples"]


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("shift")
    return {name: synth_write.write_synthetic(base / name, size="tiny", seed=0, jobs=1, shift=s)
            for name, s in (("none", NO_SHIFT), ("full", Shift(1, 1, 1, 1)))}


def _by_db(specs):
    out = {}
    for s in specs:
        out.setdefault(s.database, []).append(s)
    return out


# -- strengths ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("bad", [-0.1, 1.01, float("nan"), float("inf"), True, "1", None])
def test_strength_out_of_range_or_type_is_an_error(bad):
    with pytest.raises(ValueError, match=r"shift\.sampling: expected a strength in \[0, 1\]"):
        Shift(sampling=bad)


def test_unknown_component_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="unknown component 'blinks'"):
        as_shift({"blinks": 0.5})
    with pytest.raises(ValueError, match="unknown component"):
        synth_write.write_synthetic(tmp_path / "x", shift={"flicker": 1})
    assert not (tmp_path / "x").exists()
    from madtn_utils.suite.params import params_from_dict

    with pytest.raises(ValueError, match=r"params\.data\.shift: unknown key 'blinks'"):
        params_from_dict({"data": {"shift": {"blinks": 1}}})
    with pytest.raises(ValueError, match=r"params\.data\.shift\.spurious: expected a strength in \[0, 1\]"):
        params_from_dict({"data": {"shift": {"spurious": 2}}})
    p = params_from_dict({"data": {"shift": {"sampling": 0.5}}})
    assert p.data.shift == Shift(sampling=0.5) and Shift(sampling=0.5).as_dict()["spurious"] == 1.0


def test_each_shift_has_its_own_folder(tmp_path, monkeypatch):
    from madtn_utils.suite.params import database_root, params_from_dict

    calls = []
    monkeypatch.setattr(synth_write, "write_synthetic", lambda out, **kw: calls.append((Path(out), kw)) or out)
    roots = []
    for s in ({}, {"sampling": 0.0}, {"sampling": 0.0}, {"action_units": 0.5}):
        p = params_from_dict({"data": {"synthetic": "tiny", "synthetic_dir": str(tmp_path), "shift": s}, "jobs": 1})
        roots.append(database_root(p, "casme2"))
    assert roots[1] == roots[2] and len({roots[0], roots[1], roots[3]}) == 3
    assert calls[0][0].name == f"tiny-seed0-shift{shift_tag(Shift())}"
    assert calls[1][1]["shift"] == Shift(sampling=0.0)
    assert shift_tag({"sampling": 1}) == shift_tag(Shift()) != shift_tag(NO_SHIFT)


# -- shift 0: the baseline ---------------------------------------------------------------------------

def test_no_shift_is_the_plain_generator(monkeypatch):
    """At 0 nothing of the components' profiles reaches the data: events carry no series,
    AUs come from the shared mixture, the apex lies at 40-60 % and the movement fills the clip."""
    specs = synth.plan("small", 3, NO_SHIFT)
    common = {cls: {tuple(c) for c, _ in mix} for cls, mix in faces.CLASS_AUS.items()}
    for s in specs:
        ev = s.event
        assert (ev.course, ev.blink, ev.head, ev.flicker, ev.grain, ev.intensity) == ((), (), (), (), 0.0, 1.0)
        assert ev.aus in common[synth._LABEL.get(s.emotion) or s.emotion]
        if s.sample != "EP02_07":  # the annotated apex of the benchmark's extra clip is at 2/3
            assert 0.4 <= ev.frac <= 0.6 and ev.apex == round(ev.frac * (ev.n_frames - 1))
    monkeypatch.setattr(shift_mod, "AU_MIXTURES", {"casme2": {}, "smic": {}})
    for db in shift_mod.PROFILES.values():
        monkeypatch.setitem(db, "blink", 1.0)
    assert synth.plan("small", 3, NO_SHIFT) == specs


def test_layout_and_labels_do_not_depend_on_the_shift():
    key = lambda specs: [(s.database, s.folder, s.emotion, s.event.n_frames, s.first) for s in specs]  # noqa: E731
    base = key(synth.plan("paper", 0, NO_SHIFT))
    assert key(synth.plan("paper", 0, Shift())) == base == key(synth.plan("paper", 0, Shift(0.3, 0.6, 0.2, 0.9)))


# -- each component ----------------------------------------------------------------------------------

def _negative_aus(specs, database):
    return [set(s.event.aus) for s in specs if s.database == database and synth._LABEL.get(s.emotion, s.emotion) == "negative"]


def test_action_units_differ_by_database_only_when_on(written):
    for name, expect_differ in (("none", False), ("full", True)):
        truth = _truth(written[name])
        combos = {db: {t["aus"] for t in truth if t["database"] == db and t["label"] == "negative"} for db in ("casme2", "smic-hs")}
        allowed = {"+".join(c) for c, _ in faces.CLASS_AUS["negative"]}
        assert (not (combos["casme2"] | combos["smic-hs"]) <= allowed) == expect_differ, (name, combos)
    for strength, lo in ((0.0, None), (1.0, 0.8)):
        specs = synth.plan("paper", 0, Shift(action_units=strength))
        c, h = _negative_aus(specs, "casme2"), _negative_aus(specs, "smic-hs")
        disgust_c = np.mean([bool(a & {"9", "10"}) or a == {"4"} for a in c])
        sad_fear_h = np.mean([bool(a & {"15", "20"}) for a in h])
        if lo is None:  # the same mixture in both: AU4 and AU15 only
            assert all(a <= {"4", "15"} for a in c + h)
        else:  # CASME II negative mostly disgust, SMIC negative mostly sadness/fear-like
            assert disgust_c >= lo and sad_fear_h >= 0.7 and np.mean([bool(a & {"9", "10"}) for a in h]) < 0.35


def test_action_units_keep_the_class_learnable_within_a_database():
    specs = synth.plan("paper", 0, Shift(action_units=1.0))
    for db, group in _by_db(specs).items():
        per_class = {}
        for s in group:
            label = synth._LABEL.get(s.emotion, s.emotion)
            if label in ("positive", "negative", "surprise"):
                per_class.setdefault(label, set()).add(s.event.aus)
        classes = list(per_class)
        for i, a in enumerate(classes):
            for b in classes[i + 1:]:
                assert not per_class[a] & per_class[b], (db, a, b)


def test_blinks_and_head_motion_only_with_distractors(written):
    for name, on in (("none", False), ("full", True)):
        truth = _truth(written[name])
        assert any(t["blink_frames"] for t in truth) == on
        assert any(t["head_max"][0] > 0 for t in truth) == on
    specs = synth.plan("paper", 0, ONLY["distractors"])
    px = {db: np.mean([np.abs(np.asarray(s.event.head)[-1, :2]).max() * synth.CAMERAS[db].face_px if s.event.head else 0
                       for s in g]) for db, g in _by_db(specs).items()}
    blinks = {db: np.mean([bool(s.event.blink) for s in g]) for db, g in _by_db(specs).items()}
    assert px["smic-hs"] > 1.5 * px["casme2"] and blinks["smic-hs"] > blinks["casme2"] > 0
    half = synth.plan("paper", 0, Shift(0, 0.5, 0, 0))  # the same motion, half the amplitude
    for a, b in zip(specs, half):
        if a.event.head:
            assert np.allclose(np.asarray(b.event.head), 0.5 * np.asarray(a.event.head))


def test_a_blink_closes_the_eyes_in_the_frames():
    spec = next(s for s in synth.plan("small", 0, ONLY["distractors"]) if s.database == "casme2" and s.event.blink
                and max(s.event.blink) > 0.9)
    t = int(np.argmax(spec.event.blink))
    eye = {}
    for name, ev in (("blink", dataclasses.replace(spec.event, head=())), ("still", dataclasses.replace(spec.event, blink=(), head=()))):
        rng = np.random.default_rng(np.random.SeedSequence([0, 3, 0, spec.index]))
        frames, truth = render_clip(synth._subject(0, spec.identity), synth.CAMERAS["casme2"], ev, rng)
        x0, y0, x1, y1 = truth["regions"]["eye_l"]
        diff = cv2.absdiff(frames[t], frames[0 if t > ev.n_frames // 2 else -1])
        eye[name] = float(diff[y0:y1, x0:x1].mean())
    assert eye["blink"] > 2 * eye["still"] + 1, eye


def test_sampling_misses_the_peak_by_frame_rate():
    stats = {}
    for name, s in (("off", NO_SHIFT), ("on", ONLY["sampling"])):
        for db, group in _by_db(synth.plan("paper", 0, s)).items():
            stats[name, db] = np.mean([middle_course(x.event) for x in group])
    assert all(stats["off", db] > 0.9 for db in synth.DATABASES_ORDER)
    assert all(stats["on", db] < stats["off", db] for db in synth.DATABASES_ORDER)
    assert stats["on", "smic-vis"] < stats["on", "casme2"] and stats["on", "smic-hs"] < stats["on", "casme2"]


def test_frame_timing_in_the_truth(written):
    for t in _truth(written["full"]):
        assert t["fps"] == synth.CAMERAS[t["database"]].fps
        assert t["middle_time_ms"] == pytest.approx(1000 * ((t["n_frames"] - 1) // 2) / t["fps"], abs=0.06)
        frames = (t["peak_time_ms"] - t["middle_time_ms"]) * t["fps"] / 1000  # a whole number of frame periods
        assert abs(frames - round(frames)) < 0.02 and round(frames) == t["apex_index"] - (t["n_frames"] - 1) // 2


def test_spurious_flicker_noise_and_intensity(written):
    truth = {name: _truth(written[name]) for name in written}
    for t in truth["none"]:
        assert t["flicker_sd"] == 0 and t["grain"] == 0 and t["intensity"] == 1
    flick = {t["database"]: t["flicker_sd"] > 0 for t in truth["full"]}
    assert flick["smic-vis"] and not flick["casme2"] and not flick["smic-nir"]
    grain = {t["database"]: t["grain"] for t in truth["full"]}
    assert grain["smic-nir"] > grain["smic-hs"] > grain["casme2"] == 0
    assert min(t["intensity"] for t in truth["full"]) < 0.9

    def background_spread(name, database):  # flicker: the background's brightness moves from frame to frame
        out = []
        for t in truth[name]:
            if t["database"] == database and t["background_box"]:
                x0, y0, x1, y1 = t["background_box"]
                levels = [cv2.imread(str(p), cv2.IMREAD_GRAYSCALE)[y0:y1, x0:x1].mean() for p in list_frames(written[name] / t["folder"])]
                out.append(np.std(levels))
        return np.mean(out)

    assert background_spread("full", "smic-vis") > 2 * background_spread("none", "smic-vis")


# -- determinism -------------------------------------------------------------------------------------

@pytest.mark.timeout(300)
def test_bytes_identical_per_seed_and_shift(written, tmp_path):
    again = synth_write.write_synthetic(tmp_path / "again", size="tiny", seed=0, jobs=2, shift=Shift(1, 1, 1, 1))
    assert _hashes(again) == _hashes(written["full"])
    jpgs = lambda h: {k: v for k, v in h.items() if k.endswith(".jpg")}  # noqa: E731
    full, none = jpgs(_hashes(written["full"])), jpgs(_hashes(written["none"]))
    assert full.keys() == none.keys() and sum(full[k] != none[k] for k in full) > 0.9 * len(full)
