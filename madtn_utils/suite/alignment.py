"""Beyond the paper: other alignment losses on the same footing as the MMD (``--only alignment``, notebook 11).

On each task of the params' data (the benchmark's ``experiments.tasks``; with ``data.source: composite``
the real-data tasks; the runs: :func:`~madtn_utils.suite.grid.alignment_specs`), every loss of
``train.alignment`` at the params' λ, the paper's MMD among them,
against λ = 0 over the same seeds (:mod:`~madtn_utils.suite.paired`): mean ± std, the paired difference
with its 95% t and bootstrap intervals, seeds above / below. No loss gets a λ of its own: all run at
``train.lam``, the paper's λ for the MMD.

>>> alignment_label(0.0, {}, 2.0), alignment_label(2.0, {"train.alignment": "coral"}, 2.0)
('λ = 0', 'CORAL')
>>> alignment_label(2.0, {"train.mmd_kernel": "median"}, 2.0) is None
True
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from madtn_utils.preprocess.domain import FULL
from madtn_utils.suite.paired import paired_table

__all__ = ["LOSSES", "alignment_label", "alignment_values", "alignment_table"]

#: The alignment losses compared (``train.alignment``) and their names in the tables; ``mmd`` is the paper's.
LOSSES = {"mmd": "MMD (paper)", "coral": "CORAL", "dann": "DANN", "jmmd": "JMMD"}
REFERENCE = "λ = 0"


def alignment_label(lam: float, overrides: dict, params_lam: float) -> str | None:
    """The comparison's name of a run (λ = 0, or a loss at the params' λ); None for any other run."""
    other = {k: v for k, v in overrides.items() if k != "data.source"}
    if lam == 0 and not other:
        return REFERENCE
    if not np.isclose(lam, params_lam) or set(other) - {"train.alignment"}:
        return None
    return LOSSES.get(other.get("train.alignment", "mmd"))


def alignment_values(run_root, params) -> pd.DataFrame:
    """One row per run and seed of the comparison (:func:`~madtn_utils.suite.real.seed_values`), of the params' data."""
    from madtn_utils.suite.real import seed_values

    real = params.data.source == "composite"

    def label(lam, overrides):
        if (overrides.get("data.source") == "composite") != real:
            return None
        return alignment_label(lam, overrides, float(params.train.lam))

    return seed_values(run_root, params, label)


def alignment_table(values: pd.DataFrame) -> pd.DataFrame:
    """Per task: λ = 0, then each loss with its paired difference to λ = 0 (:func:`~madtn_utils.suite.paired.paired_table`)."""
    from madtn_utils.suite.real import ordered_variants

    return paired_table(ordered_variants(values, [REFERENCE, *LOSSES.values()]), reference=REFERENCE)
