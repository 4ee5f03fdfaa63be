"""Tiny params files for tests: a base mapping, shared data and cache folders, nested changes."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

__all__ = ["write_params"]


def write_params(base: dict, folder: Path, shared: Path, name: str = "t", **changes) -> Path:
    """``folder/<name>.yaml`` from ``base``, with the synthetic data and cache under ``shared`` and the
    outputs under ``folder``; ``changes`` as ``train__epochs=2`` (nested keys joined by ``__``)."""
    data = json.loads(json.dumps(base))
    data.update(name=name, cache_dir=str(shared / "cache"), output_dir=str(folder / "outputs"))
    data["data"]["synthetic_dir"] = str(shared / "synthetic")
    for dotted, value in changes.items():
        node = data
        *parents, leaf = dotted.split("__")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return path
