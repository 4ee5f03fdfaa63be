"""The network's shapes and options, the batched rotation, and the metrics against hand counts."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from madtn_utils.train.augment import random_angles, random_rotate, rotate_batch, rotation_grid
from madtn_utils.train.metrics import accuracy, classification_metrics, confusion, mean_f1, uar
from madtn_utils.train.model import MADTNNet


def test_default_output_shapes_112():
    net = MADTNNet()
    feats, logits = net(torch.rand(4, 3, 112, 112))
    assert feats.shape == (4, 256) and logits.shape == (4, 3)
    assert net.flat_dim == 128 * 14 * 14


def test_conv3_layer_and_custom_sizes():
    net = MADTNNet(widths=(8, 16, 24), kernel_sizes=(3, 3, 3), fc_dim=20, input_size=40, mmd_layer="conv3", dropout=0.0)
    feats, logits = net(torch.rand(2, 3, 40, 40))
    assert feats.shape == (2, 24 * 5 * 5) and logits.shape == (2, 3)
    assert len([m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]) == 3
    assert len([m for m in net.modules() if isinstance(m, torch.nn.Linear)]) == 2


def test_constructor_is_keyword_only():
    with pytest.raises(TypeError):
        MADTNNet(3)  # noqa


@pytest.mark.parametrize(
    "kw,match",
    [({"mmd_layer": "fc2"}, "mmd_layer: expected one of fc1, conv3"), ({"widths": (8, 16)}, "expected 3 values"),
     ({"input_size": 4}, "input_size: expected >= 8"), ({"dropout": 1.0}, "dropout")],
)
def test_constructor_errors(kw, match):
    with pytest.raises(ValueError, match=match):
        MADTNNet(**kw)


def test_wrong_input_shape_is_a_clear_error():
    with pytest.raises(ValueError, match=r"expected shape \(B, 3, 32, 32\), got \(2, 3, 28, 28\)"):
        MADTNNet(input_size=32)(torch.zeros(2, 3, 28, 28))


def test_features_feed_logits_and_gradients_flow():
    net = MADTNNet(input_size=16, dropout=0.0).eval()
    x = torch.rand(3, 3, 16, 16)
    feats, logits = net(x)
    assert torch.allclose(net.fc2(feats), logits, atol=1e-6)  # features = activated fc1 output
    pre = net.fc1(net.features(x).flatten(1))
    assert torch.allclose(feats, torch.nn.functional.leaky_relu(pre, 0.01), atol=1e-6)
    logits.sum().backward()
    assert all(p.grad is not None for p in net.parameters())


# --- augment -------------------------------------------------------------------------------

def test_rotation_zero_is_identity_and_90_is_exact_on_odd_sizes():
    x = torch.rand(2, 3, 7, 7)
    assert torch.allclose(rotate_batch(x, torch.zeros(2)), x, atol=1e-6)
    y = rotate_batch(x, torch.tensor([90.0, -90.0]))
    assert torch.allclose(y[0], torch.rot90(x[0], 1, (1, 2)), atol=1e-5)
    assert torch.allclose(y[1], torch.rot90(x[1], -1, (1, 2)), atol=1e-5)


def test_rotation_pads_with_zeros_and_is_seeded():
    x = torch.ones(6, 1, 21, 21)
    y = random_rotate(x, 30.0, torch.Generator().manual_seed(2))
    assert y.shape == x.shape and float(y[:, 0, 10, 10].min()) == pytest.approx(1.0, abs=1e-5)  # centre kept
    assert torch.equal(y, random_rotate(x, 30.0, torch.Generator().manual_seed(2)))  # same seed, same angles
    assert not torch.equal(y, random_rotate(x, 30.0, torch.Generator().manual_seed(3)))
    angles = random_angles(6, 30.0, torch.Generator().manual_seed(2))  # the angles y was rotated by
    tilted = angles.abs() > 5
    assert tilted.any() and (y[tilted, 0, 0, 0] < 0.5).all()  # corners read outside the image: zeros
    many = random_angles(1000, 30.0, torch.Generator().manual_seed(1))
    assert 29.0 < float(many.abs().max()) <= 30.0 and float(many.min()) < 0 < float(many.max())
    assert random_rotate(x, 0.0, torch.Generator()) is x


@pytest.mark.parametrize("h, w", [(28, 28), (48, 48), (112, 112), (7, 7), (20, 33)])
def test_rotation_grid_is_affine_grids_bit_for_bit(h, w):
    """The outer-sum grid against F.affine_grid of the same rotation matrices (what rotate_batch used before):
    equal bit for bit, so the speed-up changes no training result."""
    angles = random_angles(61, 30.0, torch.Generator().manual_seed(h * w))
    rad = angles * (math.pi / 180.0)
    cos, sin = torch.cos(rad), torch.sin(rad)
    zero = torch.zeros_like(cos)
    theta = torch.stack([torch.stack([cos, -sin * (h / w), zero], 1), torch.stack([sin * (w / h), cos, zero], 1)], 1)
    expected = torch.nn.functional.affine_grid(theta, [61, 3, h, w], align_corners=False)
    got = rotation_grid(cos, sin, h, w)
    assert got.shape == (61, h, w, 2) and got.dtype == torch.float32
    assert torch.equal(got, expected)
    x = torch.rand(61, 3, h, w, generator=torch.Generator().manual_seed(0))
    old = torch.nn.functional.grid_sample(x, expected, mode="bilinear", padding_mode="zeros", align_corners=False)
    assert torch.equal(rotate_batch(x, angles), old)


def test_rotation_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r"angles_deg: expected shape \(2,\)"):
        rotate_batch(torch.zeros(2, 1, 4, 4), torch.zeros(3))
    with pytest.raises(ValueError, match=r"x: expected shape \(B, C, H, W\)"):
        rotate_batch(torch.zeros(1, 4, 4), torch.zeros(1))


# --- metrics -------------------------------------------------------------------------------

def test_metrics_against_hand_counts():
    t = [0, 0, 0, 1, 1, 2, 2, 2]
    p = [0, 1, 0, 1, 2, 2, 2, 0]
    # confusion rows true: class0 -> (2,1,0), class1 -> (0,1,1), class2 -> (1,0,2)
    assert confusion(t, p).tolist() == [[2, 1, 0], [0, 1, 1], [1, 0, 2]]
    assert accuracy(t, p) == pytest.approx(5 / 8)
    # F1: c0 P=2/3 R=2/3 -> 2/3; c1 P=1/2 R=1/2 -> 1/2; c2 P=2/3 R=2/3 -> 2/3
    assert mean_f1(t, p) == pytest.approx((2 / 3 + 1 / 2 + 2 / 3) / 3)
    assert uar(t, p) == pytest.approx((2 / 3 + 1 / 2 + 2 / 3) / 3)


def test_absent_class_still_gives_3x3_and_zero_f1():
    m = classification_metrics(np.array([0, 0, 1, 1]), np.array([0, 0, 0, 1]))
    assert m["confusion"] == [[2, 0, 0], [1, 1, 0], [0, 0, 0]]
    # F1 c0 = 2*(2/3*1)/(2/3+1) = 0.8, c1 = 2*(1*0.5)/1.5 = 2/3, c2 = 0 (absent)
    assert m["mean_f1"] == pytest.approx((0.8 + 2 / 3 + 0) / 3)
    assert m["uar"] == pytest.approx((1 + 0.5) / 2)  # over the classes present in the truth
    assert m["accuracy"] == 0.75 and all(isinstance(m[k], float) for k in ("accuracy", "mean_f1", "uar"))


def test_metrics_errors():
    with pytest.raises(ValueError, match="one length"):
        accuracy([0, 1], [0])
    with pytest.raises(ValueError, match=r"y_pred: expected labels in \[0, 1, 2\], got \[3\]"):
        accuracy([0, 1], [0, 3])
    with pytest.raises(ValueError, match="at least one sample"):
        mean_f1([], [])
    assert math.isclose(uar([2, 2], [2, 2]), 1.0)
