"""The last failures of the fault catalogue (issue 19): numbers that cannot go stale or be silently wrong, edge
checks naming the full key, bench scripts in one line. Every test here failed on the code before it (the
process races are in test_lifecycle.py)."""

from __future__ import annotations

import ast
import dataclasses
import json
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from madtn_utils.cli import main
from madtn_utils.suite.params import load_domain, load_params, override
from madtn_utils.suite.spec import RunSpec, RunWarning, matching_records, run_config, run_hash, run_slug
from madtn_utils.suite.tables import collect_runs, table_3_4

from tiny import fake_run, write_params

ROOT = Path(__file__).resolve().parents[1]
TINY = {
    "seeds": [0, 1], "jobs": 1, "data": {"synthetic": "tiny", "synthetic_seed": 0},
    "preprocess": {"map_size": 32},
    "train": {"epochs": 1, "batch_size": 16, "widths": [4, 8, 8], "fc_dim": 16, "device": "cpu"},
    "experiments": {"tasks": ["H->V", "C->H"], "ablation_tasks": ["H->V"], "ablation_components": ["onOF-Face-endOF"],
                    "lambda_tasks": ["H->V"], "lambdas": [2.0]},
    "baselines": {"methods": ["SVM"]},
}


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """Synthetic databases and a warm cache (SMIC-HS, SMIC-VIS), and one finished H->V run of two seeds."""
    folder = tmp_path_factory.mktemp("catalogue")
    params = load_params(_params(folder, folder, "warm"))
    for db in ("smic-hs", "smic-vis"):
        load_domain(params, db)
    from madtn_utils.suite.runs import train_run

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train_run(params, source="H", target="V", out_dir=folder / "trained" / run_slug(RunSpec("H->V", 2.0)))
    return folder


def _params(folder: Path, shared: Path, name: str = "t", **changes) -> Path:
    return write_params(TINY, folder, shared, name, **changes)


def _run_root(tmp_path: Path, shared: Path) -> tuple[Path, object]:
    """A run folder holding a copy of the trained H->V run, and its params."""
    params = load_params(_params(tmp_path, shared, "warm"))
    root = tmp_path / "root"
    shutil.copytree(shared / "trained", root / "runs")
    return root, params


def _one_line(capsys) -> str:
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1, err
    return err[0]


# --- 1. a table never shows a number its run cannot back ---------------------------------------------------------

def test_a_run_records_the_hash_of_its_predictions_and_its_code(tmp_path, shared):
    root, params = _run_root(tmp_path, shared)
    folder = root / "runs" / "H-V_lam2_onOF-Face-endOF"
    rec = json.loads((folder / "metrics.json").read_text())
    import hashlib

    assert rec["predictions_sha256"] == hashlib.sha256((folder / "predictions.csv").read_bytes()).hexdigest()
    assert set(rec["code"]) == {"package", "commit", "dirty", "source_sha256"}


def test_an_accuracy_edited_in_metrics_json_never_reaches_a_table(tmp_path, shared):
    root, params = _run_root(tmp_path, shared)
    path = root / "runs" / "H-V_lam2_onOF-Face-endOF" / "metrics.json"
    rec = json.loads(path.read_text())
    true = rec["summary"]["accuracy"]["mean"]
    rec["summary"]["accuracy"]["mean"] = 0.9877  # by hand; the run hash kept
    for s in rec["per_seed"]:
        s["accuracy"] = 0.9877
    path.write_text(json.dumps(rec))
    with pytest.warns(RunWarning, match=r"metrics.json: accuracy of seed 0 \(0.9877, predictions give .*\).* differ from "
                                        r"predictions.csv: the tables use predictions.csv"):
        runs = collect_runs(root, params)
    assert runs["accuracy_mean"].iloc[0] == pytest.approx(true) and true != 0.9877
    t3 = table_3_4(runs, table=3, lam=2.0)
    assert 98.77 not in set(t3[t3.source == "ours"]["accuracy_percent"].round(2))


def test_predictions_with_a_seed_deleted_are_refused_naming_the_file(tmp_path, shared):
    root, params = _run_root(tmp_path, shared)
    folder = root / "runs" / "H-V_lam2_onOF-Face-endOF"
    preds = pd.read_csv(folder / "predictions.csv")
    data = preds[preds["seed"] != 1].to_csv(index=False).encode()
    (folder / "predictions.csv").write_bytes(data)
    with pytest.raises(ValueError, match=rf"^{folder / 'predictions.csv'}: its content hash .* differs from "
                                         r"predictions_sha256 .* recorded in metrics.json"):
        collect_runs(root, params)
    rec = json.loads((folder / "metrics.json").read_text())  # the hash made to match: the seeds still disagree
    import hashlib

    rec["predictions_sha256"] = hashlib.sha256(data).hexdigest()
    (folder / "metrics.json").write_text(json.dumps(rec))
    with pytest.raises(ValueError, match=r"predictions.csv: holds the predictions of seeds \[0\], but its metrics.json "
                                         r"claims seeds \[0, 1\]"):
        matching_records(root, params)


# --- 2. the report only shows what this run's params made --------------------------------------------------------

def test_the_report_shows_only_this_reproductions_files_and_names_the_unselected_once(tmp_path):
    from madtn_utils.config import to_dict
    from madtn_utils.suite.notes import product_stamps
    from madtn_utils.suite.report import write_report

    root = tmp_path / "run"
    (root / "tables").mkdir(parents=True)
    old = pd.DataFrame({"table": [4], "protocol": ["TYPE-II"], "source": ["ours"], "method": ["MADTN (this reproduction)"],
                        "task": ["C->H"], "mean_f1": [0.1234], "mean_f1_std": [np.nan], "accuracy_percent": [12.34],
                        "accuracy_std": [np.nan], "n_seeds": [2]})
    old.to_csv(root / "tables" / "table4.csv", index=False)  # an earlier reproduction's, other params
    old.assign(table=3, task="H->V", accuracy_percent=55.55).to_csv(root / "tables" / "table3.csv", index=False)
    before = product_stamps(root)
    (root / "tables" / "table3.csv").unlink()
    old.assign(table=3, task="H->V", accuracy_percent=66.66).to_csv(root / "tables" / "table3.csv", index=False)
    params = to_dict(load_params(ROOT / "params" / "smoke.yaml"))
    page = write_report(root, params, only=("table3",), before=before).read_text()
    assert "66.66" in page and "12.34" not in page and "55.55" not in page
    assert "<h2>Table 4</h2>" not in page and page.count("Not selected in this run") == 1
    assert "so not shown: Table 4, the baselines&#x27; audit and failures, Table 5, Figure 5, Figure 6" in page
    page = write_report(root, params, only=("table3", "table4"), before=product_stamps(root)).read_text()
    assert "<h2>Table 4</h2>" in page and "Not produced in this run (table4.csv missing)" in page and "12.34" not in page
    assert "Not produced in this run (table3.csv missing)" in page  # written before these stamps: not this run's
    page = write_report(root, params, only=("baselines", "table3"), before=before).read_text()
    assert page.count("Not produced in this run") <= 4 and page.count("<h2>") <= 8  # not a dozen empty headings


@pytest.mark.slow
def test_a_table_of_old_params_never_shows_after_a_rerun_of_another_table(tmp_path, shared):
    """The issue's steps: --only table3,table4; delete runs/C-H*; change train.lr; --only table3 --overwrite."""
    first = _params(tmp_path, shared, "stale", seeds=[0])
    assert main(["reproduce", "--params", str(first), "--only", "table3,table4", "--jobs", "1"]) == 0
    run = load_params(first).run_dir
    old_t4 = pd.read_csv(run / "tables" / "table4.csv")
    assert "<h2>Table 4</h2>" in (run / "report.html").read_text()
    for folder in (run / "runs").glob("C-H*"):
        shutil.rmtree(folder)
    second = _params(tmp_path, shared, "stale", seeds=[0], train__lr=1e-3)
    assert main(["reproduce", "--params", str(second), "--only", "table3", "--overwrite", "--jobs", "1"]) == 0
    page = (run / "report.html").read_text()
    results = page.split("Audit of the published accuracies")[0]
    assert (old_t4.task == "C->H").any() and "C→H" not in results  # the old-lr C→H cell of Table 4: gone
    assert "<h2>Table 4</h2>" not in page and "so not shown: Table 4" in page and "&quot;lr&quot;: 0.001" in page


# --- 3. the baselines see what the index saw ----------------------------------------------------------------------

def test_a_class_missing_from_the_source_is_warned_recorded_and_reported(tmp_path, shared):
    from madtn_utils.config import to_dict
    from madtn_utils.suite.baseline_runs import run_baselines
    from madtn_utils.suite.baselines import result_path
    from madtn_utils.suite.report import write_report

    synthetic = tmp_path / "synthetic"
    shutil.copytree(shared / "synthetic", synthetic)
    removed = [p for p in synthetic.rglob("surprise") if "HS" in p.parts]
    assert removed
    for folder in removed:
        shutil.rmtree(folder)
    params = load_params(_params(tmp_path, shared, "nosur", cache_dir=str(tmp_path / "cache"),
                                 experiments__tasks=["H->V"], data__synthetic_dir=str(synthetic)))
    with pytest.warns(RunWarning, match=r"baselines \(databases\) H->V: source smic-hs has no surprise sample: the model "
                                        r"never sees that class"):
        run_baselines(params, params.run_dir, jobs=1)
    rec = json.loads(result_path(params.run_dir, "H->V").read_text())
    assert rec["warnings"] == ["H->V: source smic-hs has no surprise sample: the model never sees that class"]
    page = write_report(params.run_dir, to_dict(params)).read_text()
    assert "source smic-hs has no surprise sample" in page


# --- 4. validation at the edge, with the full key -----------------------------------------------------------------

@pytest.mark.parametrize("text, message", [
    ("baselines:\n  hparams:\n    SVM:\n      C: abc\n", r"params.baselines.hparams.SVM.C: expected a finite number > 0, got 'abc'"),
    ("baselines:\n  hparams:\n    SVM:\n      C: -1\n", r"params.baselines.hparams.SVM.C: expected a finite number > 0, got -1"),
    ("baselines:\n  hparams:\n    SA:\n      n_components: 0\n", r"params.baselines.hparams.SA.n_components: expected an integer >= 1, got 0"),
    ("baselines:\n  grids:\n    TKL:\n      zeta: [2, 0.5]\n", r"params.baselines.grids.TKL.zeta\[1\]: expected a finite number >= 1"),
    ("train:\n  widths: []\n", r"params.train.widths: expected 3 positive channel counts"),
    ("preprocess:\n  train_apex_fraction: 0\n", r"params.preprocess.train_apex_fraction: expected a fraction of the clip in \(0, 1\]"),
    ("data:\n  synthetic: null\n  shift:\n    spurious: 0.0\n", r"params.data.shift: the shift applies to the synthetic "
                                                               r"databases only, and data.synthetic is null"),
    ("name: " + "n" * 300 + "\n", r"params.name: 'nnnnnnnn...' has 300 bytes, more than the file system allows"),
    ("output_dir: /tmp/" + "o" * 300 + "\n", r"params.output_dir: the folder name 'oooooooo...' has 300 bytes"),
])
def test_bad_values_are_one_line_naming_the_full_key(tmp_path, text, message, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=message) as info:
        load_params(path)
    assert "\n" not in str(info.value)
    assert main(["reproduce", "--params", str(path), "--only", "table3"]) == 2  # no traceback, not OSError 36
    assert _one_line(capsys).startswith("madtn reproduce: error: params.")


def test_a_whole_path_too_long_is_refused_naming_the_key(tmp_path):
    deep = "/".join(["d" * 200] * 20)  # each name fits, the path does not
    path = tmp_path / "p.yaml"
    path.write_text(f"output_dir: {tmp_path / deep}\n")
    with pytest.raises(ValueError, match=r"^params.output_dir \(with params.name\): the path .* bytes with the 320 bytes "
                                         r"of what is written under it, more than the file system allows \(\d+\)"):
        load_params(path)


def test_dimensions_that_do_not_fit_the_data_name_the_key_and_what_fits(tmp_path, shared, capsys):
    from madtn_utils.suite.checks import check_baseline_sizes

    params = load_params(_params(tmp_path, shared))
    sizes = [("databases", "H->V", 12, 9)]
    big = override(params, {"baselines.methods": ["SA"], "baselines.hparams": {"SA": {"n_components": 1000}}})
    with pytest.raises(ValueError, match=r"^params.baselines.hparams.SA.n_components: 1000 does not fit the data: on H->V "
                                         r"the source smic-hs has 12 samples and the target smic-vis 9, so SA fits "
                                         r"n_components up to 8 .*: expected an integer in 1..8$"):
        check_baseline_sizes(big, sizes)
    oracle = _params(tmp_path, shared, "oracle", baselines={"methods": ["SA"], "oracle": True,
                                                             "hparams": {"SA": {"n_components": 4}}})
    assert main(["reproduce", "--params", str(oracle), "--only", "baselines"]) == 2
    line = _one_line(capsys)
    assert line.startswith("madtn reproduce: error: params.baselines.grids.SA.n_components: 10, 20, 30, 40, 50, 60 of the "
                           "default grid (baselines.ORACLE_GRIDS) [5, 10, 20, 30, 40, 50, 60] do not fit the data")
    assert line.endswith("expected values in 1..8, e.g. grids: {SA: {n_components: [5]}}")
    assert not (load_params(oracle).run_dir / "baselines").exists()  # before any fit


def test_non_finite_or_constant_features_name_the_database_and_cache_entry(tmp_path, shared):
    from madtn_utils.suite.baseline_runs import task_features

    params = load_params(_params(tmp_path, shared, cache_dir=str(tmp_path / "cache")))
    task_features(params, "smic-vis")
    entry, = (tmp_path / "cache").glob("lbptop-smic-vis-*")
    with np.load(entry / "maps.npz") as z:
        arrays = dict(z)
    for damage, message in ((np.nan, r"the LBP-TOP features of 1 sample\(s\) .* hold 1 non-finite value\(s\)"),
                            (None, r"every one of its 9 samples has the same LBP-TOP features")):
        X = arrays["X"].copy()
        if damage is None:
            X[:] = X[0]
        else:
            X[0, 0] = damage
        np.savez(entry / "maps.npz", **{**arrays, "X": X})
        with pytest.raises(ValueError, match=rf"^smic-vis: {message}.*in the cache entry {entry}: expected"):
            task_features(params, "smic-vis")


# --- 6. a finished run is never redone -------------------------------------------------------------------------------

def test_runs_whose_metrics_were_written_before_an_interruption_are_not_redone(tmp_path, shared):
    """What SIGINT mid-group leaves: the runs' metrics.json written, the group's notebook not (it is renamed last)."""
    from madtn_utils.suite.execute import run_grid
    from madtn_utils.suite.grid import run_dir_of
    from madtn_utils.suite.runs import train_runs

    path = _params(tmp_path, shared, "resume", experiments__lambdas=[0.0, 2.0])
    params = load_params(path)
    specs = [RunSpec("H->V", 0.0), RunSpec("H->V", 2.0)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train_runs(params, source="H", target="V", runs=[{"lam": s.lam, "out_dir": str(run_dir_of(params.run_dir, s))}
                                                         for s in specs])
    mtimes = [(run_dir_of(params.run_dir, s) / "metrics.json").stat().st_mtime_ns for s in specs]
    results = run_grid(path, specs, params.run_dir, progress=False)
    assert [r["status"] for r in results] == ["done before", "done before"]
    assert [(run_dir_of(params.run_dir, s) / "metrics.json").stat().st_mtime_ns for s in specs] == mtimes


# --- 7. bench scripts: one line and exit status 2 ---------------------------------------------------------------------

@pytest.mark.parametrize("script, args, message", [
    ("grid", ["--random", "0", "0"], "--random: expected N_SOURCE and N_TARGET of at least 2 maps each, got 0 0"),
    ("grid", ["--epochs", "-1"], "--epochs: expected an integer >= 1, got -1"),
    ("grid", ["--seeds", "0", "0"], "--seeds: expected distinct seeds >= 0, got 0 0"),
    ("grid", ["--params", "/nonexistent.yaml"], "--params /nonexistent.yaml: no such file: expected a params YAML file"),
    ("grid", ["--only", "foo"], "--only: unknown output 'foo'"),
    ("grid", ["--task", "X->Y"], "--task X->Y: expected a task with runs in --only table5,fig6"),
    ("gpu_check", ["--epochs", "-1"], "--epochs: expected an integer >= 1, got -1"),
    ("gpu_check", ["--seeds", "0", "0"], "--seeds: expected distinct seeds >= 0, got 0 0"),
    ("gpu_check", ["--params", "/nonexistent.yaml"], "--params /nonexistent.yaml: no such file"),
    ("gpu_check", ["--params", "params/smoke.yaml", "--only", "foo"], "--only: unknown output 'foo'"),
    ("gpu_check", ["--params", "params/smoke.yaml", "--out", "/etc/hostname"], "--out '/etc/hostname' is a file"),
])
def test_bench_scripts_refuse_bad_arguments_in_one_line(script, args, message):
    done = subprocess.run([sys.executable, f"bench/{script}.py", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=300)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert len(lines) == 1 and lines[0].startswith(f"bench/{script}.py: error: {message}"), lines


# --- 8. the run hash holds the code's release; runs of other code are marked --------------------------------------

def test_the_run_hash_holds_the_package_version_and_other_code_is_marked(tmp_path, shared, monkeypatch):
    import madtn_utils.suite.version as version
    from madtn_utils.config import to_dict
    from madtn_utils.suite.report import write_report

    root, params = _run_root(tmp_path, shared)
    spec = RunSpec("H->V", 2.0)
    assert run_config(params, spec)["package_version"] == version.PACKAGE_VERSION
    before = run_hash(params, spec)
    monkeypatch.setattr(version, "PACKAGE_VERSION", "0.0.0-older")
    assert run_hash(params, spec) != before
    monkeypatch.undo()
    path = root / "runs" / run_slug(spec) / "metrics.json"
    rec = json.loads(path.read_text())
    rec["code"] = {**rec["code"], "commit": "0123456789abcdef", "dirty": False, "source_sha256": "f" * 16}
    path.write_text(json.dumps(rec))
    with pytest.warns(RunWarning, match=r"1 run\(s\) were made by other training code than this checkout's .*"
                                        r"H-V_lam2_onOF-Face-endOF \(training code differs \(commit 0123456789, source ffff"):
        runs = collect_runs(root, params)
    assert runs["code"].iloc[0].startswith("training code differs")
    page = write_report(root, to_dict(params)).read_text()
    assert "Runs made by other code" in page and "commit 0123456789" in page


# --- 9. loose ends ---------------------------------------------------------------------------------------------------

def test_madtn_synth_writes_a_shift(tmp_path, capsys):
    from madtn_utils.data.synth_write import write_synthetic

    assert main(["synth", "--out", str(tmp_path / "s"), "--size", "tiny", "--shift", "sampling=0,spurious=0.5",
                 "--jobs", "1"]) == 0
    assert "shift: action_units 1, distractors 1, sampling 0, spurious 0.5" in capsys.readouterr().out
    write_synthetic(tmp_path / "ref", size="tiny", jobs=1, shift={"sampling": 0.0, "spurious": 0.5})
    write_synthetic(tmp_path / "default", size="tiny", jobs=1)
    files = sorted(p.relative_to(tmp_path / "s") for p in (tmp_path / "s").rglob("*.jpg"))[:20]
    assert all((tmp_path / "s" / f).read_bytes() == (tmp_path / "ref" / f).read_bytes() for f in files)
    assert any((tmp_path / "s" / f).read_bytes() != (tmp_path / "default" / f).read_bytes() for f in files)
    assert main(["synth", "--out", str(tmp_path / "t"), "--shift", "2"]) == 2
    assert "--shift '2': expected a strength in [0, 1]" in capsys.readouterr().err


def test_the_shift_studys_runs_at_the_params_shift_are_the_default_runs(tmp_path):
    from madtn_utils.suite.grid import grid_for
    from madtn_utils.suite.studies import shift_table

    params = load_params(ROOT / "params" / "synthetic_cpu.yaml")
    specs = grid_for(params, ("shift", "table3"))
    assert not [s for s in specs if dict(s.overrides).get("data.shift.sampling") == 1.0]
    assert RunSpec("C->H", 0.0) in specs and RunSpec("C->H", float(params.train.lam)) in specs
    runs = pd.DataFrame([{"task": "C->H", "lam": 0.0, "components": "onOF-Face-endOF", "variant": v, "accuracy_mean": a,
                          "accuracy_std": 0.0, "seeds": 2, "gap_mmd2_median_mean": 0.1}
                         for v, a in (("", 0.5), ("action_units=0.0, distractors=0.0, sampling=0.0, spurious=0.0", 0.9))])
    table = shift_table(runs, tasks=["C->H"], lam=2.0, shift=params.data.shift)
    assert list(table["strength"]) == [0.0, 1.0] and list(table["accuracy"]) == [0.9, 0.5]


def test_madtn_train_limits_blas_threads_as_a_grid_worker(tmp_path, shared, monkeypatch):
    from threadpoolctl import threadpool_info

    import madtn_utils.suite.runs as runs_mod

    seen = []
    real = runs_mod.fit_stacked

    def spy(*a, **k):
        seen.append({i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"})
        return real(*a, **k)

    monkeypatch.setattr(runs_mod, "fit_stacked", spy)
    path = _params(tmp_path, shared, seeds=[0])
    assert main(["train", "--params", str(path), "--source", "H", "--target", "V", "--out", str(tmp_path / "r")]) == 0
    assert seen == [{load_params(path).train.cpu_threads}]


# --- 10. layout -----------------------------------------------------------------------------------------------------

def test_the_cli_module_only_parses_and_calls_the_suite(tmp_path, monkeypatch):
    import madtn_utils.cli.reproduce as cli_rep
    import madtn_utils.suite.reproduce as rep

    tree = ast.parse(Path(cli_rep.__file__).read_text())
    assert sorted(f.name for f in tree.body if isinstance(f, ast.FunctionDef)) == ["_cmd", "add_parser"]
    calls = []
    monkeypatch.setattr(rep, "reproduce", lambda *a, **k: calls.append((a, k)) or tmp_path / "report.html")
    assert main(["reproduce", "--params", "p.yaml", "--only", "table3", "--jobs", "1"]) == 0
    assert calls == [(("p.yaml",), {"only": "table3", "jobs": 1, "scheduler": None, "overwrite": False})]
