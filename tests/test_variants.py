"""Runs beyond the paper's grid: a RunSpec's params overrides reach the run, its folder name and
its hash, and the paper's tables never take such a run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from madtn_utils.suite.params import load_params
from madtn_utils.suite.spec import RunSpec, run_config, run_hash, run_slug, spec_of_record
from madtn_utils.suite.tables import collect_runs, table_3_4

from tiny import fake_run

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
    for spec, acc in ((RunSpec("C->H", 2.0), 0.25), (RunSpec("C->H", 2.0, overrides={"train.mmd_kernel": "median"}), 0.75)):
        rec = {"task": spec.task, "lam": spec.lam, "components": spec.components, "overrides": dict(spec.overrides),
               "run_hash": run_hash(params, spec)}
        fake_run(tmp_path / "runs" / run_slug(spec), rec, {s: acc for s in params.seeds})
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


def test_study_outputs_plan_their_runs(params):
    from madtn_utils.suite.grid import grid_for

    import dataclasses

    e = dataclasses.replace(params.experiments, tasks=("H->V",), control_tasks=("H->V",), shift_tasks=("H->V",),
                            shift_strengths=(0.0, 1.0))
    p = dataclasses.replace(params, experiments=e)
    kernel = grid_for(p, ("kernel",))
    assert [(s.lam, s.overrides) for s in kernel] == [(2.0, ()), (2.0, (("train.mmd_kernel", "median"),)), (0.0, ())]
    controls = grid_for(p, ("controls",))
    assert len(controls) == 6 and {s.components for s in controls} == {"onOF-Face-endOF", "Face"}
    assert {dict(s.overrides).get("train.control") for s in controls} == {None, "permute_source_labels", "flip_mmd"}
    shift = grid_for(p, ("shift",))
    # strength 1 is the params' own shift (every component 1): those are the default runs, without overrides
    assert len(shift) == 2 * 3 and {dict(s.overrides).get("data.shift.sampling") for s in shift} == {0.0, None}
    real = dataclasses.replace(p, data=dataclasses.replace(p.data, synthetic=None))
    with pytest.raises(ValueError, match=r"--only shift: the shift study needs synthetic data"):
        grid_for(real, ("shift",))


@pytest.mark.slow
def test_reproduce_the_studies_end_to_end(tmp_path):
    """gap, kernel, controls and shift on tiny data: notebooks 07 and 09, their tables, figures and report sections."""
    import yaml

    from madtn_utils.cli import main

    data = {"name": "studies", "seeds": [0, 1], "jobs": 2, "cache_dir": str(tmp_path / "cache"),
            "output_dir": str(tmp_path / "outputs"),
            "data": {"synthetic": "tiny", "synthetic_dir": str(tmp_path / "synthetic")}, "preprocess": {"map_size": 32},
            "train": {"epochs": 1, "batch_size": 16, "widths": [4, 8, 8], "fc_dim": 16, "device": "cpu"},
            "experiments": {"tasks": ["H->V"], "lambda_tasks": ["H->V"], "lambdas": [0.0, 2.0], "control_tasks": ["H->V"],
                            "shift_tasks": ["H->V"], "shift_strengths": [0.0, 1.0]}}
    path = tmp_path / "studies.yaml"
    path.write_text(yaml.safe_dump(data))
    assert main(["reproduce", "--params", str(path), "--only", "gap,kernel,controls,shift"]) == 0
    run = tmp_path / "outputs" / "studies"
    import pandas as pd

    controls = pd.read_csv(run / "tables" / "controls.csv")
    assert len(controls) == 6 and controls["run"].iloc[0].startswith("MADTN (full")
    assert set(pd.read_csv(run / "tables" / "kernel.csv")["method"]) == {
        "paper kernel (σ = 1…16)", "median kernel (DAN)", "λ = 0 (no MMD)"}
    study = pd.read_csv(run / "tables" / "shift_study.csv")
    assert len(study) == 6 and set(study["strength"]) == {0.0, 1.0}
    gap = pd.read_csv(run / "tables" / "domain_gap.csv")
    assert list(gap["lam"]) == [0.0, 2.0] and gap["domain_clf"].between(0, 1).all()
    html = (run / "report.html").read_text()
    for heading in ("Domain gap", "Negative controls", "Beyond the paper: the median kernel", "Shift study"):
        assert f"<h2>{heading}</h2>" in html
    assert (run / "figures" / "shift_study.png").is_file() and (run / "figures" / "gap_lambda.png").is_file()
    assert len(list((tmp_path / "synthetic").iterdir())) == 2  # strength 0, and 1 (= the default shift: one folder)


def test_flow_zeroed_control_falls_to_chance_where_the_class_is_in_the_flow():
    """Control (b) on small data: the class lives in the flow channels only, so Face-only is at chance
    while the full map learns (the same training otherwise)."""
    from madtn_utils.train.hparams import TrainConfig
    from madtn_utils.train.loop import train_task

    from test_train import synth_domain

    src, tgt = synth_domain("smic-hs", shift=False, seed=1), synth_domain("smic-vis", shift=True, seed=2)
    cfg = TrainConfig(epochs=5, batch_size=16, device="cpu", lam=0.0)
    full = [train_task(src, tgt, cfg, seed=s).metrics["accuracy"] for s in (0, 1)]
    face = [train_task(src, tgt, TrainConfig(**{**cfg.__dict__, "components": "Face"}), seed=s).metrics["accuracy"]
            for s in (0, 1)]
    assert min(full) > 0.6 and max(face) < 0.5, (full, face)


def test_training_runs_on_the_configured_thread_count(monkeypatch):
    """train.cpu_threads (default 1) fixes torch's CPU threads while training, whatever the caller set, so a
    run gives the same numbers from `madtn train` (2 threads) and a grid worker (1 thread). Seen on paper-size
    data: Face-only H->C seed 0 gave 36.9 % with 1 thread and 42.3 % with 2 before this setting existed."""
    import torch

    from madtn_utils.train import loop
    from madtn_utils.train.hparams import TrainConfig

    from test_train import synth_domain

    seen = []
    real_step = loop.train_step
    monkeypatch.setattr(loop, "train_step", lambda *a, **k: (seen.append(torch.get_num_threads()), real_step(*a, **k))[1])
    src, tgt = synth_domain("smic-hs", shift=False, seed=1, n_per_class=8), synth_domain("smic-vis", shift=True, seed=2)
    cfg = TrainConfig(epochs=2, batch_size=16, widths=(8, 16, 16), fc_dim=32, device="cpu")
    before = torch.get_num_threads()
    results = []
    try:
        for caller in (1, 2):
            torch.set_num_threads(caller)
            r = loop.train_task(src, tgt, cfg, seed=0)
            results.append((r.history[["ce", "mmd2"]].to_numpy().tolist(), r.predictions["p_positive"].tolist()))
            assert torch.get_num_threads() == caller  # restored after the run
    finally:
        torch.set_num_threads(before)
    assert set(seen) == {1} and results[0] == results[1]
    with pytest.raises(ValueError, match=r"cpu_threads: expected 0 \(leave as set\) or a number of threads, got -1"):
        TrainConfig(cpu_threads=-1)


def test_a_gpu_index_the_machine_lacks_is_refused(monkeypatch):
    import torch

    from madtn_utils.train.prepare import device_info, resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(ValueError, match=r"train.device 'cuda:1': expected cuda:0 … cuda:0 \(this machine has 1 GPU\(s\)\)"):
        resolve_device("cuda:1")
    assert str(resolve_device("cuda:0")) == "cuda:0"
    info = device_info(torch.device("cpu"))
    assert info["device"] == "cpu" and info["torch"] == torch.__version__ and info["cpu_threads"] >= 1
