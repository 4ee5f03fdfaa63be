"""The baselines in the suite: the ``baselines:`` params, label-free fits per task with a hash and
resume, the oracle audit, and their rows in Tables 3 and 4."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from madtn_utils.baselines.config import BaselineParams, implemented, method_hparams, oracle_settings
from madtn_utils.suite.baseline_runs import fit_task, run_baselines, task_features
from madtn_utils.suite.baselines import baseline_hash, baseline_long, collect_baselines, oracle_table
from madtn_utils.suite.params import load_params
from madtn_utils.suite.tables import OURS, collect_runs, table_3_4, wide
from madtn_utils.train.tasks import TASKS_TYPE_I

ROOT = Path(__file__).resolve().parents[1]


def _params(folder: Path, shared: Path, **baselines) -> Path:
    data = {"name": "bl", "seeds": [0], "jobs": 1, "cache_dir": str(shared / "cache"), "output_dir": str(folder / "out"),
            "data": {"synthetic": "tiny", "synthetic_seed": 0, "synthetic_dir": str(shared / "synthetic")},
            "preprocess": {"map_size": 32},
            "experiments": {"tasks": ["H->V", "C->H"]},
            "baselines": {"methods": ["SVM", "SA"], "hparams": {"SA": {"n_components": 4}},
                          "grids": {"SA": {"n_components": [2, 4, 6]}, "SVM": {"C": [0.1, 10.0]}}, **baselines}}
    path = folder / "bl.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    return tmp_path_factory.mktemp("shared_bl")


def test_baseline_params_are_strict(tmp_path):
    assert implemented()[0] == "SVM" and "SA" in implemented()
    with pytest.raises(ValueError, match=r"methods\[1\]: expected one of the implemented baselines .*got 'SVN'"):
        BaselineParams(methods=("SVM", "SVN"))
    with pytest.raises(ValueError, match=r"hparams.SA: unknown hyperparameter 'dims'"):
        BaselineParams(hparams={"SA": {"dims": 3}})
    with pytest.raises(ValueError, match=r"hparams.SVM.C: expected a finite number, got inf"):
        BaselineParams(hparams={"SVM": {"C": float("inf")}})
    with pytest.raises(ValueError, match="methods: expected at least one method"):
        BaselineParams(methods=())
    bad = tmp_path / "p.yaml"
    bad.write_text("name: x\nbaselines:\n  method: [SVM]\n")
    with pytest.raises(ValueError, match=r"params.baselines: unknown key 'method'"):
        load_params(bad)
    p = BaselineParams(methods=("SA", "SVM"), hparams={"SVM": {"C": 3.0}})
    assert p.selected == ("SVM", "SA")  # the paper's row order
    settings = oracle_settings(p, "SVM")
    assert settings[0] == method_hparams(p, "SVM") and settings[0]["C"] == 3.0
    assert len(settings) == len({json.dumps(s, sort_keys=True) for s in settings}) > 1
    p = BaselineParams(hparams={"SVM": {"C": 3.0}}, grids={"SVM": {"C": [1.0, 3.0, 9.0]}})
    assert [s["C"] for s in oracle_settings(p, "SVM")] == [3.0, 1.0, 9.0]  # label-free first, no duplicates
    with pytest.raises(ValueError, match=r"grids.SVM.C: expected a non-empty list of values, got 2.0"):
        BaselineParams(grids={"SVM": {"C": 2.0}})


def test_baseline_rows_follow_their_paper_rows_in_tables_3_4():
    base = pd.DataFrame([{"task": t, "method": m, "accuracy": acc, "mean_f1": 0.4} for m, acc in (("SVM", 0.5), ("TCA", 0.25))
                         for t in TASKS_TYPE_I])
    rows = baseline_long(base, table=3, tasks=TASKS_TYPE_I)
    assert list(rows[rows.task == "Average"].accuracy_percent) == [50.0, 25.0]
    empty_runs = collect_runs(Path("/nonexistent"))
    long = table_3_4(empty_runs, table=3, lam=2.0, baselines=rows)
    order = list(dict.fromkeys(wide(long).index))
    assert order.index("SVM [ours]") == order.index("SVM [paper]") + 1
    assert order.index("TCA [ours]") == order.index("TCA [paper]") + 1
    assert not any(OURS in r for r in order)  # no MADTN runs: only the baselines are ours
    with pytest.raises(ValueError, match="Table 3: expected finished runs"):
        table_3_4(empty_runs, table=3, lam=2.0)


@pytest.mark.slow
def test_baselines_fit_resume_and_never_read_target_labels(tmp_path, shared):
    path = _params(tmp_path, shared, oracle=True)
    params = load_params(path)
    root = params.run_dir
    status = run_baselines(params, root)
    assert sorted(s["status"] for s in status) == ["executed", "executed"]
    got = collect_baselines(root, params)
    assert list(got["method"].unique()) == ["SVM", "SA"] and len(got) == 4
    assert got["accuracy"].between(0, 1).all()
    assert (got["oracle_accuracy"] >= got["accuracy"]).all()  # the label-free setting is the oracle's first
    audit = oracle_table(got)
    assert list(audit[audit.task == "Average"].method) == ["SVM", "SA"]
    rec = json.loads((root / "baselines" / "H-V.json").read_text())
    assert rec["baseline_hash"] == baseline_hash(params, "H->V") and rec["n_target"] == len(rec["methods"]["SVM"]["predictions"])
    # two worker processes: the same records
    run_baselines(params, tmp_path / "two", jobs=2)
    for name in ("H-V.json", "C-H.json"):
        one, two = (json.loads((r / "baselines" / name).read_text()) for r in (root, tmp_path / "two"))
        for rec in (one, two):
            for m in (*rec["methods"].values(), *rec["oracle"].values()):
                m.pop("seconds")
        assert one == two
    # resume: nothing redone; another C for SVM redoes both tasks and the old files stop counting
    mtime = (root / "baselines" / "H-V.json").stat().st_mtime_ns
    assert [s["status"] for s in run_baselines(params, root)] == ["done before", "done before"]
    assert (root / "baselines" / "H-V.json").stat().st_mtime_ns == mtime
    other = load_params(_params(tmp_path, shared, oracle=True, hparams={"SVM": {"C": 0.01}, "SA": {"n_components": 4}}))
    with pytest.warns(UserWarning, match="2 baseline result file"):
        assert collect_baselines(root, other).empty
    # the target's labels never reach fit: permuting them changes no prediction
    feats = {db: task_features(params, db) for db in ("smic-hs", "smic-vis")}
    rng = np.random.default_rng(0)
    tgt = feats["smic-vis"]
    shuffled = {**feats, "smic-vis": dataclasses.replace(tgt, labels=rng.permutation(tgt.labels))}
    a = fit_task(params, "H->V", feats)
    b = fit_task(params, "H->V", shuffled)
    for name in ("SVM", "SA"):
        assert a["methods"][name]["predictions"] == b["methods"][name]["predictions"]
    again = fit_task(params, "H->V", feats)  # deterministic
    for name in ("SVM", "SA"):
        assert {k: v for k, v in a["methods"][name].items() if k != "seconds"} == \
            {k: v for k, v in again["methods"][name].items() if k != "seconds"}


@pytest.mark.slow
def test_reproduce_only_baselines_fills_tables_3_4_and_the_audit(tmp_path, shared):
    from madtn_utils.cli import main

    path = _params(tmp_path, shared, oracle=True)
    assert main(["reproduce", "--params", str(path), "--only", "baselines"]) == 0
    run = load_params(path).run_dir
    t3, t4 = (pd.read_csv(run / "tables" / f"table{n}.csv") for n in (3, 4))
    ours3 = t3[t3.source == "ours"]
    assert list(ours3.method) == ["SVM", "SA"] and list(ours3.task) == ["H->V", "H->V"]  # no Average: 1 of 6 tasks
    assert list(t4[t4.source == "ours"].task) == ["C->H", "C->H"]
    assert (t3[(t3.source == "paper") & (t3.method == "SVM") & (t3.task == "H->V")].accuracy_percent == 80.28).all()
    html = (run / "report.html").read_text()
    assert "SVM [ours]" in html and "<h2>Audit: baselines tuned on the target's labels</h2>" in html
    assert (run / "figures" / "baselines_oracle.png").stat().st_size > 0
    assert (run / "08_baselines.ipynb").is_file() and not (run / "runs").exists()  # no training run was made
    audit = pd.read_csv(run / "tables" / "baselines_oracle.csv")
    assert set(audit.task) == {"H->V", "C->H", "Average"} and (audit.accuracy_oracle_minus_label_free >= 0).all()
