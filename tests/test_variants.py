"""Runs beyond the paper's grid: a RunSpec's params overrides reach the run, its folder name and
its hash, and the paper's tables never take such a run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from madtn_utils.suite.params import load_params
from madtn_utils.suite.spec import RunSpec, run_config, run_hash, run_slug, spec_of_record
from madtn_utils.suite.tables import collect_runs, table_3_4

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def params():
    return load_params(ROOT / "params" / "smoke.yaml")


def test_overrides_are_sorted_scalars_and_name_the_folder():
    spec = RunSpec("C->H", 2.0, overrides={"train.mmd_kernel": "median", "train.control": "flip_mmd"})
    assert spec.overrides == (("train.control", "flip_mmd"), ("train.mmd_kernel", "median"))
    assert spec == RunSpec("C->H", 2.0, overrides=(("train.mmd_kernel", "median"), ("train.control", "flip_mmd")))
    assert run_slug(spec) == "C-H_lam2_onOF-Face-endOF_control-flip_mmd_mmd_kernel-median"
    assert run_slug(RunSpec("C->H", 2.0)) == "C-H_lam2_onOF-Face-endOF"
    with pytest.raises(ValueError, match=r"overrides: expected dotted params keys other than train.lam"):
        RunSpec("C->H", 2.0, overrides={"train.lam": 3.0})
    with pytest.raises(ValueError, match=r"overrides\['train.sigmas'\]: expected a scalar, got list"):
        RunSpec("C->H", 2.0, overrides={"train.sigmas": [1.0]})


def test_overrides_enter_the_run_config_and_hash(params):
    plain, median = RunSpec("C->H", 2.0), RunSpec("C->H", 2.0, overrides={"train.mmd_kernel": "median"})
    assert run_config(params, median)["train"]["mmd_kernel"] == "median"
    assert run_config(params, plain)["train"]["mmd_kernel"] == "fixed"
    assert run_hash(params, plain) != run_hash(params, median)
    with pytest.raises(ValueError, match=r"params.train.mmd_kernel: expected one of 'fixed', 'median', got 'gauss'"):
        run_hash(params, RunSpec("C->H", 2.0, overrides={"train.mmd_kernel": "gauss"}))
    rec = {"task": "C->H", "lam": 2.0, "components": "onOF-Face-endOF", "overrides": {"train.mmd_kernel": "median"}}
    assert spec_of_record(rec) == median


def test_paper_tables_take_only_runs_without_overrides(tmp_path, params):
    summary = {k: {"mean": 0.5, "std": 0.0} for k in ("accuracy", "mean_f1", "uar")}
    summary["confusion"] = [[1, 0, 0], [0, 1, 0], [0, 0, 1]]
    for spec, acc in ((RunSpec("C->H", 2.0), 0.25), (RunSpec("C->H", 2.0, overrides={"train.mmd_kernel": "median"}), 0.75)):
        rec = {"task": spec.task, "lam": spec.lam, "components": spec.components, "overrides": dict(spec.overrides),
               "seeds": list(params.seeds), "n_target_samples": 4, "device": "cpu", "seconds": {"train": 1.0},
               "summary": {**summary, "accuracy": {"mean": acc, "std": 0.0}}, "run_hash": run_hash(params, spec)}
        folder = tmp_path / "runs" / run_slug(spec)
        folder.mkdir(parents=True)
        (folder / "metrics.json").write_text(json.dumps(rec))
    runs = collect_runs(tmp_path, params)
    assert sorted(runs["variant"]) == ["", "mmd_kernel=median"]
    t4 = table_3_4(runs, table=4, lam=2.0)
    assert list(t4[t4.source == "ours"]["accuracy_percent"]) == [25.0]


def test_apex_onset_control_has_no_onset_flow_and_one_map_per_sample(face_tree, tmp_path):
    import warnings

    import numpy as np

    from madtn_utils.data.index import build_index
    from madtn_utils.preprocess.cache import prepare_database
    from madtn_utils.preprocess.sample import PreprocessConfig

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        idx = build_index("smic-hs", face_tree)
        data, manifest, _ = prepare_database(idx, PreprocessConfig(apex="onset", map_size=32), cache_dir=tmp_path, jobs=1)
        middle, _, _ = prepare_database(idx, PreprocessConfig(map_size=32), cache_dir=tmp_path, jobs=1)
    assert len(data.train_maps) == len(data) == len(idx.samples)  # one map per sample: the onset's
    assert not data.test_maps[:, 0].any() and middle.test_maps[:, 0].any()  # onset -> apex flow: none
    assert np.array_equal(data.train_maps, data.test_maps)
    assert (manifest["test_apex_frame"] == 0).all()
