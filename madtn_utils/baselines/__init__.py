"""The baselines of Tables 3 and 4 (METHOD.md §6): LBP-TOP features and the classical
domain-adaptation methods, as estimators on feature matrices (:mod:`~madtn_utils.baselines.base`)."""

__all__: list[str] = []
