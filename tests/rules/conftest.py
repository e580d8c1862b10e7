"""Rule-family tests: one file per ``fxcost/rules/<family>.py``. Every rule the tests run is
recorded, so that ``test_coverage.py`` can require each registered rule to be exercised."""

from __future__ import annotations

import pytest

import fxcost.pipeline.interpret
from fxcost.rules.registry import REGISTRY

#: rule functions called by the interpreter during this session
EXERCISED: set = set()
_checked = fxcost.pipeline.interpret._checked


def _recording(entry, call, node):
    EXERCISED.add(entry.rule)
    if entry.recompute is not None:
        EXERCISED.add(entry.recompute)
    return _checked(entry, call, node)


fxcost.pipeline.interpret._checked = _recording


@pytest.fixture
def exercised_rules() -> set:
    """The rule functions the interpreter has called so far in this session."""
    return EXERCISED


@pytest.fixture
def global_registry():
    """``fxcost.REGISTRY``, put back as it was after the test (for tests of register_rule)."""
    REGISTRY._ready()
    stores = ("_modules", "_functions", "_methods", "_ops")
    saved = {s: dict(getattr(REGISTRY, s)) for s in stores}
    yield REGISTRY
    for s in stores:
        getattr(REGISTRY, s).clear()
        getattr(REGISTRY, s).update(saved[s])
    REGISTRY._module_cache.clear()
    REGISTRY._op_cache.clear()
    REGISTRY._python_functions = None


def pytest_configure(config):
    config.addinivalue_line("markers", "coverage_last: runs after every other test")


def pytest_collection_modifyitems(session, config, items):
    """The coverage check runs after everything else."""
    last = [i for i in items if i.get_closest_marker("coverage_last")]
    items[:] = [i for i in items if not i.get_closest_marker("coverage_last")] + last
