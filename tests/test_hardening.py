"""Faults a new user hits with params, training and a run's outputs: each gives one clear line
and loses nothing (the hardening issue; every test here failed on the code before it)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from madtn_utils.cli import main
from madtn_utils.config import from_dict
from madtn_utils.suite import runs as runs_mod
from madtn_utils.suite.params import RunParams, load_params
from madtn_utils.suite.spec import RunSpec, recorded_hash, run_hash
from madtn_utils.suite.runs import train_run
from madtn_utils.train.hparams import TrainConfig
from madtn_utils.train.loop import TrainingDivergedError, train_task

from tiny import fake_run, full_disk_in, write_params

from test_train import synth_domain

ROOT = Path(__file__).resolve().parents[1]
TINY = {
    "seeds": [0], "jobs": 1, "data": {"synthetic": "tiny", "synthetic_seed": 0},
    "preprocess": {"map_size": 32},
    "train": {"epochs": 1, "batch_size": 16, "widths": [4, 8, 8], "fc_dim": 16, "device": "cpu"},
}


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    return tmp_path_factory.mktemp("hardening")


def _params(folder: Path, shared: Path, name: str = "t", **changes) -> Path:
    """A tiny params file; ``changes`` as ``train__epochs=2`` (nested keys joined by ``__``)."""
    return write_params(TINY, folder, shared, name, **changes)


# --- params -----------------------------------------------------------------------------------

@pytest.mark.parametrize("text, message", [
    ("train:\n  lr: .inf\n", r"params.train.lr: expected a finite float, got inf"),
    ("train:\n  lam: .nan\n", r"params.train.lam: expected a finite float, got nan"),
    ("experiments:\n  lambdas: [0.0, .inf]\n", r"params.experiments.lambdas\[1\]: expected a finite float"),
    ("seeds: [0, 1, 0]\n", r"params.seeds\[2\]: seed 0 is listed twice"),
    ("seeds: [-1]\n", r"params.seeds\[0\]: expected an integer >= 0, got -1"),
    ("name: ''\n", r"params.name: expected a plain folder name"),
    ("name: ../..\n", r"params.name: expected a plain folder name .* got '../..'"),
    ("name: /etc/x\n", r"params.name: expected a plain folder name .* got '/etc/x'"),
    ("experiments:\n  tasks: [H->V, V->H, H->N, X->Y]\n", r"params.experiments.tasks\[3\]: unknown task 'X->Y'"),
    ("preprocess:\n  apex: first\n", r"params.preprocess.apex: expected one of 'middle', 'annotated', 'onset', got 'first'"),
    ("preprocess:\n  map_size: 4\n", r"params.preprocess.map_size: expected at least 8, got 4"),
    ("train:\n  lam: -1\n", r"params.train.lam: expected a number >= 0, got -1.0"),
    ("train:\n\tlr: 1\n", r"not valid YAML: found character '\\t' .* line 2, column 1 \(YAML indents with spaces"),
])
def test_bad_params_give_one_line_naming_the_key(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=message) as info:
        load_params(path)
    assert "\n" not in str(info.value)


def test_exponent_floats_parse_as_numbers(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("train:\n  lr: 1e-4\n  lam: 2E0\n")
    p = load_params(path)
    assert p.train.lr == 1e-4 and isinstance(p.train.lr, float) and p.train.lam == 2.0


def test_a_folder_for_the_params_file_says_is_a_folder(tmp_path, capsys):
    with pytest.raises(ValueError, match=r"is a folder: expected a YAML file"):
        load_params(tmp_path)
    assert main(["train", "--params", str(tmp_path), "--source", "H", "--target", "V"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is a folder" in err[0]


def test_runspec_rejects_non_finite_or_negative_lambda():
    with pytest.raises(ValueError, match=r"lam: expected a finite number >= 0, got inf"):
        RunSpec("H->V", float("inf"))
    with pytest.raises(ValueError, match=r"components: expected one of"):
        RunSpec("H->V", 1.0, "Face-only")


# --- divergence -------------------------------------------------------------------------------

def test_divergent_training_stops_with_one_line_naming_lr_lambda_and_epoch():
    src, tgt = synth_domain("smic-hs", shift=False, seed=1, n_per_class=6), synth_domain("smic-vis", shift=True, seed=2, n_per_class=6)
    cfg = TrainConfig(epochs=3, batch_size=8, lr=1e6, widths=(4, 8, 8), fc_dim=16, device="cpu")
    with pytest.raises(TrainingDivergedError, match=r"H->V seed 0: the training loss .* in epoch 1 .* "
                                                    r"train.lr=1e\+06 and λ=2: expected a finite loss") as info:
        train_task(src, tgt, cfg, seed=0)
    assert "\n" not in str(info.value)


def test_divergent_run_writes_no_metrics(tmp_path, shared, capsys):
    params = _params(tmp_path, shared, train__lr=1e6, train__epochs=2)
    out = tmp_path / "run"
    assert main(["train", "--params", str(params), "--source", "H", "--target", "V", "--out", str(out)]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(err) == 1 and "train.lr=1e+06" in err[0] and "epoch" in err[0]
    assert not (out / "metrics.json").exists()


# --- a run's outputs --------------------------------------------------------------------------

def test_out_that_is_a_file_fails_before_training(tmp_path, shared, monkeypatch, capsys):
    params = _params(tmp_path, shared)
    target = tmp_path / "taken"
    target.write_text("not a folder")
    monkeypatch.setattr(runs_mod, "fit_stacked", lambda *a, **k: pytest.fail("trained before checking --out"))
    assert main(["train", "--params", str(params), "--source", "H", "--target", "V", "--out", str(target)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"madtn train: error: out_dir {str(target)!r} is a file: expected a folder (or a path where one can be created)"]


def test_a_write_error_after_training_keeps_the_result(tmp_path, shared, monkeypatch):
    params = load_params(_params(tmp_path, shared))
    full_disk_in(monkeypatch, tmp_path / "run")
    with pytest.raises(ValueError, match=r"writing the results failed \(No space left on device\); the finished run "
                                         r"was saved to (\S+) instead") as info:
        train_run(params, source="H", target="V", out_dir=tmp_path / "run")
    rescue = Path(str(info.value).split("saved to ")[1].split(" instead")[0])
    rec = json.loads((rescue / "metrics.json").read_text())
    assert rec["task"] == "H->V" and (rescue / "predictions.csv").stat().st_size > 0
    assert not (tmp_path / "run" / "metrics.json").exists()


def test_every_run_records_the_hash_of_what_made_it(tmp_path, shared):
    params = load_params(_params(tmp_path, shared))
    rec = train_run(params, source="H", target="V", lam=0.0, out_dir=tmp_path / "run")
    assert rec["run_hash"] == run_hash(params, RunSpec("H->V", 0.0)) == recorded_hash(tmp_path / "run")
    changed = dataclasses.replace(params, train=dataclasses.replace(params.train, epochs=2))
    assert run_hash(changed, RunSpec("H->V", 0.0)) != rec["run_hash"]
    assert run_hash(dataclasses.replace(params, seeds=(0, 1)), RunSpec("H->V", 0.0)) != rec["run_hash"]
    assert run_hash(dataclasses.replace(params, name="elsewhere", jobs=2), RunSpec("H->V", 0.0)) == rec["run_hash"]
    assert rec["run_config"]["train"]["lam"] == 0.0 and rec["warnings"] == []


def test_a_target_with_one_class_is_warned_and_recorded(monkeypatch):
    src = synth_domain("smic-hs", shift=False, seed=1, n_per_class=6)
    one = synth_domain("smic-vis", shift=True, seed=2, n_per_class=6)
    keep = np.flatnonzero(one.labels == 0)
    tgt = dataclasses.replace(one, test_maps=one.test_maps[keep], labels=one.labels[keep],
                              sample_ids=tuple(one.sample_ids[i] for i in keep), subjects=tuple(one.subjects[i] for i in keep),
                              train_maps=one.train_maps[np.isin(one.train_index, keep)],
                              train_index=np.searchsorted(keep, one.train_index[np.isin(one.train_index, keep)]))
    notes = runs_mod.class_notes(tgt, "target")
    assert notes == ["target smic-vis has no negative, surprise sample: its scores cover 1 of 3 classes"]
    assert runs_mod.class_notes(src, "source") == []


def test_from_dict_names_nested_check_with_its_section():
    with pytest.raises(ValueError, match=r"^params.train.lr: expected a number > 0, got 0.0$"):
        from_dict(RunParams, {"train": {"lr": 0}}, where="params")


def test_tables_collect_only_runs_made_with_these_params(tmp_path):
    from madtn_utils.suite.spec import RunWarning
    from madtn_utils.suite.tables import collect_runs

    params = load_params(ROOT / "params" / "smoke.yaml")
    older = dataclasses.replace(params, train=dataclasses.replace(params.train, epochs=params.train.epochs + 1))
    for name, p in (("H-V_lam2_onOF-Face-endOF", params), ("V-H_lam2_onOF-Face-endOF", older)):
        task = name[:3].replace("-", "->")
        rec = {"task": task, "lam": 2.0, "components": "onOF-Face-endOF", "run_hash": run_hash(p, RunSpec(task, 2.0))}
        fake_run(tmp_path / "runs" / name, rec, {s: 0.5 for s in p.seeds})
    assert list(collect_runs(tmp_path)["task"]) == ["H->V", "V->H"]  # no params: everything on disk
    with pytest.warns(RunWarning, match=r"1 run\(s\) were made with other settings and are left out .*V-H_lam2"):
        got = collect_runs(tmp_path, params)
    assert list(got["task"]) == ["H->V"]


def test_run_hash_ignores_where_synthetic_data_lives_but_not_which():
    p = load_params(ROOT / "params" / "smoke.yaml")
    spec = RunSpec("H->V", 2.0)
    moved = dataclasses.replace(p, data=dataclasses.replace(p.data, synthetic_dir="/elsewhere"))
    other = dataclasses.replace(p, data=dataclasses.replace(p.data, synthetic_seed=p.data.synthetic_seed + 1))
    assert run_hash(moved, spec) == run_hash(p, spec) != run_hash(other, spec)


def test_a_folder_where_a_file_is_expected_says_so(tmp_path, capsys):
    (tmp_path / "sub01").mkdir()
    assert main(["index", "--database", "casme2", "--root", str(tmp_path), "--coding", str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip() == (f"madtn index: error: coding file {str(tmp_path)!r} is a folder: "
                                               "expected the CASME II coding .xlsx or .csv")
    from madtn_utils.preprocess.detect import make_detector

    with pytest.raises(ValueError, match=r"weights file .* is a folder: expected retinaface.pth"):
        make_detector("retinaface", weights=str(tmp_path))


def test_reproduce_hands_the_notebooks_an_absolute_params_path(tmp_path, monkeypatch):
    """A relative --params is resolved once, before any notebook thread runs: papermill changes the process's
    working directory while a notebook executes, so resolving it later (as the notebook stage did) pointed 03 at
    notebooks/params/smoke.yaml and `make demo` failed."""
    import madtn_utils.suite.reproduce as rep

    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "x.yaml").write_text(f"name: x\noutput_dir: {tmp_path / 'out'}\ncache_dir: {tmp_path / 'c'}\n")
    seen = {}
    monkeypatch.setattr(rep, "_reproduce_locked", lambda params, params_file, *a, **k: seen.setdefault("f", params_file))
    monkeypatch.chdir(tmp_path)
    rep.reproduce("p/x.yaml", only=("table5",), progress=False)
    assert seen["f"] == str(tmp_path / "p" / "x.yaml")
