"""The real-data source (the MEGC 2019 composite set), the real-data study's grid, LOSO and the paired statistics."""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from madtn_utils.data.composite import COMPOSITE_CSV, FACE_DIR, FLOW_DIR, index_composite, read_flow
from madtn_utils.data.types import IndexWarning
from madtn_utils.preprocess.composite import composite_domain
from madtn_utils.suite.paired import paired_difference, paired_table, verdict
from madtn_utils.suite.params import params_from_dict
from madtn_utils.train.tasks import composite_tasks

SHARED = Path(__file__).resolve().parents[2] / "shared" / "real" / "megc2019-composite"
needs_shared = pytest.mark.skipif(not (SHARED / COMPOSITE_CSV).is_file(),
                                  reason=f"the shared real data is not here ({SHARED})")


def _write_composite(root: Path, rows, *, with_files) -> Path:
    """A composite distribution: the CSV of ``rows`` (dataset, sub, filename_o, label) and a flow PNG (and face JPEG)
    for each row whose dataset is in ``with_files``; the flow's R = 10 + row, G = 100, B = 200 (RGB)."""
    (root / FLOW_DIR).mkdir(parents=True)
    (root / FACE_DIR).mkdir(parents=True)
    lines = ["dataset,sub,filename_o,label,apex,imagename,sub_filename"]
    for i, (ds, sub, name, label) in enumerate(rows):
        image = f"{sub}_{name}.jpg"
        lines.append(f"{ds},{sub},{name},{label},,{image},")
        if ds in with_files:
            rgb = np.zeros((28, 28, 3), np.uint8)
            rgb[..., 0], rgb[..., 1], rgb[..., 2] = 10 + i, 100, 200
            cv2.imwrite(str(root / FLOW_DIR / f"{sub}_{name} .png"), rgb[..., ::-1])  # cv2 writes BGR
            cv2.imwrite(str(root / FACE_DIR / image), np.full((32, 32, 3), 128, np.uint8))
    (root / COMPOSITE_CSV).write_text("\n".join(lines) + "\n")
    return root


def _rows(ds, subjects, per_subject):
    return [(ds, sub, f"{sub}_{k}", k % 3) for sub in subjects for k in range(per_subject)]


@needs_shared
def test_shared_composite_counts_and_missing_samm():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        idx = index_composite(SHARED)
    assert idx.present == ("casme2", "smic-hs") and idx.absent == ("samm",)
    c, h = idx.database("casme2"), idx.database("smic-hs")
    assert (len(c.samples), len(h.samples)) == (145, 164)
    assert [c.counts()[k] for k in ("negative", "positive", "surprise")] == [88, 32, 25]
    assert [h.counts()[k] for k in ("negative", "positive", "surprise")] == [70, 51, 43]
    assert (idx.manifest["database"] == "samm").sum() == 133 and set(idx.manifest["kind"]) == {"missing_files"}
    assert sum("samm" in str(w.message) and "absent" in str(w.message) for w in caught) == 1
    with pytest.raises(ValueError, match="'samm' has no files there"):
        idx.database("samm")
    summary = idx.summary()
    assert summary["databases"]["casme2"]["subjects"] == 24 and summary["absent"] == ["samm"]


@needs_shared
def test_shared_flow_channels_are_rgb_and_match_the_files():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IndexWarning)
        idx = index_composite(SHARED).database("smic-hs")
    data = composite_domain(idx, 28)
    path = idx.samples["flow"].iloc[5]
    bgr = cv2.imread(path)
    assert data.test_maps.shape == (164, 3, 28, 28) and data.train_maps is data.test_maps
    np.testing.assert_array_equal(data.test_maps[5], bgr[..., ::-1].transpose(2, 0, 1))  # R = u first
    assert data.labels.tolist().count(1) == 70  # negative is class index 1 in (positive, negative, surprise)
    assert composite_domain(idx, 112).test_maps.shape == (164, 3, 112, 112)


def test_written_composite_with_samm_gives_s_tasks(tmp_path):
    rows = _rows("casme2", ["sub01", "sub02"], 3) + _rows("smic", ["s01", "s02"], 3) + _rows("samm", ["006", "007"], 3)
    root = _write_composite(tmp_path / "mc", rows, with_files={"casme2", "smic", "samm"})
    (root / FLOW_DIR / "sub02_sub02_1 .png").unlink()  # one CASME II row without its file
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        idx = index_composite(root)
    assert idx.present == ("casme2", "smic-hs", "samm") and idx.absent == ()
    assert len(idx.database("casme2").samples) == 5 and idx.manifest["sample"].tolist() == ["sub02_1"]
    assert [str(w.message) for w in caught if issubclass(w.category, IndexWarning)] == \
        ["casme2: 1 sample(s) missing files (dropped): sub02/sub02_1"]
    samm = idx.database("samm")
    assert samm.samples["subject"].tolist() == ["006"] * 3 + ["007"] * 3  # text, not the number 6
    assert composite_tasks(idx.present) == ("C->H", "C->S", "H->C", "H->S", "S->C", "S->H")
    data = composite_domain(samm, 28)
    i = rows.index(("samm", "006", "006_0", 0))
    assert data.test_maps[0, :, 0, 0].tolist() == [10 + i, 100, 200]  # R, G, B as written
    assert data.labels.tolist()[:3] == [1, 0, 2]  # codes 0/1/2 = negative/positive/surprise -> our class order


@pytest.mark.parametrize("change, message", [
    (lambda t: t.replace("label\n", "lbl\n", 1).replace(",label,", ",lbl,"), "missing label"),
    (lambda t: t.replace("casme2,sub01,sub01_0,0", "casme2,sub01,sub01_0,7"), "label: expected 0, 1 or 2, got '7'"),
    (lambda t: t.replace("casme2,sub01,sub01_0", "mmew,sub01,sub01_0"), "column dataset: expected casme2, smic, samm"),
])
def test_bad_composite_csv_names_the_file(tmp_path, change, message):
    root = _write_composite(tmp_path / "mc", _rows("casme2", ["sub01"], 3), with_files={"casme2"})
    csv = root / COMPOSITE_CSV
    csv.write_text(change(csv.read_text()))
    with pytest.raises(ValueError, match=message) as err:
        index_composite(root)
    assert str(csv) in str(err.value)


def test_missing_root_and_unreadable_flow(tmp_path):
    with pytest.raises(ValueError, match="expected the composite distribution's folder"):
        index_composite(tmp_path / "nowhere")
    bad = tmp_path / "x .png"
    bad.write_bytes(b"not a png")
    with pytest.raises(ValueError, match="could not decode"):
        read_flow(bad)


def _real_params(root: Path, tmp_path: Path, **experiments):
    return params_from_dict({
        "name": "r", "seeds": [0, 1], "output_dir": str(tmp_path / "out"), "cache_dir": str(tmp_path / "cache"),
        "data": {"synthetic": None, "source": "composite", "composite": {"root": str(root)}},
        "train": {"epochs": 1, "widths": [4, 8, 8], "fc_dim": 16, "batch_size": 8, "device": "cpu"},
        "experiments": {"real_lambdas": [0.0, 2.0], **experiments}})


def test_real_grid_tasks_and_absent_database(tmp_path):
    from madtn_utils.suite.grid import REAL_VARIANTS, grid_for, real_specs

    rows = _rows("casme2", ["sub01", "sub02"], 3) + _rows("smic", ["s01", "s02"], 3) + _rows("samm", ["006"], 3)
    root = _write_composite(tmp_path / "mc", rows, with_files={"casme2", "smic"})
    p = _real_params(root, tmp_path)
    specs = real_specs(p)
    assert sorted({s.task for s in specs}) == ["C->H", "H->C"]
    assert len(specs) == 2 * (2 + len(REAL_VARIANTS) - 1)  # λ = 0, λ = 2 (= the paper kernel), the other variants
    assert all(dict(s.overrides)["data.source"] == "composite" for s in specs)
    assert grid_for(p, ("real",)) == specs
    with pytest.raises(ValueError, match=r"experiments.real_tasks\[0\]: S->C needs samm, which has no flow files"):
        real_specs(_real_params(root, tmp_path, real_tasks=["S->C"]))
    with pytest.raises(ValueError, match="data.composite is null"):
        grid_for(dataclasses.replace(p, data=dataclasses.replace(p.data, composite=None, source="databases")), ("real",))


def test_params_validation_of_composite_keys(tmp_path):
    with pytest.raises(ValueError, match=r"params.experiments.tasks\[0\]: expected one of the benchmark's tasks"):
        params_from_dict({"experiments": {"tasks": ["C->S"]}})
    with pytest.raises(ValueError, match=r"params.experiments.real_tasks\[0\]: expected a task of the composite set"):
        params_from_dict({"experiments": {"real_tasks": ["V->N"]}})
    with pytest.raises(ValueError, match="params.data.source: 'composite' needs data.composite"):
        params_from_dict({"data": {"source": "composite"}})
    with pytest.raises(ValueError, match=r"params.data.composite.map_size: expected an integer in 8..512, got 4"):
        params_from_dict({"data": {"composite": {"root": "x", "map_size": 4}}})


def test_run_hash_ignores_an_unused_composite_and_separates_real_runs(tmp_path):
    from madtn_utils.suite.spec import RunSpec, run_hash

    plain = params_from_dict({})
    with_composite = params_from_dict({"data": {"composite": {"root": str(tmp_path)}}})
    spec = RunSpec("C->H", 2.0)
    assert run_hash(plain, spec) == run_hash(with_composite, spec)  # synthetic runs keep the hashes they had
    real = RunSpec("C->H", 2.0, overrides={"data.source": "composite"})
    assert run_hash(with_composite, real) != run_hash(with_composite, spec)
    bigger = params_from_dict({"data": {"composite": {"root": str(tmp_path), "map_size": 112}}})
    assert run_hash(bigger, real) != run_hash(with_composite, real)


@needs_shared
def test_one_epoch_real_training_smoke(tmp_path):
    from madtn_utils.suite.params import load_domain
    from madtn_utils.train.loop import train_task

    p = _real_params(SHARED, tmp_path)
    src, _, info = load_domain(p, "casme2")
    tgt, _, _ = load_domain(p, "smic-hs")
    assert info["source"] == "composite"
    r = train_task(src, tgt, p.train, seed=0)
    assert len(r.predictions) == 164 and r.predictions["sample_id"].is_unique and len(r.history) == 1
    assert np.isfinite(r.history.drop(columns="epoch").to_numpy()).all()
    assert np.allclose(r.predictions[["p_positive", "p_negative", "p_surprise"]].sum(axis=1), 1.0)
    again = train_task(src, tgt, p.train, seed=0)
    pd.testing.assert_frame_equal(r.predictions, again.predictions)


def test_zero_input_control_sees_constant_inputs(tmp_path):
    from madtn_utils.preprocess.domain import DomainData
    from madtn_utils.train.hparams import TrainConfig
    from madtn_utils.train.loop import train_task

    rng = np.random.default_rng(0)
    m = rng.integers(0, 255, (12, 3, 16, 16), dtype=np.uint8)
    src = DomainData("casme2", m, np.arange(12), m, np.arange(12) % 3, tuple(map(str, range(12))), ("a",) * 12)
    tgt = DomainData("smic-hs", m[::-1].copy(), np.arange(12), m[::-1].copy(), np.arange(12) % 3,
                     tuple(map(str, range(12))), ("b",) * 12)
    r = train_task(src, tgt, TrainConfig(control="zero_input", epochs=1, widths=(4, 4, 4), fc_dim=8, batch_size=6,
                                         device="cpu"), seed=0)
    probs = r.predictions[["p_positive", "p_negative", "p_surprise"]].to_numpy()
    assert np.allclose(probs, probs[0])  # every target sample looks the same to the network


def test_loso_holds_each_subject_out_once():
    from madtn_utils.preprocess.domain import DomainData
    from madtn_utils.train.hparams import TrainConfig
    from madtn_utils.train.loso import loso_seed

    rng = np.random.default_rng(1)
    m = rng.integers(0, 255, (9, 3, 16, 16), dtype=np.uint8)
    subjects = ("s1", "s1", "s2", "s2", "s2", "s10", "s3", "s3", "s3")
    d = DomainData("casme2", m, np.arange(9), m, np.arange(9) % 3, tuple(f"x{i}" for i in range(9)), subjects)
    cfg = TrainConfig(lam=0.0, epochs=1, widths=(4, 4, 4), fc_dim=8, batch_size=4, device="cpu")
    metrics, preds = loso_seed(d, cfg, 0)
    assert sorted(preds["sample_id"]) == sorted(d.sample_ids) and preds["fold"].tolist() == \
        ["s1", "s1", "s2", "s2", "s2", "s3", "s3", "s3", "s10"]
    assert metrics["accuracy"] == pytest.approx((preds["label"] == preds["pred"]).mean())
    with pytest.raises(ValueError, match="expected λ = 0 and no control"):
        loso_seed(d, dataclasses.replace(cfg, lam=2.0), 0)


def test_paired_difference_against_scipy_and_bootstrap():
    from scipy import stats

    rng = np.random.default_rng(3)
    a, b = rng.normal(0.6, 0.05, 10), rng.normal(0.55, 0.05, 10)
    r = paired_difference(a, b)
    ci = stats.ttest_rel(a, b).confidence_interval()
    assert (r["t_low"], r["t_high"]) == pytest.approx((ci.low, ci.high))
    assert r["above"] + r["below"] + r["equal"] == 10 and r["above"] == int((a > b).sum())
    boot = np.quantile(np.mean((a - b)[np.random.default_rng(0).integers(0, 10, (10_000, 10))], 1), [0.025, 0.975])
    assert (r["boot_low"], r["boot_high"]) == pytest.approx(tuple(boot))
    assert paired_difference(a, b) == r  # seeded: the same numbers every time
    assert verdict(paired_difference([0.5, 0.6], [0.5, 0.6])) == "no clear difference"
    assert verdict(paired_difference([0.5], [0.4])) == "one seed"
    with pytest.raises(ValueError, match="equal-length"):
        paired_difference([1, 2], [1])


def test_paired_table_pairs_by_seed():
    values = pd.DataFrame({"task": ["C->H"] * 5, "variant": ["ref", "ref", "ref", "x", "x"], "seed": [0, 1, 2, 2, 0],
                           "accuracy": [0.5, 0.6, 0.7, 0.9, 0.6]})
    t = paired_table(values, reference="ref").set_index("variant")
    assert t.loc["x", "paired_seeds"] == 2 and t.loc["x", "diff_mean"] == pytest.approx(((0.9 - 0.7) + (0.6 - 0.5)) / 2)
    with pytest.raises(ValueError, match="task C->H: expected runs of the reference 'nope'"):
        paired_table(values, reference="nope")


def test_madtn_index_composite_json(tmp_path, capsys):
    import json

    from madtn_utils.cli import main

    rows = _rows("casme2", ["sub01"], 3) + _rows("samm", ["006"], 2)
    root = _write_composite(tmp_path / "mc", rows, with_files={"casme2"})
    assert main(["index", "--composite", str(root), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["databases"]["casme2"]["total"] == 3 and out["absent"] == ["samm"] and len(out["warnings"]) == 2
    assert main(["index", "--composite", str(root), "--database", "casme2"]) == 2
    assert "--composite: expected it alone" in capsys.readouterr().err


def test_controls_separate_only_on_a_paired_interval():
    from madtn_utils.preprocess.domain import FULL
    from madtn_utils.suite.studies import controls_table

    def run(variant, accs, components=FULL, lam=2.0):
        return {"task": "C->H", "lam": lam, "components": components, "variant": variant,
                "accuracy_mean": float(np.mean(accs)), "accuracy_std": float(np.std(accs, ddof=1)),
                "seed_accuracy": dict(enumerate(accs)), "confusion": [[5, 0, 0], [0, 3, 0], [0, 0, 2]],
                "gap_mmd2_median_mean": 0.1, "gap_domain_clf_bacc_mean": 0.6, "seeds": len(accs)}

    full = [0.60, 0.62, 0.58, 0.61]
    runs = pd.DataFrame([run("", full), run("", [0.40, 0.41, 0.39, 0.40], lam=0.0),
                         run("control=permute_source_labels", [0.45, 0.44, 0.46, 0.45]),  # below on every seed
                         run("control=flip_mmd", [0.70, 0.50, 0.66, 0.52])])  # margin > 0 on average, not clearly
    t = controls_table(runs, tasks=["C->H"], lam=2.0).set_index("run")
    assert t.loc["(a) source labels permuted", "separates"] == "yes"
    assert t.loc["(a) source labels permuted", "margin_low"] > 0
    flip = t.loc["(c) MMD sign flipped"]
    assert flip["margin_vs_full"] == pytest.approx(np.mean(np.array(full) - [0.70, 0.50, 0.66, 0.52]))
    assert flip["separates"] == "no" and flip["margin_low"] < 0 < flip["margin_high"]


@needs_shared
def test_reproduce_only_real_and_alignment_end_to_end(tmp_path):
    import yaml

    from madtn_utils.cli import main

    params = {"name": "r", "seeds": [0, 1], "jobs": 2, "output_dir": str(tmp_path / "out"),
              "cache_dir": str(tmp_path / "cache"),
              "data": {"synthetic": None, "source": "composite", "composite": {"root": str(SHARED)}},
              "train": {"epochs": 1, "widths": [4, 8, 8], "fc_dim": 16, "batch_size": 32, "device": "cpu"},
              "experiments": {"real_lambdas": [2.0], "real_variants": ["input zeroed"], "real_loso_seeds": 1}}
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(params, allow_unicode=True))
    assert main(["reproduce", "--params", str(path), "--only", "real,alignment"]) == 0
    root = tmp_path / "out" / "r"
    real = pd.read_csv(root / "tables" / "real_flow.csv")
    assert real["task"].tolist() == ["C→H"] * 6 + ["H→C"] * 6  # λ = 0, paper kernel, the three losses, input zeroed
    assert real["verdict"].iloc[0] == "reference (2 seeds)"
    assert set(real["verdict"].iloc[1:6]) <= {"higher", "lower", "no clear difference"}
    numbers = pd.read_csv(root / "tables" / "real_flow_numbers.csv")
    assert (numbers["paired_seeds"].dropna() == 2).all()
    loso = pd.read_csv(root / "tables" / "real_loso.csv")
    assert loso["database"].tolist() == ["casme2", "smic-hs"] and loso["subjects"].tolist() == [24, 16]
    align = pd.read_csv(root / "tables" / "alignment.csv")
    assert align["variant"].tolist()[:5] == ["λ = 0", "MMD (paper)", "CORAL", "DANN", "JMMD"]
    page = (root / "report.html").read_text()
    assert page.index("Real data: MADTN on the real optical flow") < page.index("<h2>Beyond the paper: other alignment")
    assert "<h2>Table 3" not in page and "so not shown: Table 3" in page  # not selected: one line, no heading
    assert "other alignment losses" in page
