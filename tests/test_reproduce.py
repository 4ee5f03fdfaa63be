"""End to end: the smoke reproduction with papermill, resume after a kill, the Dask path, strict params."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from madtn_utils.baselines.config import implemented
from madtn_utils.cli import main
from madtn_utils.suite.tables import OURS
from madtn_utils.suite.params import load_params
from madtn_utils.suite.execute import run_grid
from madtn_utils.suite.grid import grid_for, is_finished, run_dir_of
from madtn_utils.suite.spec import RunSpec, run_hash

ROOT = Path(__file__).resolve().parents[1]

#: A fast grid: tiny synthetic data, small maps, a narrow network, one epoch.
FAST = {
    "seeds": [0, 1], "jobs": 2,
    "data": {"synthetic": "tiny", "synthetic_seed": 0},
    "preprocess": {"map_size": 32},
    "train": {"epochs": 2, "batch_size": 16, "widths": [4, 8, 8], "fc_dim": 16, "device": "cpu"},
    # the baselines' dimensions that tiny databases (9-12 samples each) can hold, as in params/smoke.yaml
    "baselines": {"hparams": {"TCA": {"n_components": 4}, "GFK": {"n_components": 4}, "SA": {"n_components": 4},
                              "TKL": {"n_eig": 5}}},
}


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """Synthetic data and the preprocessing cache, shared by every params file of this module."""
    return tmp_path_factory.mktemp("shared")


def _params_file(folder: Path, shared: Path, name: str, **extra) -> Path:
    data = json.loads(json.dumps(FAST))
    data.update(name=name, cache_dir=str(shared / "cache"), output_dir=str(folder / "outputs"))
    data["data"]["synthetic_dir"] = str(shared / "synthetic")
    for key, value in extra.items():
        data[key] = value
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_params_are_strict(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ntrain:\n  epocs: 3\n")
    with pytest.raises(ValueError, match=r"params.train: unknown key 'epocs'"):
        load_params(bad)
    bad.write_text("name: x\ntrain:\n  epochs: three\n")
    with pytest.raises(ValueError, match=r"params.train.epochs: expected int, got str 'three'"):
        load_params(bad)
    bad.write_text("name: x\nexperiments:\n  tasks: [C->X]\n")
    with pytest.raises(ValueError, match="C->X"):
        load_params(bad)
    for name in ("smoke", "synthetic", "paper"):
        p = load_params(ROOT / "params" / f"{name}.yaml")
        assert p.name == name and Path(p.cache_dir).is_absolute()
    assert load_params(ROOT / "params" / "paper.yaml").seeds == (0, 1, 2, 3, 4)
    assert main(["reproduce", "--params", str(bad)]) == 2


def test_grid_shares_runs():
    p = load_params(ROOT / "params" / "smoke.yaml")
    specs = grid_for(p)
    assert len(specs) == len(set(specs))
    # 12 tasks + 3 ablation tasks x 3 partial variants + 2 lambda tasks x (lambdas other than train.lam)
    n_lam = len([x for x in p.experiments.lambdas if x != p.train.lam])
    assert len(specs) == 12 + 3 * 3 + 2 * n_lam
    assert grid_for(p, ("table5",)) == [RunSpec(t, 2.0, c) for t in ("C->H", "C->V", "H->N")
                                         for c in ("Face", "onOF-Face", "onOF-endOF", "onOF-Face-endOF")]
    with pytest.raises(ValueError, match="unknown output 'table9'"):
        grid_for(p, ("table9",))


@pytest.mark.slow
def test_smoke_reproduction_end_to_end(tmp_path, shared, capsys):
    """The whole suite on tiny synthetic data: tables, figures, report, executed notebooks."""
    params = _params_file(tmp_path, shared, "smoke-test",
                          experiments={"lambdas": [0.0, 2.0], "ablation_components": ["Face", "onOF-Face-endOF"]})
    assert main(["reproduce", "--params", str(params)]) == 0
    out = capsys.readouterr().out
    run = tmp_path / "outputs" / "smoke-test"
    assert f"report: {run / 'report.html'}" in out
    html = (run / "report.html").read_text()
    for heading in ("Table 3", "Table 4", "Table 5", "Figure 5", "Figure 6"):
        assert f"<h2>{heading}</h2>" in html
    assert "Audit of the published accuracies" in html and "Git commit" in html
    for name in ("table3", "table4", "table5"):
        for suffix in ("csv", "md", "tex"):
            assert (run / "tables" / f"{name}.{suffix}").stat().st_size > 0
    t3 = pd.read_csv(run / "tables" / "table3.csv")
    ours = t3[(t3.source == "ours") & (t3.method == OURS)]
    assert list(ours.task) == ["H->V", "V->H", "H->N", "N->H", "V->N", "N->V", "Average"]
    # every implemented baseline has its [ours] row (label-free, notebook 08), each with all six tasks and the average
    base = t3[(t3.source == "ours") & (t3.method != OURS)]
    assert list(dict.fromkeys(base.method)) == list(implemented()) and len(base) == 7 * len(implemented())
    assert (run / "08_baselines.ipynb").is_file() and len(list((run / "baselines").glob("*.json"))) == 12
    assert ours.accuracy_percent.between(0, 100).all()
    assert (t3[(t3.source == "paper") & (t3.method == "MADTN")].accuracy_percent.iloc[0]) == 83.11
    for fig in ("figure5", "figure6"):
        assert (run / "figures" / f"{fig}.png").stat().st_size > 0 and (run / "figures" / f"{fig}.pdf").is_file()
    runs = sorted(p.name for p in (run / "runs").iterdir())
    assert len(runs) == 12 + 3 + 2  # 12 tasks, Face on 3 ablation tasks, λ = 0 on 2 tasks
    p = load_params(params)
    assert sorted(run_dir_of(run, s).name for s in grid_for(p)) == runs
    assert all(is_finished(run_dir_of(run, s), run_hash(p, s)) for s in grid_for(p))
    for nb in ("03_tables_3_4", "04_ablation_table_5", "05_lambda_figure_6", "06_confusion_figure_5"):
        assert (run / f"{nb}.ipynb").is_file()
    rec = json.loads((run / "runs" / "H-V_lam2_onOF-Face-endOF" / "metrics.json").read_text())
    assert rec["seeds"] == [0, 1] and rec["n_target_samples"] == 9 and len(rec["per_seed"]) == 2
    assert json.loads((run / "params.json").read_text())["name"] == "smoke-test"
    assert not list(run.rglob(".*partial*"))


@pytest.mark.slow
def test_killed_reproduction_resumes(tmp_path, shared):
    """Kill `madtn reproduce` after its first finished runs (the runs of one task finish together: they train
    stacked in one execution); the rerun keeps them and does the rest."""
    params = _params_file(tmp_path, shared, "resume", jobs=1,
                          experiments={"lambda_tasks": ["H->V", "V->H"], "lambdas": [0.0, 1.0]})
    p = load_params(params)
    specs = grid_for(p, ("fig6",))
    folders = [run_dir_of(p.run_dir, s) for s in specs]
    hashes = {f: run_hash(p, s) for f, s in zip(folders, specs)}
    proc = subprocess.Popen([sys.executable, "-m", "madtn_utils.cli", "reproduce", "--params", str(params), "--only", "fig6"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 600
    while time.time() < deadline and not any(is_finished(f, hashes[f]) for f in folders):
        assert proc.poll() is None, "reproduce ended before it could be killed"
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    finished = {f.name: (f / "metrics.json").stat().st_mtime_ns for f in folders if is_finished(f, hashes[f])}
    assert 1 <= len(finished) < len(folders)
    results = run_grid(params, specs, p.run_dir, jobs=1, progress=False)
    status = {r["run"]: r["status"] for r in results}
    assert {k for k, v in status.items() if v == "done before"} == set(finished)
    assert all(is_finished(f, hashes[f]) for f in folders)
    for name, mtime in finished.items():
        assert (p.run_dir / "runs" / name / "metrics.json").stat().st_mtime_ns == mtime
    assert not list(p.run_dir.rglob(".02_train.partial-*"))


@pytest.mark.slow
def test_grid_on_dask_local_cluster(tmp_path, shared):
    distributed = pytest.importorskip("dask.distributed")
    params = _params_file(tmp_path, shared, "dask", experiments={"lambda_tasks": ["V->N"], "lambdas": [0.0, 2.0]})
    p = load_params(params)
    specs = grid_for(p, ("fig6",))
    from madtn_utils.suite.params import load_domain

    for db in ("smic-vis", "smic-nir"):
        load_domain(p, db)  # warm the cache, as `madtn reproduce` does before the grid
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, host="127.0.0.1", dashboard_address=None,
                                  processes=True) as cluster:
        results = run_grid(params, specs, p.run_dir, scheduler=cluster.scheduler_address, progress=False)
    assert sorted(r["status"] for r in results) == ["executed", "executed"]
    assert all(is_finished(run_dir_of(p.run_dir, s), run_hash(p, s)) for s in specs)


def test_second_reproduce_of_one_run_folder_is_refused(tmp_path):
    from madtn_utils.procs import RunLock as _RunLock

    (tmp_path / "run").mkdir()
    with _RunLock(tmp_path / "run"):
        assert (tmp_path / "run" / ".lock").read_text() == str(os.getpid())
        with pytest.raises(ValueError, match=r"another madtn reproduce \(pid \d+\) is working on this run folder"):
            with _RunLock(tmp_path / "run"):
                pass
    assert not (tmp_path / "run" / ".lock").exists()
    (tmp_path / "run" / ".lock").write_text("999999999")  # a process that is gone: a stale lock is taken over
    with _RunLock(tmp_path / "run"):
        pass


@pytest.mark.slow
def test_preprocess_notebook_runs_with_papermill(tmp_path, shared):
    import papermill as pm

    params = _params_file(tmp_path, shared, "nb01")
    out_dir = tmp_path / "figs"
    pm.execute_notebook(str(ROOT / "notebooks" / "01_preprocess.ipynb"), str(tmp_path / "01.ipynb"),
                        parameters={"params_file": str(params), "database": "smic-vis", "out_dir": str(out_dir),
                                    "flow_method": "dis", "gallery_per_class": 2},
                        cwd=str(ROOT / "notebooks"), progress_bar=False, kernel_name="python3")
    assert (out_dir / "smic-vis_gallery.png").stat().st_size > 0 and (out_dir / "smic-vis_gallery.pdf").is_file()
    summary = json.loads((out_dir / "smic-vis_preprocess.json").read_text())
    assert summary["info"]["samples"] == 9
    # the notebook's flow_method override reached the preprocessing config: the cache key is the DIS one
    import dataclasses

    from madtn_utils.suite.params import load_index
    from madtn_utils.preprocess.cache import cache_key

    p = load_params(params)
    dis = dataclasses.replace(p.preprocess, flow=dataclasses.replace(p.preprocess.flow, method="dis"))
    assert summary["info"]["key"] == cache_key(load_index(p, "smic-vis", quiet=True), dis)
    assert summary["info"]["key"] != cache_key(load_index(p, "smic-vis", quiet=True), p.preprocess)
    rows = {r["class"]: r for r in summary["detector_summary"]}
    assert rows["all"]["samples"] == 9 and rows["all"]["face_found"] + rows["all"]["fallback_centre_crop"] == 9
