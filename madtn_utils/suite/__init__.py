"""Stage 4, suite: run params, the grid of papermill runs, tables, figures and the report.

Modules: :mod:`~madtn_utils.suite.params`, :mod:`~madtn_utils.suite.runs`,
:mod:`~madtn_utils.suite.grid`, :mod:`~madtn_utils.suite.tables`, :mod:`~madtn_utils.suite.plots`,
:mod:`~madtn_utils.suite.report`, :mod:`~madtn_utils.suite.reference` (the paper's numbers).
"""

__all__: list[str] = []
