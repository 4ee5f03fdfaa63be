"""Every module's docstring examples run (equations, shapes and edge cases stated there hold)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import madtn_utils

MODULES = sorted(m.name for m in pkgutil.iter_modules(madtn_utils.__path__, "madtn_utils."))


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0, f"{name}: {result.failed} of {result.attempted} doctest(s) failed"


def test_every_module_declares_all():
    missing = [n for n in MODULES if not hasattr(importlib.import_module(n), "__all__")]
    assert missing == []
