"""Stage 1, data: the databases on disk (CASME II, SMIC-HS/VIS/NIR) read into an index, and
the synthetic databases written in the same layouts.

Modules: :mod:`~madtn_utils.data.types` (shared types), :mod:`~madtn_utils.data.frames`,
:mod:`~madtn_utils.data.casme2`, :mod:`~madtn_utils.data.smic`, :mod:`~madtn_utils.data.index`;
synthetic data: :mod:`~madtn_utils.data.faces`, :mod:`~madtn_utils.data.render`,
:mod:`~madtn_utils.data.shift` and :mod:`~madtn_utils.data.shift_events` (the shift between the
databases, ``data.shift``), :mod:`~madtn_utils.data.synth`, :mod:`~madtn_utils.data.synth_write`.
"""

__all__: list[str] = []
