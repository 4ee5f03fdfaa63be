"""``python -m madtn_utils.cli ...``: the same as the ``madtn`` console script."""

import sys

from madtn_utils.cli import main

__all__: list[str] = []

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
