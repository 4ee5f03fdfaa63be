"""mmd2_unbiased against a naive double loop, its statistical behaviour, gradients and errors."""

from __future__ import annotations

import math

import pytest
import torch

from madtn_utils.train.mmd import DEFAULT_SIGMAS, mmd2_unbiased


def _k(a, b, sigmas, reduce):
    d2 = float(((a - b) ** 2).sum())
    v = sum(math.exp(-d2 / (2 * s * s)) for s in sigmas)
    return v / len(sigmas) if reduce == "mean" else v


def naive_mmd2(s, t, sigmas=DEFAULT_SIGMAS, reduce="sum", biased=False):
    """Eq. (6) with explicit loops; ``biased=True`` gives the V-statistic (diagonals kept, /m², /n²)."""
    m, n = len(s), len(t)
    kss = sum(_k(s[i], s[j], sigmas, reduce) for i in range(m) for j in range(m) if biased or i != j)
    ktt = sum(_k(t[i], t[j], sigmas, reduce) for i in range(n) for j in range(n) if biased or i != j)
    kst = sum(_k(s[i], t[j], sigmas, reduce) for i in range(m) for j in range(n))
    if biased:
        return kss / m**2 + ktt / n**2 - 2 * kst / (m * n)
    return kss / (m * (m - 1)) + ktt / (n * (n - 1)) - 2 * kst / (m * n)


def _randn(*shape, seed=0, dtype=torch.float64):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


@pytest.mark.parametrize("reduce", ["sum", "mean"])
@pytest.mark.parametrize("m,n", [(9, 9), (7, 12), (2, 5)])
def test_matches_naive_loop_and_differs_from_biased(m, n, reduce):
    s, t = _randn(m, 6, seed=1) * 2.0, _randn(n, 6, seed=2) * 2.0 + 0.5
    got = float(mmd2_unbiased(s, t, reduce=reduce))
    assert got == pytest.approx(naive_mmd2(s, t, reduce=reduce), rel=1e-10, abs=1e-12)
    biased = naive_mmd2(s, t, reduce=reduce, biased=True)
    assert abs(got - biased) > 1e-3


def test_mean_is_sum_over_number_of_kernels():
    s, t = _randn(10, 4, seed=3), _randn(8, 4, seed=4)
    assert float(mmd2_unbiased(s, t, reduce="mean")) == pytest.approx(float(mmd2_unbiased(s, t)) / 5, rel=1e-12)
    one = float(mmd2_unbiased(s, t, sigmas=(2.0,)))
    assert one == pytest.approx(naive_mmd2(s, t, sigmas=(2.0,)), rel=1e-10)


def test_near_zero_on_average_for_one_distribution_and_positive_for_shifted():
    g = torch.Generator().manual_seed(0)
    same, shifted = [], []
    for _ in range(200):
        s = torch.randn(20, 5, generator=g, dtype=torch.float64)
        t = torch.randn(20, 5, generator=g, dtype=torch.float64)
        same.append(float(mmd2_unbiased(s, t)))
        shifted.append(float(mmd2_unbiased(s, t + 1.5)))
    same_t = torch.tensor(same)
    se = float(same_t.std()) / math.sqrt(len(same))
    assert abs(float(same_t.mean())) < 4 * se + 1e-3  # unbiased: zero in expectation
    assert min(same) < 0 < max(same)  # single estimates can be negative
    assert float(torch.tensor(shifted).mean()) > 0.5 and float(torch.tensor(shifted).mean()) > 20 * se


def test_symmetric_in_its_arguments():
    s, t = _randn(11, 3, seed=5), _randn(6, 3, seed=6) + 1.0
    assert float(mmd2_unbiased(s, t)) == pytest.approx(float(mmd2_unbiased(t, s)), rel=1e-12)


def test_float32_agrees_with_float64():
    s, t = _randn(16, 8, seed=7), _randn(12, 8, seed=8) + 0.3
    assert float(mmd2_unbiased(s.float(), t.float())) == pytest.approx(float(mmd2_unbiased(s, t)), abs=1e-5)


def test_gradients_flow_gradcheck():
    s = _randn(5, 3, seed=9).requires_grad_(True)
    t = (_randn(4, 3, seed=10) + 0.5).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda a, b: mmd2_unbiased(a, b, sigmas=(0.5, 1.0, 2.0)), (s, t))
    loss = mmd2_unbiased(s, t)
    loss.backward()
    assert s.grad is not None and t.grad is not None and torch.isfinite(s.grad).all() and s.grad.abs().sum() > 0


def test_identical_rows_give_finite_gradients():
    s = torch.ones(4, 3, dtype=torch.float64, requires_grad=True)
    t = torch.zeros(3, 3, dtype=torch.float64, requires_grad=True)
    mmd2_unbiased(s, t).backward()
    assert torch.isfinite(s.grad).all() and torch.isfinite(t.grad).all()


@pytest.mark.parametrize(
    "s,t,kw,match",
    [
        (torch.zeros(5), torch.zeros(5, 2), {}, r"source_features: expected a 2-D tensor .* got shape \(5,\)"),
        (torch.zeros(5, 2), torch.zeros(2, 3, 2), {}, r"target_features: expected a 2-D tensor .* got shape \(2, 3, 2\)"),
        (torch.zeros(5, 2), torch.zeros(4, 3), {}, r"target_features: expected feature dimension 2 .* got 3"),
        (torch.zeros(1, 2), torch.zeros(4, 2), {}, r"source_features: expected at least 2 rows .* got 1"),
        (torch.zeros(3, 2), torch.zeros(1, 2), {}, r"target_features: expected at least 2 rows .* got 1"),
        (torch.zeros(3, 2, dtype=torch.long), torch.zeros(3, 2), {}, r"floating-point"),
        (torch.zeros(3, 2), torch.zeros(3, 2), {"reduce": "max"}, r"reduce: expected 'sum' or 'mean', got 'max'"),
        (torch.zeros(3, 2), torch.zeros(3, 2), {"sigmas": ()}, r"sigmas: expected one or more positive"),
        (torch.zeros(3, 2), torch.zeros(3, 2), {"sigmas": (1.0, -2.0)}, r"sigmas: expected one or more positive"),
    ],
)
def test_shape_and_argument_errors(s, t, kw, match):
    with pytest.raises(ValueError, match=match):
        mmd2_unbiased(s, t, **kw)
