"""Stage 3, train: the network, the MMD, augmentation and the training loop (METHOD.md §3).

Modules: :mod:`~madtn_utils.train.tasks`, :mod:`~madtn_utils.train.hparams`,
:mod:`~madtn_utils.train.model`, :mod:`~madtn_utils.train.mmd`, :mod:`~madtn_utils.train.augment`,
:mod:`~madtn_utils.train.prepare`, :mod:`~madtn_utils.train.observe`, :mod:`~madtn_utils.train.gap`,
:mod:`~madtn_utils.train.loop`, :mod:`~madtn_utils.train.metrics`; the random streams of a run
(:mod:`~madtn_utils.train.streams`), the device options (:mod:`~madtn_utils.train.runtime`) and
the runs of a task trained together (:mod:`~madtn_utils.train.stacked`,
:mod:`~madtn_utils.train.stacked_net`).
"""

__all__: list[str] = []
