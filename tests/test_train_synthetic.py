"""Training on the tiny synthetic databases, through the real index and preprocessing."""

from __future__ import annotations

import numpy as np
import pytest

from madtn_utils.suite.params import load_domain, params_from_dict
from madtn_utils.train.hparams import TrainConfig
from madtn_utils.train.loop import train_task


@pytest.fixture(scope="module")
def domains(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tiny")
    params = params_from_dict({"data": {"synthetic": "tiny", "synthetic_dir": str(tmp / "synthetic")},
                               "preprocess": {"map_size": 48}, "cache_dir": str(tmp / "cache"), "jobs": 2})
    return {db: load_domain(params, db)[0] for db in ("smic-hs", "smic-vis")}


def test_tiny_synthetic_h_to_v_above_chance(domains):
    src, tgt = domains["smic-hs"], domains["smic-vis"]
    assert src.test_maps.shape[1:] == (3, 48, 48) and len(tgt) == 9
    cfg = TrainConfig(epochs=25, batch_size=16, widths=(8, 16, 32), fc_dim=64, lam=2.0, device="cpu")
    accs = [train_task(src, tgt, cfg, seed=s).metrics["accuracy"] for s in (0, 1)]
    # 3 balanced classes: chance is 1/3; the motion channels carry the class
    assert np.mean(accs) > 0.5, accs
    again = train_task(src, tgt, cfg, seed=0).metrics["accuracy"]
    assert again == accs[0]
