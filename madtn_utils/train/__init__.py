"""Stage 3, train: the network, the MMD, augmentation and the training loop (METHOD.md §3).

Modules: :mod:`~madtn_utils.train.tasks`, :mod:`~madtn_utils.train.hparams`,
:mod:`~madtn_utils.train.model`, :mod:`~madtn_utils.train.mmd`, :mod:`~madtn_utils.train.augment`,
:mod:`~madtn_utils.train.prepare`, :mod:`~madtn_utils.train.observe`, :mod:`~madtn_utils.train.gap`,
:mod:`~madtn_utils.train.loop`, :mod:`~madtn_utils.train.metrics`.
"""

__all__: list[str] = []
