"""train_task on small synthetic domains: learning, determinism, target-label blindness, errors."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch

from madtn_utils.config import from_dict, to_dict
from madtn_utils.preprocess.domain import DomainData
from madtn_utils.train.hparams import TrainConfig
from madtn_utils.train.loop import prepare_task, train_seeds, train_task
from madtn_utils.train.metrics import summarize
from madtn_utils.train.tasks import TASKS, parse_task, task_name

SIZE = 32
#: class -> (row, col) of a horizontal oriented blob in channels 0 and 2.
CENTRES = {0: (9, 9), 1: (9, 23), 2: (23, 16)}


def synth_domain(name: str, *, shift: bool, seed: int, n_per_class: int = 20, apexes: int = 2) -> DomainData:
    """3 balanced classes; the class is where an elongated blob sits in the two flow channels.
    The face channel is texture. ``shift`` gives the target domain: lower contrast, brighter, noisier."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(float)
    labels = np.repeat(np.arange(3), n_per_class)

    def one(c):
        r0, c0 = np.array(CENTRES[c]) + rng.normal(0, 1, 2)
        blob = np.exp(-(((yy - r0) / 2.0) ** 2 + ((xx - c0) / 4.0) ** 2) / 2)
        m = np.stack([200 * blob, 100 + 30 * rng.standard_normal((SIZE, SIZE)), 160 * blob])
        m = 0.6 * m + 50 + rng.normal(0, 12, m.shape) if shift else m + rng.normal(0, 4, m.shape)
        return np.clip(m, 0, 255).astype(np.uint8)

    test = np.stack([one(c) for c in labels])
    train = np.stack([one(c) for c in labels for _ in range(apexes)])
    n = len(labels)
    return DomainData(name, train, np.repeat(np.arange(n), apexes), test, labels,
                      tuple(f"s{i // 6}/{name}_{i:02d}" for i in range(n)), tuple(f"s{i // 6}" for i in range(n)))


CFG = TrainConfig(epochs=5, batch_size=16, device="cpu")


@pytest.fixture(scope="module")
def domains():
    return synth_domain("smic-hs", shift=False, seed=1), synth_domain("smic-vis", shift=True, seed=2)


@pytest.fixture(scope="module")
def result(domains):
    return train_task(*domains, CFG, seed=0)


def test_learns_above_chance_on_the_shifted_target(result, domains):
    assert result.task == "H->V" and result.seed == 0
    assert result.metrics["accuracy"] > 0.5 and result.metrics["mean_f1"] > 0.4
    assert 0 <= result.metrics["uar"] <= 1 and np.array(result.metrics["confusion"]).sum() == len(domains[1])
    h = result.history
    assert list(h.columns) == ["epoch", "ce", "mmd2", "loss", "median_d2", "k_sigma1", "k_sigma2", "k_sigma4", "k_sigma8",
                               "k_sigma16"] and h["epoch"].tolist() == [1, 2, 3, 4, 5]
    assert np.isfinite(h[["ce", "mmd2", "loss"]].to_numpy()).all() and h["ce"].iloc[-1] < h["ce"].iloc[0]
    assert np.allclose(h["loss"], h["ce"] + 2.0 * h["mmd2"], atol=1e-5)
    p = result.predictions
    assert len(p) == len(domains[1]) and p["sample_id"].tolist() == list(domains[1].sample_ids)
    assert {"subject", "label", "pred", "p_positive", "p_negative", "p_surprise"} <= set(p.columns)
    assert np.allclose(p[["p_positive", "p_negative", "p_surprise"]].sum(axis=1), 1, atol=1e-5)
    assert (p["label"].to_numpy() == domains[1].labels).all() and result.seconds > 0
    assert result.config["lam"] == 2.0


def test_same_seed_gives_identical_results(result, domains):
    again = train_task(*domains, CFG, seed=0)
    assert again.metrics == result.metrics
    pd.testing.assert_frame_equal(again.predictions, result.predictions)
    pd.testing.assert_frame_equal(again.history, result.history)


def test_target_labels_cannot_influence_training(result, domains):
    src, tgt = domains
    perm = np.random.default_rng(5).permutation(len(tgt))
    scrambled = dataclasses.replace(tgt, labels=tgt.labels[perm])
    other = train_task(src, scrambled, CFG, seed=0)
    cols = ["sample_id", "pred", "p_positive", "p_negative", "p_surprise"]
    pd.testing.assert_frame_equal(other.predictions[cols], result.predictions[cols])
    assert (other.predictions["label"].to_numpy() == tgt.labels[perm]).all()


def test_train_seeds_matches_train_task_and_summarize(domains):
    cfg = dataclasses.replace(CFG, epochs=1)
    runs = train_seeds(*domains, cfg, seeds=[3, 4])
    assert [r.seed for r in runs] == [3, 4]
    pd.testing.assert_frame_equal(runs[1].predictions, train_task(*domains, cfg, seed=4).predictions)
    s = summarize(runs)
    acc = [r.metrics["accuracy"] for r in runs]
    assert s["task"] == "H->V" and s["seeds"] == [3, 4]
    assert s["accuracy"]["mean"] == pytest.approx(np.mean(acc)) and s["accuracy"]["std"] == pytest.approx(np.std(acc, ddof=1))
    assert set(s) >= {"mean_f1", "uar", "confusion"} and np.array(s["confusion"]).sum() == 2 * len(domains[1])
    assert summarize(runs[:1])["accuracy"]["std"] == 0.0
    with pytest.raises(ValueError, match="at least one"):
        train_seeds(*domains, cfg, seeds=[])
    no_mmd = train_task(*domains, dataclasses.replace(cfg, lam=0.0), seed=4)  # the MMD term does steer training
    assert not np.allclose(no_mmd.predictions["p_positive"], runs[1].predictions["p_positive"])


def test_global_state_is_restored(domains):
    torch.manual_seed(123)
    rng_before = torch.get_rng_state()
    det_before = torch.are_deterministic_algorithms_enabled()
    train_task(*domains, dataclasses.replace(CFG, epochs=1), seed=0)
    assert torch.equal(torch.get_rng_state(), rng_before)
    assert torch.are_deterministic_algorithms_enabled() == det_before


def test_components_zeroed_on_device_and_source_normalisation(domains):
    cfg = dataclasses.replace(CFG, components="Face", normalize="source")
    prep = prepare_task(*domains, cfg)
    assert prep.source_maps.dtype == torch.uint8 and prep.source_maps.device.type == "cpu"
    assert int(prep.source_maps[:, [0, 2]].max()) == 0 and int(prep.target_maps[:, [0, 2]].max()) == 0
    x = prep.to_float(prep.source_maps)
    assert abs(float(x[:, 1].mean())) < 1e-3 and float(x[:, 1].std()) == pytest.approx(1.0, abs=1e-3)
    assert float(x[:, [0, 2]].abs().max()) == 0.0
    assert not hasattr(prep, "target_labels")  # what training sees holds no target labels


def test_task_names():
    assert len(TASKS) == 12 and len(set(TASKS)) == 12
    assert parse_task("H->V") == ("smic-hs", "smic-vis") and parse_task("C→N") == ("casme2", "smic-nir")
    assert all(task_name(*parse_task(t)) == t for t in TASKS)
    with pytest.raises(ValueError, match=r"unknown task 'H->H': expected one of H->V, V->H, .*N->C"):
        parse_task("H->H")
    with pytest.raises(ValueError, match=r"unknown task 'X->V'"):
        parse_task("X->V")
    with pytest.raises(ValueError, match=r"target database: expected one of casme2, .* got 'mmew'"):
        task_name("casme2", "mmew")


def test_source_equal_to_target_and_bad_inputs_are_errors(domains):
    src, tgt = domains
    with pytest.raises(ValueError, match="source and target are both 'smic-hs'"):
        train_task(src, src, CFG, seed=0)
    tiny = synth_domain("smic-vis", shift=True, seed=3, n_per_class=1)
    one = dataclasses.replace(tiny, test_maps=tiny.test_maps[:1], labels=tiny.labels[:1], sample_ids=tiny.sample_ids[:1],
                              subjects=tiny.subjects[:1], train_maps=tiny.train_maps[:2], train_index=np.zeros(2, np.int64))
    with pytest.raises(ValueError, match="smic-vis.test_maps: expected at least 2 maps"):
        train_task(src, one, CFG, seed=0)
    with pytest.raises(ValueError, match="seed: expected an integer >= 0"):
        train_task(src, tgt, CFG, seed=-1)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            train_task(src, tgt, dataclasses.replace(CFG, device="cuda"), seed=0)


def test_config_round_trip_and_validation():
    cfg = from_dict(TrainConfig, {"lam": 0, "epochs": 3, "sigmas": [1, 2], "mmd_layer": "conv3"})
    assert cfg.lam == 0.0 and cfg.sigmas == (1.0, 2.0) and from_dict(TrainConfig, to_dict(cfg)) == cfg
    d = TrainConfig()
    assert (d.lam, d.lr, d.rotation_deg, d.sigmas, d.kernel_reduce, d.mmd_layer, d.device) == (
        2.0, 2e-4, 30.0, (1.0, 2.0, 4.0, 8.0, 16.0), "sum", "fc1", "auto")
    for bad, match in [({"epochs": 0}, "trainconfig.epochs"), ({"batch_size": 1}, "trainconfig.batch_size"),
                       ({"components": "face"}, "trainconfig.components"), ({"mmd_layer": "fc2"}, "trainconfig.mmd_layer"),
                       ({"lam": -1}, "trainconfig.lam"), ({"batsh_size": 8}, "unknown key 'batsh_size'")]:
        with pytest.raises(ValueError, match=match):
            from_dict(TrainConfig, bad)
