"""The published LBP-TOP features of SMIC-VIS and SMIC-NIR: the inputs of the paper's V->N and N->V rows.

Zong et al. distribute, with their domain-regeneration code (ACM MM 2017 / IEEE TIP 2018; public
repository ProphetZ-star/ME-Recognition, folder ``MM2017-TIP2018-Codes_of_DR_V0.2/``), the LBP-TOP
features of SMIC-VIS and SMIC-NIR as MATLAB files (``../shared/real/zong-lbptop/README.md``):

- ``SMIC_VIS_Corpus_LBPTOP.mat`` holds ``SMIC_VIS_micro_feature`` (71 x 15,045, float) and
  ``SMIC_VIS_micro_label`` (71 x 1, codes 1/2/3 with counts 23/28/20); ``SMIC_NIR_Corpus_LBPTOP.mat``
  the same with ``NIR``. Rows are aligned between the two (the two cameras recorded the same clips).
- The layout is this project's LBP-TOP layout (:mod:`.lbptop`): 85 blocks x 3 planes x 59 bins.

:func:`load_real_features` reads one file into a :class:`~.features.FeatureSet` (float64, as stored)
and checks it; a bad file is a one-line ``ValueError`` naming the params key and the file: a missing
variable, a shape that is not (n, 15045) with one label per row, a non-finite value, a label code
outside 1/2/3. :func:`load_real_pair` reads both and checks that their rows match (count and labels).

**What the label codes mean.** Code 3 is surprise. Codes 1 and 2 have 23 and 28 samples; the paper's
Table 1 gives VIS/NIR as 23 positive / 28 negative, but the SMIC-HS clips of the same 8 subjects are
28 positive / 23 negative, so either Table 1 or that reading of the codes swaps positive and
negative. Row labels here are ``code - 1`` (0, 1, 2; 2 = surprise as in
:data:`~madtn_utils.preprocess.domain.CLASSES`), and no class name is asserted for codes 1 and 2
(:data:`LABEL_CODES`). Accuracy and mean F1 do not depend on that reading; a per-class statement does.

>>> sorted(REAL_TASKS), LABEL_CODES[3]
(['N->V', 'V->N'], 'surprise')
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from madtn_utils.baselines.features import FeatureSet
from madtn_utils.baselines.lbptop import LbpTopConfig, feature_dim

__all__ = ["CAMERAS", "LABEL_CODES", "REAL_TASKS", "load_real_features", "load_real_pair"]

#: params key -> (our database name, the camera in the files' variable names).
CAMERAS = {"vis": ("smic-vis", "VIS"), "nir": ("smic-nir", "NIR")}
#: The real tasks: source and target params keys.
REAL_TASKS = {"V->N": ("vis", "nir"), "N->V": ("nir", "vis")}
#: The files' label codes, as the data's README reads them (codes 1 and 2: order unknown).
LABEL_CODES = {1: "positive or negative (23 samples; which one is not known)",
               2: "negative or positive (28 samples; the other one)", 3: "surprise"}
_DIM = feature_dim(LbpTopConfig())


def load_real_features(path: str | Path, key: str) -> FeatureSet:
    """The features of ``path`` (the file of ``params.baselines.real_features.<key>``, ``key`` = vis | nir)."""
    import scipy.io

    database, camera = CAMERAS[key]
    where = f"params.baselines.real_features.{key} ({path})"
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{where}: expected the file SMIC_{camera}_Corpus_LBPTOP.mat, not found")
    try:
        mat = scipy.io.loadmat(path)
    except (OSError, ValueError, NotImplementedError) as exc:
        raise ValueError(f"{where}: expected a MATLAB .mat file (v5/v7), could not read it: {exc}") from None
    names = {f"SMIC_{camera}_micro_feature": "features", f"SMIC_{camera}_micro_label": "labels"}
    found = sorted(k for k in mat if not k.startswith("__"))
    for name, what in names.items():
        if name not in mat:
            raise ValueError(f"{where}: expected a variable {name!r} ({what}), found {', '.join(found) or 'none'}")
    X = np.asarray(mat[f"SMIC_{camera}_micro_feature"])
    codes = np.asarray(mat[f"SMIC_{camera}_micro_label"])
    if X.ndim != 2 or X.shape[1] != _DIM or X.shape[0] < 2 or not np.issubdtype(X.dtype, np.number):
        raise ValueError(f"{where}: expected SMIC_{camera}_micro_feature of shape (samples, {_DIM}) (numbers), "
                         f"got {X.dtype} {X.shape}")
    if codes.size != len(X) or (codes.ndim == 2 and 1 not in codes.shape) or codes.ndim > 2:
        raise ValueError(f"{where}: expected SMIC_{camera}_micro_label with one label per feature row "
                         f"({len(X)} x 1), got shape {codes.shape}")
    X = X.astype(np.float64)
    bad = ~np.isfinite(X)
    if bad.any():
        row, col = (int(v[0]) for v in np.nonzero(bad))
        raise ValueError(f"{where}: expected finite features, got {int(bad.sum())} non-finite value(s) "
                         f"(first at row {row}, column {col})")
    codes = codes.reshape(-1)
    if not np.all(np.isin(codes, list(LABEL_CODES))):
        odd = sorted({float(c) for c in codes if c not in LABEL_CODES})
        raise ValueError(f"{where}: expected label codes 1, 2, 3, got also {odd[:5]}")
    return FeatureSet(database=database, X=X, labels=codes.astype(np.int64) - 1,
                      sample_ids=tuple(f"{camera.lower()}-row{i:02d}" for i in range(len(X))))


def load_real_pair(files) -> dict[str, FeatureSet]:
    """``{"vis": FeatureSet, "nir": FeatureSet}`` from ``files`` (a :class:`~.config.RealFeatures`), rows aligned."""
    got = {key: load_real_features(getattr(files, key), key) for key in CAMERAS}
    if len(got["vis"]) != len(got["nir"]):
        raise ValueError(f"params.baselines.real_features.nir ({files.nir}): expected as many rows as vis "
                         f"({len(got['vis'])}; the two cameras recorded the same clips), got {len(got['nir'])}")
    differ = np.nonzero(got["vis"].labels != got["nir"].labels)[0]
    if len(differ):
        raise ValueError(f"params.baselines.real_features.nir ({files.nir}): expected the labels of vis row by row (the "
                         f"same clips), got {len(differ)} different (first at row {int(differ[0])})")
    return got
