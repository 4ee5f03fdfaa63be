"""Package data: the paper's published tables as CSV (read by madtn_utils.reference)."""

__all__: list[str] = []
