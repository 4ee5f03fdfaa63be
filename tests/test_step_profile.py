"""bench/step_profile.py's accounting: the op categories, the convolution FLOPs against step_flops, the steps per epoch."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from madtn_utils.train.hparams import TrainConfig
from madtn_utils.train.loop import epoch_batches, steps_per_epoch
from madtn_utils.train.runtime import conv_step_flops, step_flops

_SPEC = importlib.util.spec_from_file_location("step_profile", Path(__file__).resolve().parents[1] / "bench" / "step_profile.py")
step_profile = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(step_profile)


def _event(name, *parents):
    parent = None
    for p in reversed(parents):  # outermost last
        parent = SimpleNamespace(name=p, cpu_parent=parent)
    return SimpleNamespace(name=name, cpu_parent=parent)


def test_ops_fall_into_their_categories():
    assert step_profile.category(_event("aten::mkldnn_convolution")) == "convolution forward"
    assert step_profile.category(_event("aten::convolution_backward")) == "convolution backward"
    assert step_profile.category(_event("aten::max_pool2d_with_indices_backward")) == "max-pooling"
    assert step_profile.category(_event("aten::mul", "aten::lerp_", "Optimizer.step#Adam.step")) == "Adam"
    assert step_profile.category(_event("Optimizer.zero_grad#Adam.zero_grad")) == "Adam"
    assert step_profile.category(_event("aten::mul")) == "other"
    assert set(step_profile._BY_NAME.values()) <= set(step_profile.CATEGORIES)


@pytest.mark.parametrize("size, widths, rows", [(28, (16, 32, 64), 61), (112, (32, 64, 128), 64), (48, (8, 16, 32), 3)])
def test_conv_flops_are_step_flops_without_the_fully_connected_layers(size, widths, rows):
    cfg = TrainConfig(widths=widths, fc_dim=128)
    side = size // 8
    fc = 2.0 * (widths[-1] * side * side * 128 + 128 * 3)  # forward FLOPs of fc1 + fc2 per row
    assert conv_step_flops(cfg, size, rows) == pytest.approx(step_flops(cfg, size, rows) - 3 * fc * rows, rel=1e-12)
    side, c_in, convs = size, 3, []  # each convolution's forward FLOPs per row, by hand
    for c_out, k in zip(widths, (5, 3, 3)):
        convs.append(2.0 * c_in * c_out * k * k * side * side)
        c_in, side = c_out, side // 2
    assert conv_step_flops(cfg, size, rows) == pytest.approx(rows * (3 * sum(convs) - convs[0]), rel=1e-12)


@pytest.mark.parametrize("n_source, n_target", [(145, 164), (164, 145), (3, 2), (1800, 160)])
def test_steps_per_epoch_is_the_training_loops(n_source, n_target):
    src, _ = epoch_batches(n_source, n_target, 32, torch.Generator().manual_seed(0))
    assert steps_per_epoch(n_source, 32) == len(src) and all(len(s) >= 2 or n_source < 2 for s in src)
