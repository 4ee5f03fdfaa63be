"""The baselines on real features (issue 17): the published LBP-TOP of SMIC-VIS and SMIC-NIR, read strictly;
every method above the target's majority rate on V->N and N->V, deterministically; failures recorded; the rows
in Table 3 and the report. Tests that need ``../shared/real`` skip with the reason where it is absent."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.io
import yaml

from madtn_utils.baselines import METHODS
from madtn_utils.baselines.config import BaselineParams, RealFeatures
from madtn_utils.baselines.features import FeatureSet
from madtn_utils.baselines.real import REAL_TASKS, load_real_features, load_real_pair
from madtn_utils.suite.baseline_runs import fit_methods, fit_real_task
from madtn_utils.suite.baseline_tables import failures_table, flow_table, madtn_rows, real_table
from madtn_utils.suite.baselines import baseline_long, baseline_tables, collect_baselines
from madtn_utils.suite.params import load_params
from madtn_utils.suite.tables import collect_runs, table_3_4, wide

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "real" / "zong-lbptop"
FILES = {"vis": REAL / "SMIC_VIS_Corpus_LBPTOP.mat", "nir": REAL / "SMIC_NIR_Corpus_LBPTOP.mat"}
needs_real = pytest.mark.skipif(not all(f.is_file() for f in FILES.values()),
                                reason=f"the published LBP-TOP features are not in {REAL} (../shared/real/zong-lbptop)")


def _mat(path: Path, camera: str, X, labels) -> Path:
    scipy.io.savemat(path, {f"SMIC_{camera}_micro_feature": X, f"SMIC_{camera}_micro_label": labels})
    return path


def test_bad_feature_files_give_one_line_errors(tmp_path):
    rng = np.random.default_rng(0)
    X, y = rng.random((12, 15045)), np.repeat([1, 2, 3], 4)[:, None].astype(np.uint8)
    good = load_real_features(_mat(tmp_path / "v.mat", "VIS", X, y), "vis")
    assert good.X.dtype == np.float64 and good.labels.tolist() == np.repeat([0, 1, 2], 4).tolist()
    cases = [
        (tmp_path / "none.mat", "vis", r"real_features.vis \(.*none.mat\): expected the file SMIC_VIS_Corpus_LBPTOP.mat, not found"),
        (_mat(tmp_path / "a.mat", "NIR", X, y), "vis", r"expected a variable 'SMIC_VIS_micro_feature' \(features\), found "
                                                       r"SMIC_NIR_micro_feature, SMIC_NIR_micro_label"),
        (_mat(tmp_path / "b.mat", "VIS", X[:, :100], y), "vis", r"expected SMIC_VIS_micro_feature of shape \(samples, 15045\)"),
        (_mat(tmp_path / "c.mat", "VIS", X, y[:10]), "vis", r"expected SMIC_VIS_micro_label with one label per feature row \(12 x 1\)"),
        (_mat(tmp_path / "d.mat", "VIS", np.where(np.arange(15045) == 7, np.nan, X), y), "vis",
         r"expected finite features, got 12 non-finite value\(s\) \(first at row 0, column 7\)"),
        (_mat(tmp_path / "e.mat", "VIS", X, y + 1), "vis", r"expected label codes 1, 2, 3, got also \[4.0\]"),
    ]
    for path, key, message in cases:
        with pytest.raises(ValueError, match=message) as err:
            load_real_features(path, key)
        assert "\n" not in str(err.value) and str(err.value).startswith(f"params.baselines.real_features.{key} (")
    nir = _mat(tmp_path / "n.mat", "NIR", X[:11], y[:11])
    with pytest.raises(ValueError, match=r"real_features.nir \(.*\): expected as many rows as vis \(12"):
        load_real_pair(RealFeatures(vis=str(tmp_path / "v.mat"), nir=str(nir)))
    flipped = _mat(tmp_path / "f.mat", "NIR", X, y[::-1])
    with pytest.raises(ValueError, match=r"expected the labels of vis row by row .* got 8 different \(first at row 0\)"):
        load_real_pair(RealFeatures(vis=str(tmp_path / "v.mat"), nir=str(flipped)))


def test_real_features_params_are_optional_strict_and_relative_to_the_params_file(tmp_path):
    def load(baselines):
        path = tmp_path / "p.yaml"
        path.write_text(yaml.safe_dump({"name": "x", "baselines": baselines}))
        return load_params(path)

    assert load({}).baselines.real_features is None and load({"real_features": None}).baselines.real_features is None
    got = load({"real_features": {"vis": "f/v.mat", "nir": "/abs/n.mat"}}).baselines.real_features
    assert got == RealFeatures(vis=str((tmp_path / "f" / "v.mat").resolve()), nir="/abs/n.mat")
    for value, message in [({"vis": "v.mat"}, r"params.baselines.real_features.nir: expected the path of "
                                                r"SMIC_NIR_Corpus_LBPTOP.mat, got null"),
                           ({"vis": 3, "nir": "n"}, r"params.baselines.real_features.vis: expected str or NoneType, got int 3"),
                           ({"vis": "v", "nir": "n", "sic": "s"}, r"params.baselines.real_features: unknown key 'sic'"),
                           ({"vis": " ", "nir": "n"}, r"params.baselines.real_features.vis: expected the path")]:
        with pytest.raises(ValueError, match=message):
            load({"real_features": value})
    for name in ("real.yaml", "synthetic_cpu.yaml"):  # both point at ../shared/real/zong-lbptop
        files = load_params(ROOT / "params" / name).baselines.real_features
        assert Path(files.vis) == FILES["vis"].resolve() and Path(files.nir) == FILES["nir"].resolve()
    assert load_params(ROOT / "params" / "smoke.yaml").baselines.real_features is None


def test_a_method_that_raises_is_recorded_as_failed_and_the_others_go_on():
    rng = np.random.default_rng(1)
    sets = [FeatureSet(database=d, X=rng.random((30, 50)), labels=np.arange(30) % 3, sample_ids=tuple(map(str, range(30))))
            for d in ("smic-vis", "smic-nir")]
    b = BaselineParams(methods=("SVM", "TKL"), hparams={"TKL": {"n_eig": 100}}, oracle=True,
                       grids={"SVM": {"C": [0.5]}, "TKL": {"n_eig": [5, 200]}})
    methods, oracle = fit_methods(b, *sets)
    assert methods["TKL"]["failed"] == "ValueError: n_eig: expected between 1 and n_t = 30 eigenvectors, got 100"
    assert "accuracy" not in methods["TKL"] and 0 <= methods["SVM"]["accuracy"] <= 1
    assert oracle["TKL"]["failed_settings"] == 2 and oracle["TKL"]["best"]["n_eig"] == 5  # the one setting that ran
    rows = pd.DataFrame([{"features": "real LBP-TOP", "task": "V->N", "method": m, "accuracy": r.get("accuracy", np.nan),
                          "mean_f1": r.get("mean_f1", np.nan), "failed": r.get("failed", ""),
                          "oracle_settings": oracle[m]["settings"], "oracle_failed": oracle[m]["failed_settings"],
                          "oracle_failure": oracle[m]["first_failure"], "oracle_accuracy": oracle[m]["accuracy"],
                          "oracle_mean_f1": oracle[m]["mean_f1"], "oracle_best": ""} for m, r in methods.items()])
    failed = failures_table(rows)
    assert failed[["method", "fit"]].values.tolist() == [["TKL", "label-free"], ["TKL", "oracle: 2 of 3 settings"]]
    assert list(baseline_long(rows, table=3, tasks=["V->N", "N->V"]).method) == ["SVM"]  # no cell for a failed fit


@needs_real
@pytest.mark.slow
def test_every_method_beats_the_majority_rate_on_real_features_and_refits_identically(tmp_path):
    path = tmp_path / "real.yaml"
    path.write_text(yaml.safe_dump({"name": "r", "output_dir": str(tmp_path), "baselines": {
        "real_features": {k: str(v) for k, v in FILES.items()}}}))
    params = load_params(path)
    pair = load_real_pair(params.baselines.real_features)
    for task, (s_key, t_key) in REAL_TASKS.items():
        majority = np.bincount(pair[t_key].labels).max() / len(pair[t_key].labels)  # 28/71
        first, again = fit_real_task(params, task, pair), fit_real_task(params, task, pair)
        assert first["label_codes"]["2"] == "code 3: surprise" and set(first["methods"]) == set(METHODS)
        for name, m in first["methods"].items():
            assert "failed" not in m, (task, name, m.get("failed"))
            assert m["accuracy"] > majority, (task, name, m["accuracy"], majority)
            assert m["predictions"] == again["methods"][name]["predictions"], (task, name)  # deterministic


@needs_real
@pytest.mark.slow
def test_reproduce_only_baselines_puts_the_real_rows_in_table_3_and_the_report(tmp_path, tmp_path_factory):
    from madtn_utils.cli import main

    shared = tmp_path_factory.mktemp("shared_real")
    data = {"name": "blr", "seeds": [0], "jobs": 1, "cache_dir": str(shared / "cache"), "output_dir": str(tmp_path / "out"),
            "data": {"synthetic": "tiny", "synthetic_seed": 0, "synthetic_dir": str(shared / "synthetic")},
            "preprocess": {"map_size": 32}, "experiments": {"tasks": ["H->V"]},
            "baselines": {"methods": ["SVM", "IW-SVM"], "oracle": True,
                          "grids": {"SVM": {"C": [0.1, 10.0]}, "IW-SVM": {"B": [0.05]}},
                          "real_features": {k: str(v) for k, v in FILES.items()}}}
    path = tmp_path / "blr.yaml"
    path.write_text(yaml.safe_dump(data))
    params = load_params(path)
    assert baseline_tables(params) == ("table3",)  # H->V and the real features: Table 3 only
    assert main(["reproduce", "--params", str(path), "--only", "baselines"]) == 0
    run = params.run_dir
    t3 = pd.read_csv(run / "tables" / "table3.csv")
    real = t3[t3.source == "ours, real LBP-TOP"]
    assert list(real.method) == ["SVM", "SVM", "IW-SVM", "IW-SVM"] and list(real.task) == ["V->N", "N->V"] * 2
    rows = list(wide(t3).index)
    assert rows.index("SVM [ours, real LBP-TOP]") == rows.index("SVM [ours]") + 1 == rows.index("SVM [paper]") + 2
    assert not (run / "tables" / "table4.csv").exists()
    table = pd.read_csv(run / "tables" / "baselines_real.csv")
    assert list(table.columns[:6]) == ["method", "task", "accuracy_label_free", "accuracy_oracle",
                                       "accuracy_oracle_minus_label_free", "accuracy_paper"]
    svm = table[(table.method == "SVM") & (table.task == "V->N")].iloc[0]
    assert svm.accuracy_paper == pytest.approx(0.6338) and svm.accuracy_oracle >= svm.accuracy_label_free
    failed = pd.read_csv(run / "tables" / "baselines_failed.csv")  # KMM's B = 0.05 is below 1 - eps: infeasible
    assert list(failed.method) == ["IW-SVM"] * 3 and set(failed.fit) == {"oracle: 1 of 2 settings"}
    assert failed.message.str.startswith("ValueError: B: expected B >= 1 - eps").all()
    html = (run / "report.html").read_text()
    assert "<h2>Baselines on real features</h2>" in html and "SVM [ours, real LBP-TOP]" in html
    assert "<h2>Baselines that failed</h2>" in html and "oracle: 1 of 2 settings" in html
    rec = json.loads((run / "baselines" / "real" / "V-N.json").read_text())
    assert rec["n_target"] == 71 and rec["files"]["nir"] == str(FILES["nir"].resolve())
    got = collect_baselines(run, params)
    assert set(got.features) == {"databases", "real LBP-TOP"} and len(real_table(got)) == 4
    assert table_3_4(collect_runs(run), table=3, lam=2.0, baselines=baseline_long(got, table=3, tasks=["V->N"])).shape[0] > 0


COMPOSITE = ROOT.parent / "shared" / "real" / "megc2019-composite"
needs_flow = pytest.mark.skipif(not (COMPOSITE / "combined_3_class2_for_optical_flow.csv").is_file(),
                                reason=f"the composite flow set is not in {COMPOSITE} (../shared/real/megc2019-composite)")


def test_madtn_rows_sit_first_in_the_flow_table():
    base = pd.DataFrame([{"features": "real flow", "task": t, "method": m, "accuracy": a, "mean_f1": 0.5, "failed": "",
                          "oracle_settings": 0, "oracle_accuracy": np.nan, "oracle_best": ""}
                         for t in ("C->H", "H->C") for m, a in (("SVM", 0.6), ("TCA", 0.7))])
    values = pd.DataFrame([{"task": t, "variant": v, "seed": s, "accuracy": 0.5 + 0.1 * s, "mean_f1": 0.4}
                           for t in ("C->H", "H->C", "C->S") for v in ("λ = 0", "paper kernel", "median kernel")
                           for s in (0, 1)])
    madtn = madtn_rows(values, {"λ = 0": "MADTN network, λ = 0", "paper kernel": "MADTN network, λ = 2"})
    table = flow_table(base, madtn, {"C->H": 0.43, "H->C": 0.61})
    assert list(table.method) == ["MADTN network, λ = 0", "MADTN network, λ = 2", "SVM", "TCA"] * 2
    assert list(table.task) == ["C->H"] * 4 + ["H->C"] * 4  # no C->S: no baseline there
    assert table.accuracy_label_free.iloc[0] == pytest.approx(0.55) and table.seeds.iloc[0] == 2
    assert table.majority.tolist() == [0.43] * 4 + [0.61] * 4


@needs_flow
@pytest.mark.slow
def test_the_baselines_fit_the_real_flow_deterministically_and_reach_the_report(tmp_path):
    from madtn_utils.config import to_dict
    from madtn_utils.suite.baseline_runs import composite_flow_features, fit_flow_task, run_baselines
    from madtn_utils.suite.report import write_report

    path = tmp_path / "flow.yaml"
    path.write_text(yaml.safe_dump({"name": "flow", "jobs": 1, "output_dir": str(tmp_path), "cache_dir": str(tmp_path / "c"),
                                    "data": {"synthetic": None, "source": "composite", "composite": {"root": str(COMPOSITE)}},
                                    "baselines": {"methods": ["SVM", "TCA", "GFK"]}}))
    params = load_params(path)
    assert baseline_tables(params) == ()  # no LBP-TOP rows: the composite set has no clips
    status = run_baselines(params, params.run_dir)
    assert [(s["features"], s["task"], s["status"]) for s in status] == [("real flow", "C->H", "executed"),
                                                                         ("real flow", "H->C", "executed")]
    features = composite_flow_features(params, ["casme2", "smic-hs"])
    assert features["casme2"].X.shape == (145, 2352) and features["smic-hs"].X.shape == (164, 2352)
    assert 0 <= features["casme2"].X.min() and features["casme2"].X.max() <= 1
    again = fit_flow_task(params, "C->H", features)
    first = json.loads((params.run_dir / "baselines" / "flow" / "C-H.json").read_text())
    for name in ("SVM", "TCA", "GFK"):
        assert first["methods"][name]["predictions"] == again["methods"][name]["predictions"]
    got = collect_baselines(params.run_dir, params)
    assert set(got.features) == {"real flow"} and len(got) == 6 and got.accuracy.notna().all()
    table = flow_table(got, None, {"C->H": 70 / 164, "H->C": 88 / 145})
    (params.run_dir / "tables").mkdir()
    (params.run_dir / "tables" / "baselines_flow.csv").write_text(table.to_csv(index=False))
    html = write_report(params.run_dir, to_dict(params)).read_text()
    assert "<h2>Real data: the classical baselines on the same flow</h2>" in html
