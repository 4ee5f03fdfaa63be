"""Package data: the paper's published tables as CSV (read by madtn_utils.suite.reference)."""

__all__: list[str] = []
