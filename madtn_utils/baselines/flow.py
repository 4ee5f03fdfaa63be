"""The real optical flow of the composite set as a second feature set of the classical baselines.

The MEGC 2019 composite set (``../shared/real/megc2019-composite``; read by
:mod:`madtn_utils.data.composite` and :func:`madtn_utils.preprocess.composite.composite_domain`) holds one
onset->apex flow image per sample: 28 x 28 pixels, 3 channels (u, v, optical strain), 8 bits, each
channel min-max stretched per image by the distributors. It is the input MADTN's network gets in the
report's real-data section, so the classical methods fitted on it are compared with the deep model
on the same real input.

:func:`flow_features` flattens each sample's map at the files' own size, channel by channel
(``(3, 28, 28)`` -> 2,352 values), as float64 fractions of the 8-bit range (value / 255), into a
:class:`~.features.FeatureSet`. Both are our choices, fixed before any fit: the files' own size keeps
every pixel and adds none; the /255 scale puts the values in [0, 1], the range of the LBP-TOP histograms
the methods' defaults were set on. Each method then applies its own preprocessing (none, L2 or
z-score, :mod:`.kernels`), as on LBP-TOP. Every method is invariant to the order of the features.

>>> import numpy as np
>>> from madtn_utils.preprocess.domain import DomainData
>>> maps = np.full((2, 3, 28, 28), 255, np.uint8)
>>> d = DomainData("casme2", maps, np.arange(2), maps, np.array([0, 2]), ("a", "b"), ("s1", "s2"))
>>> f = flow_features(d)
>>> f.X.shape, float(f.X.max()), f.labels.tolist()
((2, 2352), 1.0, [0, 2])
"""

from __future__ import annotations

import numpy as np

from madtn_utils.baselines.features import FeatureSet

__all__ = ["FLOW_SIZE", "FLOW_VERSION", "flow_features"]

#: The side of the composite set's flow images, at which they are flattened.
FLOW_SIZE = 28
#: Bump when :func:`flow_features` changes, so old records stop counting.
FLOW_VERSION = 1


def flow_features(domain) -> FeatureSet:
    """The flattened flow maps of ``domain`` (a :class:`~madtn_utils.preprocess.domain.DomainData` of the composite
    set at :data:`FLOW_SIZE`: one map per sample, ``test_maps`` (N, 3, 28, 28) uint8) as a FeatureSet."""
    maps = np.asarray(domain.test_maps)
    if maps.ndim != 4 or maps.shape[1:] != (3, FLOW_SIZE, FLOW_SIZE) or maps.dtype != np.uint8:
        raise ValueError(f"{domain.name}: expected flow maps uint8 (N, 3, {FLOW_SIZE}, {FLOW_SIZE}) (the composite "
                         f"set at its own size), got {maps.dtype} {maps.shape}")
    X = maps.reshape(len(maps), -1).astype(np.float64) / 255.0
    return FeatureSet(database=domain.name, X=X, labels=np.asarray(domain.labels, dtype=np.int64),
                      sample_ids=tuple(domain.sample_ids))
