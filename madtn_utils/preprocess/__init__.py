"""Stage 2, preprocess: motion-attention maps (METHOD.md §2) of every sample, cached.

Modules: :mod:`~madtn_utils.preprocess.detect` (face box), :mod:`~madtn_utils.preprocess.flow`,
:mod:`~madtn_utils.preprocess.maps`, :mod:`~madtn_utils.preprocess.sample` (one sample),
:mod:`~madtn_utils.preprocess.cache` (a whole database, in parallel, on disk) and
:mod:`~madtn_utils.preprocess.domain` (the arrays training consumes).
"""

__all__: list[str] = []
