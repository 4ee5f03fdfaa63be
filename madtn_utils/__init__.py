"""madtn_utils: the package behind the MADTN notebooks (index, synthetic data,
motion-attention preprocessing, the network, training and the paper's tables)."""

__version__ = "0.1.0"
__all__ = ["__version__"]
