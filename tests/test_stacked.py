"""Stacked training (issue 12): every run of a stack gives what it gives trained alone.

Equality: ``loop`` stacking bit for bit; ``seeds`` and ``runs`` stacking (stacked networks) within
float rounding: probabilities within PROB_ATOL, history within HIST_ATOL + HIST_RTOL·|x|,
domain gap within GAP_ATOL, the same predictions and metrics, after 2 epochs on 32 px maps.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
import torch

from madtn_utils.suite import runs as runs_mod
from madtn_utils.suite.execute import plan_groups
from madtn_utils.suite.groups import grid_devices, pack_singles
from madtn_utils.suite.params import RunParams
from madtn_utils.suite.spec import RunSpec, group_key, run_config, run_hash
from madtn_utils.train.hparams import TRAIN_VERSION, TrainConfig
from madtn_utils.train.loop import TrainingDivergedError, fit_prepared, train_task
from madtn_utils.train.stacked import fit_stacked, prepare_members
from madtn_utils.train.streams import STREAMS, stream_seed

from test_train import synth_domain
from tiny import full_disk_in

PROB_ATOL, HIST_ATOL, HIST_RTOL, GAP_ATOL = 1e-4, 1e-5, 1e-4, 1e-5
BASE = TrainConfig(epochs=2, batch_size=16, widths=(4, 8, 8), fc_dim=16, device="cpu")
#: Three runs of one task: (config changes, seeds): λ, components, control and seeds differ.
RUNS = [({"lam": 2.0}, [0, 1]), ({"lam": 0.0, "components": "Face"}, [0]),
        ({"lam": 8.0, "control": "flip_mmd", "components": "onOF-endOF"}, [2])]


@pytest.fixture(scope="module")
def domains():
    return synth_domain("smic-hs", shift=False, seed=1, n_per_class=8), synth_domain("smic-vis", shift=True, seed=2, n_per_class=6)


def _runs(stacking: str, **common):
    return [(dataclasses.replace(BASE, stacking=stacking, **common, **kw), seeds, f"run{i}") for i, (kw, seeds) in enumerate(RUNS)]


def _assert_same(alone, stacked, exact: bool) -> None:
    assert (alone.task, alone.seed, alone.config) == (stacked.task, stacked.seed, stacked.config)
    if exact:
        pd.testing.assert_frame_equal(alone.predictions, stacked.predictions)
        pd.testing.assert_frame_equal(alone.history, stacked.history)
        assert alone.gap == stacked.gap and alone.metrics == stacked.metrics
        return
    pd.testing.assert_frame_equal(alone.predictions.drop(columns=["p_positive", "p_negative", "p_surprise"]),
                                  stacked.predictions.drop(columns=["p_positive", "p_negative", "p_surprise"]))
    pa, ps = (r.predictions.filter(like="p_").to_numpy() for r in (alone, stacked))
    assert np.abs(pa - ps).max() <= PROB_ATOL
    ha, hs = (r.history.to_numpy(np.float64) for r in (alone, stacked))
    assert list(alone.history.columns) == list(stacked.history.columns)
    assert (np.abs(ha - hs) <= HIST_ATOL + HIST_RTOL * np.abs(ha)).all(), np.abs(ha - hs).max()
    assert alone.metrics == stacked.metrics
    assert alone.gap.keys() == stacked.gap.keys()
    assert all(abs(alone.gap[k] - stacked.gap[k]) <= GAP_ATOL for k in alone.gap if k.endswith(("mmd2_median", "median_d2")))
    assert all(abs(alone.gap[k] - stacked.gap[k]) <= 0.05 for k in alone.gap if k.endswith("bacc"))  # a fold may flip


@pytest.mark.parametrize("stacking", ["loop", "seeds", "runs"])
def test_every_run_of_a_stack_equals_the_run_alone(domains, stacking):
    src, tgt = domains
    runs = _runs(stacking)
    stacked = fit_stacked(prepare_members(src, tgt, runs), tgt)
    assert len(stacked) == 4
    k = 0
    for cfg, seeds, _ in runs:
        for seed in seeds:
            _assert_same(train_task(src, tgt, cfg, seed=seed), stacked[k], exact=stacking == "loop")
            k += 1
    assert stacked[0].metrics != stacked[1].metrics or not stacked[0].predictions.equals(stacked[1].predictions)


def test_grouped_stack_in_nchw_equals_the_runs_alone_in_nchw(domains):
    src, tgt = domains
    runs = _runs("runs", channels_last=False)[:2]
    stacked = fit_stacked(prepare_members(src, tgt, runs), tgt)
    for (cfg, seed), result in zip([(c, s) for c, ss, _ in runs for s in ss], stacked):
        _assert_same(train_task(src, tgt, cfg, seed=seed), result, exact=False)


def test_a_seeds_stack_gives_the_same_numbers_whatever_runs_are_pending(domains):
    """``seeds``: a run's stack is its own seeds, so it gives the same numbers alone or beside other runs."""
    src, tgt = domains
    runs = _runs("seeds")
    together = fit_stacked(prepare_members(src, tgt, runs), tgt)
    alone = fit_stacked(prepare_members(src, tgt, runs[:1]), tgt)
    for a, b in zip(alone, together[:2]):
        _assert_same(a, b, exact=True)


def test_stacks_need_one_task_and_split_by_shared_settings(domains):
    src, tgt = domains
    cfgs = [dataclasses.replace(BASE, stacking="runs"), dataclasses.replace(BASE, stacking="runs", mmd_kernel="median")]
    members = prepare_members(src, tgt, [(c, [0], f"r{i}") for i, c in enumerate(cfgs)])
    results = fit_stacked(members, tgt)  # two stacks (the kernels differ), each equal to its run alone
    for cfg, r in zip(cfgs, results):
        _assert_same(train_task(src, tgt, cfg, seed=0), r, exact=False)
    other = prepare_members(tgt, src, [(BASE, [0], "reverse")])
    with pytest.raises(ValueError, match=r"members: expected one task and one data"):
        fit_stacked(members[:1] + other, tgt)
    with pytest.raises(ValueError, match="at least one run"):
        fit_stacked([], tgt)


@pytest.mark.parametrize("stacking", ["loop", "runs"])
def test_a_diverging_member_stops_the_stack_with_its_own_message(domains, stacking):
    src, tgt = domains
    cfg = dataclasses.replace(BASE, stacking=stacking)
    runs = [(cfg, [0], "H->V (steady)"), (dataclasses.replace(cfg, lam=1e30), [0], "H->V (wild)")]  # loss > 1e6 at once
    with pytest.raises(TrainingDivergedError, match=r"^H->V \(wild\) seed 0: the training loss .* in epoch 1 .*λ=1e\+30"):
        fit_stacked(prepare_members(src, tgt, runs), tgt)


def test_preparing_a_variant_leaves_the_callers_maps_alone(domains):
    """Zeroing a variant's channels on the CPU once zeroed them in the caller's arrays too (shared memory): the
    full map prepared after Face in one process trained on Face only."""
    src, tgt = domains
    before = src.train_maps.copy(), tgt.test_maps.copy()
    face, full = prepare_members(src, tgt, [(dataclasses.replace(BASE, components="Face"), [0], "a"), (BASE, [0], "b")])
    assert np.array_equal(src.train_maps, before[0]) and np.array_equal(tgt.test_maps, before[1])
    assert int(face.prepared.source_maps[:, 0].max()) == 0 < int(full.prepared.source_maps[:, 0].max())


def test_streams_have_their_own_seeds_and_the_version_enters_the_hash():
    seeds = {stream_seed(s, name) for s in range(3) for name in STREAMS}
    assert len(seeds) == 3 * len(STREAMS) and not seeds & {0, 1, 2}
    cfg = run_config(RunParams(), RunSpec("H->V", 2.0))
    assert cfg["train_version"] == TRAIN_VERSION >= 2 and cfg["train"]["stacking"] == "auto"


def test_runs_group_by_task_and_data():
    specs = [RunSpec("C->H", 2.0), RunSpec("C->H", 0.0, "Face"), RunSpec("C->H", 2.0, overrides={"train.mmd_kernel": "median"}),
             RunSpec("C->H", 2.0, overrides={"preprocess.apex": "onset"}), RunSpec("H->N", 2.0)]
    assert len({group_key(s) for s in specs}) == 3
    groups = plan_groups(specs)
    assert [len(g) for g in groups] == [3, 1, 1] and groups[0] == specs[:3]
    assert sorted(len(g) for g in plan_groups(specs, jobs=3)) == [1, 1, 1, 2]  # 4 < 6 chunks, but ceil(5/6) = 1 < 4 runs
    two = [RunSpec(t, float(x)) for t in ("C->H", "H->C") for x in range(14)]  # the real study: 2 tasks of 14 runs
    assert [len(g) for g in plan_groups(two, jobs=2)] == [7, 7, 7, 7] and sum(plan_groups(two, jobs=2), []) == two
    assert [len(g) for g in plan_groups(two, jobs=1)] == [14, 14]
    singles = [RunSpec(t, 2.0) for t in ("H->V", "V->H", "N->H", "V->N", "N->V", "H->C", "V->C", "C->N", "N->C")]
    chunks = plan_groups(two[:6] + singles, jobs=2)  # the smoke grid's shape: one task of 6 runs, 9 tasks of one
    assert [len(c) for c in chunks] == [6] + [1] * 9
    packed = pack_singles(chunks, jobs=2)
    assert [len(c) for c in packed] == [6, 3, 3, 3]  # ceil(15 / 4) = 4 runs at most, split evenly
    assert sorted(map(repr, sum(packed, []))) == sorted(map(repr, two[:6] + singles))
    assert pack_singles(plan_groups(two, jobs=2), jobs=2) == plan_groups(two, jobs=2)  # no one-run chunk: unchanged
    assert sum(plan_groups(specs, jobs=8), []) and all(len(g) == 1 for g in plan_groups(specs, jobs=8))


def test_on_cuda_one_worker_per_gpu_each_pinned(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert grid_devices("auto", 16) == (2, ["0", "1"]) and grid_devices("cuda", 1) == (1, ["0"])
    assert grid_devices("cuda:1", 16) == (1, None) and grid_devices("cpu", 3) == (3, None)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    assert grid_devices("auto", 4) == (2, ["3", "5"])


def test_train_runs_writes_each_run_as_alone(tmp_path, domains, monkeypatch):
    """Three runs through train_runs (the notebook's call): each folder as train_run alone writes it."""
    src, tgt = domains
    monkeypatch.setattr(runs_mod, "load_domain", lambda p, db: ({"smic-hs": src, "smic-vis": tgt}[db], None,
                                                                 {"folder": f"cache/{db}"}))
    params = RunParams(seeds=(0, 1), train=dataclasses.replace(BASE, stacking="loop"))
    runs = [{"lam": 2.0, "out_dir": str(tmp_path / "a")}, {"lam": 0.0, "components": "Face", "out_dir": str(tmp_path / "b")},
            {"overrides": {"train.control": "flip_mmd"}, "out_dir": str(tmp_path / "c")}]
    records = runs_mod.train_runs(params, source="H", target="V", runs=runs)
    for run, rec in zip(runs, records):
        alone = runs_mod.train_run(params, source="H", target="V", lam=run.get("lam"), components=run.get("components"),
                                   overrides=run.get("overrides"), out_dir=tmp_path / "alone")
        spec = RunSpec("H->V", alone["lam"], alone["components"], tuple(alone["overrides"].items()))
        assert rec["run_hash"] == alone["run_hash"] == run_hash(params, spec)
        assert rec["per_seed"] == [{**s, "seconds": r["seconds"]} for s, r in zip(alone["per_seed"], rec["per_seed"])]
        for name in ("predictions.csv", "history.csv"):
            assert (tmp_path / run["out_dir"] / name).read_text() == (tmp_path / "alone" / name).read_text()
        assert json.loads((tmp_path / run["out_dir"] / "metrics.json").read_text())["stacking"]["runs"] == 3
    with pytest.raises(ValueError, match=r"needs other data or preprocessing"):
        runs_mod.train_runs(params, source="H", target="V", runs=[{}, {"overrides": {"preprocess.apex": "onset"}}])


def test_runs_of_several_tasks_train_per_task_each_as_alone(tmp_path, domains, monkeypatch):
    """The packed one-run tasks of the grid (02_train's train_runs_of_tasks): runs naming their own task train
    with the runs of their task and data only, each as alone; the records come back in the order given."""
    src, tgt = domains
    monkeypatch.setattr(runs_mod, "load_domain", lambda p, db: ({"smic-hs": src, "smic-vis": tgt, "smic-nir": tgt}[db],
                                                                 None, {"folder": f"cache/{db}"}))
    params = RunParams(seeds=(0,), train=dataclasses.replace(BASE, stacking="loop"))
    runs = [{"lam": 2.0, "out_dir": str(tmp_path / "a")}, {"lam": 2.0, "target": "N", "out_dir": str(tmp_path / "b")},
            {"lam": 0.0, "source": "H", "target": "V", "out_dir": str(tmp_path / "c")}]
    given = [dict(r) for r in runs]
    records = runs_mod.train_runs_of_tasks(params, source="H", target="V", runs=runs)
    assert runs == given  # the caller's mappings are not changed
    assert [(r["task"], r["lam"], r["stacking"]["runs"]) for r in records] == [("H->V", 2.0, 2), ("H->N", 2.0, 1),
                                                                               ("H->V", 0.0, 2)]
    for run, rec in zip(runs, records):
        alone = runs_mod.train_run(params, source="H", target=run.get("target", "V"), lam=run["lam"],
                                   out_dir=tmp_path / "alone")
        assert rec["run_hash"] == alone["run_hash"] and rec["out_dir"] == run["out_dir"]
        for name in ("predictions.csv", "history.csv"):
            assert (tmp_path / run["out_dir"] / name).read_text() == (tmp_path / "alone" / name).read_text()
    with pytest.raises(ValueError, match=r"runs: expected at least one run to train, got none"):
        runs_mod.train_runs_of_tasks(params, source="H", target="V", runs=[])


def test_a_write_error_rescues_that_run_and_writes_the_others(tmp_path, domains, monkeypatch):
    from pathlib import Path

    src, tgt = domains
    monkeypatch.setattr(runs_mod, "load_domain", lambda p, db: ({"smic-hs": src, "smic-vis": tgt}[db], None, {"folder": db}))
    full_disk_in(monkeypatch, tmp_path / "b")
    params = RunParams(seeds=(0,), train=BASE)
    runs = [{"lam": 1.0, "out_dir": str(tmp_path / d)} for d in "abc"]
    with pytest.raises(ValueError, match=r"^out_dir '.*/b': writing the results failed \(No space left on device\); "
                                         r"the finished run was saved to (\S+) instead") as info:
        runs_mod.train_runs(params, source="H", target="V", runs=[{**r, "lam": x} for r, x in zip(runs, (1.0, 2.0, 3.0))])
    assert (tmp_path / "a" / "metrics.json").is_file() and (tmp_path / "c" / "metrics.json").is_file()
    rescue = Path(str(info.value).split("saved to ")[1].split(" instead")[0])
    assert json.loads((rescue / "metrics.json").read_text())["lam"] == 2.0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("stacking", ["seeds", "runs"])
def test_cuda_stacks_equal_the_runs_alone_and_options_run(domains, stacking):
    src, tgt = domains
    runs = [(dataclasses.replace(c, device="cuda"), s, n) for c, s, n in _runs(stacking)]
    stacked = fit_stacked(prepare_members(src, tgt, runs), tgt)
    k = 0
    for cfg, seeds, _ in runs:
        for seed in seeds:
            _assert_same(train_task(src, tgt, dataclasses.replace(cfg, stacking="loop"), seed=seed), stacked[k], exact=False)
            k += 1
    before = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    fast = dataclasses.replace(runs[0][0], autocast="bf16", tf32=True, channels_last=True)
    for cfg in (fast, dataclasses.replace(fast, stacking="loop")):
        out = fit_stacked(prepare_members(src, tgt, [(cfg, [0, 1], "fast")]), tgt)
        assert all(np.isfinite(r.history[["ce", "mmd2"]].to_numpy()).all() for r in out)
    assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32) == before
    assert fit_prepared  # the single-run path is what train_task runs
