"""madtn_utils: the package behind the MADTN notebooks, laid out as the pipeline.

- :mod:`madtn_utils.data`: index the databases (real layouts) and write synthetic ones;
- :mod:`madtn_utils.preprocess`: motion-attention maps, cached;
- :mod:`madtn_utils.train`: the network, MMD and the training loop;
- :mod:`madtn_utils.suite`: params, the papermill grid, tables, figures, the report;
- :mod:`madtn_utils.cli`: the ``madtn`` command.

:mod:`madtn_utils.config` (strict frozen configs) and :mod:`madtn_utils.files` (atomic
writes) are shared by every stage. Each stage imports only the stages before it.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
