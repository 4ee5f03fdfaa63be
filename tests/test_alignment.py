"""train.alignment (issue 20, item 1): each loss against an independent computation, its history columns,
λ = 0 training exactly as the MMD's λ = 0, the sign flip, stacking, and the run hash of existing settings.

Independent computations: CORAL against numpy's covariance; JMMD against a float64 double loop over the
pairs; the gradient-reversal layer by the sign and scale of its gradient; the history's ``align`` and
``grl_weight`` against the losses and schedule recomputed from the features each step saw.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
import torch

from madtn_utils.config import config_hash, from_dict
from madtn_utils.suite.params import RunParams, override
from madtn_utils.suite.spec import RunSpec, run_config, run_hash, run_slug
from madtn_utils.train import loop
from madtn_utils.train.coral import coral_loss
from madtn_utils.train.dann import DomainClassifier, domain_loss, grad_reverse, reversal_weight
from madtn_utils.train.hparams import ALIGNMENTS, TrainConfig
from madtn_utils.train.jmmd import SOFTMAX_BANDWIDTH, jmmd2_unbiased
from madtn_utils.train.mmd import MEDIAN_EXPONENTS
from madtn_utils.train.observe import history_columns
from madtn_utils.train.stacked import fit_stacked, prepare_members

from test_stacked import PROB_ATOL, _assert_same
from test_train import synth_domain

BASE = TrainConfig(epochs=2, batch_size=16, widths=(4, 8, 8), fc_dim=16, device="cpu", lr=2e-3)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def domains():
    return synth_domain("smic-hs", shift=False, seed=1, n_per_class=8), synth_domain("smic-vis", shift=True, seed=2, n_per_class=6)


def _randn(*shape, seed):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


# --- the losses against independent computations --------------------------------------------------

@pytest.mark.parametrize("m,n,d", [(9, 7, 4), (2, 5, 3), (30, 12, 16)])
def test_coral_matches_numpy(m, n, d):
    s, t = _randn(m, d, seed=1) * 2.0, _randn(n, d, seed=2) @ _randn(d, d, seed=3) + 1.0
    cs, ct = np.cov(s.numpy(), rowvar=False), np.cov(t.numpy(), rowvar=False)
    want = ((cs - ct) ** 2).sum() / (4 * d * d)
    assert float(coral_loss(s, t)) == pytest.approx(want, rel=1e-12)
    batched = coral_loss(torch.stack([s, 2 * s]), torch.stack([t, t]))  # the stacked path: one per run
    assert float(batched[0]) == pytest.approx(want, rel=1e-12)
    assert float(batched[1]) == pytest.approx(((4 * cs - ct) ** 2).sum() / (4 * d * d), rel=1e-12)
    assert torch.autograd.gradcheck(coral_loss, (s[:5].clone().requires_grad_(), t[:4].clone().requires_grad_()))


def _jmmd_loop(fs, ft, ps, pt, sigma2s, reduce):
    """Unbiased JMMD² by explicit loops over the pairs, float64."""
    f, p = np.concatenate([fs, ft]), np.concatenate([ps, pt])
    m, n = len(fs), len(ft)

    def k(i, j):
        d2 = float(((f[i] - f[j]) ** 2).sum())
        kf = sum(math.exp(-d2 / (2 * s2)) for s2 in sigma2s) / (len(sigma2s) if reduce == "mean" else 1)
        return kf * math.exp(-float(((p[i] - p[j]) ** 2).sum()) / 1.68)

    kss = sum(k(i, j) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    ktt = sum(k(i, j) for i in range(m, m + n) for j in range(m, m + n) if i != j) / (n * (n - 1))
    kst = sum(k(i, j) for i in range(m) for j in range(m, m + n)) / (m * n)
    return kss + ktt - 2 * kst


@pytest.mark.parametrize("kernel,reduce", [("fixed", "sum"), ("fixed", "mean"), ("median", "sum")])
def test_jmmd_matches_a_float64_double_loop(kernel, reduce):
    fs, ft = _randn(7, 5, seed=4) * 2, _randn(6, 5, seed=5) * 2 + 0.7
    ps, pt = torch.softmax(_randn(7, 3, seed=6) * 2, 1), torch.softmax(_randn(6, 3, seed=7) * 2, 1)
    if kernel == "median":
        x = torch.cat([fs, ft]).numpy()
        d2 = sorted(float(((x[i] - x[j]) ** 2).sum()) for i in range(13) for j in range(i + 1, 13))
        sigma2s = [d2[(len(d2) - 1) // 2] * 2.0**k for k in MEDIAN_EXPONENTS]
    else:
        sigma2s = [s * s for s in (1.0, 2.0, 4.0, 8.0, 16.0)]
    got = float(jmmd2_unbiased(fs, ft, ps, pt, reduce=reduce, kernel=kernel))
    assert got == pytest.approx(_jmmd_loop(fs.numpy(), ft.numpy(), ps.numpy(), pt.numpy(), sigma2s, reduce), rel=1e-10)
    assert SOFTMAX_BANDWIDTH == 1.68
    same = jmmd2_unbiased(fs, fs.flip(0), ps, ps.flip(0))  # one joint sample: the unbiased estimate is not positive
    assert float(same) <= 1e-12


def test_gradient_reversal_sign_and_scale():
    x = _randn(4, 3, seed=8).requires_grad_(True)
    c = _randn(4, 3, seed=9)
    y = grad_reverse(x, 0.37)
    assert torch.equal(y, x)  # the identity forward
    (y * c).sum().backward()
    assert torch.allclose(x.grad, -0.37 * c, rtol=0, atol=1e-15)
    # through the domain classifier: the features' gradient is -w times the plain one, the classifier's is as plain
    torch.manual_seed(0)
    clf = DomainClassifier(3).double()
    plain, grads = [], []
    for w in (None, 0.5, -2.0):
        clf.zero_grad()
        f = _randn(6, 3, seed=10).requires_grad_(True)
        if w is None:
            labels = torch.tensor([0.0] * 2 + [1.0] * 4, dtype=torch.float64)
            torch.nn.functional.binary_cross_entropy_with_logits(clf(f), labels).backward()
        else:
            domain_loss(clf, f, 2, w)[0].backward()
        grads.append((f.grad.clone(), clf.net[0].weight.grad.clone()))
    assert torch.allclose(grads[1][0], -0.5 * grads[0][0], atol=1e-15) and torch.allclose(grads[2][0], 2.0 * grads[0][0], atol=1e-15)
    assert all(torch.allclose(g[1], grads[0][1], atol=1e-15) for g in grads[1:])


def test_the_reversal_schedule():
    ps = np.linspace(0, 1, 11)
    ws = [reversal_weight(p) for p in ps]
    assert ws[0] == 0.0 and ws[-1] == pytest.approx(2 / (1 + math.exp(-10)) - 1) and np.all(np.diff(ws) > 0)
    with pytest.raises(ValueError, match=r"progress: expected the training progress in \[0, 1\], got 1.5"):
        reversal_weight(1.5)


# --- in training --------------------------------------------------------------------------------

def _spy(monkeypatch):
    seen, real = [], loop.objective

    def spy(feats, logits, ys, config, domain=None):
        seen.append((feats.detach().double().clone(), logits.detach().double().clone(), len(ys),
                     None if domain is None else domain[1]))
        return real(feats, logits, ys, config) if domain is None else real(feats, logits, ys, config, domain)

    monkeypatch.setattr(loop, "objective", spy)
    return seen


@pytest.mark.parametrize("alignment", ["coral", "jmmd", "dann"])
def test_history_logs_the_alignment_loss(monkeypatch, domains, alignment):
    cfg = dataclasses.replace(BASE, alignment=alignment, lam=3.0)
    seen = _spy(monkeypatch)
    hist = loop.train_task(*domains, cfg, seed=0).history
    assert list(hist.columns) == history_columns(cfg) and hist.columns[4] == "align"
    steps = len(seen) // 2
    if alignment == "dann":  # loss = CE + λ·L_d; the signed weight follows the schedule, p = step / all steps
        assert [s[3] for s in seen] == [i / (2 * steps) for i in range(2 * steps)]
        want = [np.mean([reversal_weight(i / (2 * steps)) for i in range(e * steps, (e + 1) * steps)]) for e in (0, 1)]
        assert np.allclose(hist["grl_weight"], want, rtol=1e-6)
        assert np.allclose(hist["loss"], hist["ce"] + 3.0 * hist["align"], rtol=1e-5)
        assert ((hist["domain_acc"] >= 0) & (hist["domain_acc"] <= 1)).all()
        return
    for epoch in (0, 1):
        ref = []
        for feats, logits, m, _ in seen[epoch * steps:(epoch + 1) * steps]:
            f, p = feats.numpy(), torch.softmax(logits, 1).numpy()
            if alignment == "coral":
                d = f.shape[1]
                ref.append(((np.cov(f[:m], rowvar=False) - np.cov(f[m:], rowvar=False)) ** 2).sum() / (4 * d * d))
            else:
                ref.append(_jmmd_loop(f[:m], f[m:], p[:m], p[m:], [s * s for s in cfg.sigmas], "sum"))
        # float32 training: CORAL to 1e-5 relative; JMMD, a difference of kernel sums near 5 each, to the MMD's tolerance
        tol = dict(rel=1e-5, abs=0) if alignment == "coral" else dict(rel=2e-4, abs=1e-6)
        assert hist["align"].iloc[epoch] == pytest.approx(np.mean(ref), **tol) and np.mean(ref) != 0
    assert np.allclose(hist["loss"], hist["ce"] + 3.0 * hist["align"], rtol=1e-5, atol=1e-7)


def test_at_lambda_0_every_alignment_trains_as_the_mmd(domains):
    """The alignment acts only through λ: at λ = 0 the four give the same predictions (the DANN classifier's
    own stream leaves the network's initialisation, batches and dropout as they were)."""
    cfg = dataclasses.replace(BASE, lam=0.0)
    ref = loop.train_task(*domains, cfg, seed=1)
    for alignment in ALIGNMENTS[1:]:
        other = loop.train_task(*domains, dataclasses.replace(cfg, alignment=alignment), seed=1)
        probs = [r.predictions.filter(like="p_").to_numpy() for r in (ref, other)]
        assert np.abs(probs[0] - probs[1]).max() <= 1e-6, alignment
        pd.testing.assert_series_equal(ref.history["ce"], other.history["ce"], rtol=1e-6)
    at2 = loop.train_task(*domains, dataclasses.replace(cfg, lam=2.0, alignment="dann"), seed=1)
    assert not np.allclose(at2.predictions["p_positive"], ref.predictions["p_positive"], atol=1e-6)


def test_the_flipped_sign_reverses_the_alignment(domains):
    flip = dataclasses.replace(BASE, control="flip_mmd", epochs=1)
    dann = loop.train_task(*domains, dataclasses.replace(flip, alignment="dann"), seed=0).history
    assert dann["grl_weight"].iloc[0] < 0
    coral = loop.train_task(*domains, dataclasses.replace(flip, alignment="coral", lam=2.0), seed=0).history
    assert coral["loss"].iloc[0] == pytest.approx(coral["ce"].iloc[0] - 2.0 * coral["align"].iloc[0], rel=1e-6)


@pytest.mark.parametrize("alignment", ["coral", "jmmd", "dann"])
def test_a_seeds_stack_equals_the_runs_alone(domains, alignment):
    src, tgt = domains
    cfg = dataclasses.replace(BASE, alignment=alignment, stacking="seeds")
    stacked = fit_stacked(prepare_members(src, tgt, [(cfg, [0, 1], "run")]), tgt)
    for seed, result in zip((0, 1), stacked):  # dann trains as loop: exact
        _assert_same(loop.train_task(src, tgt, cfg, seed=seed), result, exact=alignment == "dann")
    assert PROB_ATOL == 1e-4


# --- config and hash --------------------------------------------------------------------------------

def test_the_option_reaches_the_run_and_leaves_existing_hashes_alone():
    p, plain = override(RunParams(), {"train.autocast": "off"}), RunSpec("C->H", 2.0)
    # pinned: the hash of the training section of the run config before train.alignment and train.save_model
    # existed (commit f14d679, where autocast's default was off); the rest of the run hash (data,
    # preprocessing) and the other options' defaults are other code's business
    assert config_hash(run_config(p, plain)["train"]) == "d38fcdaba850e6d3"
    assert run_hash(override(p, {"train.save_model": True}), plain) == run_hash(p, plain)
    coral = RunSpec("C->H", 2.0, overrides={"train.alignment": "coral"})
    assert run_config(p, coral)["train"]["alignment"] == "coral" and run_hash(p, coral) != run_hash(p, plain)
    assert run_slug(coral) == "C-H_lam2_onOF-Face-endOF_alignment-coral"
    assert from_dict(TrainConfig, {"alignment": "jmmd"}).alignment == "jmmd"
    with pytest.raises(ValueError, match=r"^params.train.alignment: expected one of 'mmd', 'coral', 'dann', 'jmmd', got 'mdd'$"):
        override(p, {"train.alignment": "mdd"})
