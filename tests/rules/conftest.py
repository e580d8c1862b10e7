"""Rule-family tests: one file per ``fxcost/rules/<family>.py``. Every rule the session applies
is watched (``fxcost.rules.registry.watch_rules``), so that ``test_coverage.py`` can require each
registered rule to be exercised."""

from __future__ import annotations

import contextlib

import pytest

from fxcost.rules.registry import REGISTRY, watch_rules

_SESSION = contextlib.ExitStack()
#: rule functions applied during this session
EXERCISED: set = _SESSION.enter_context(watch_rules())


@pytest.fixture
def exercised_rules() -> set:
    """The rule functions the interpreter has applied so far in this session."""
    return EXERCISED


@pytest.fixture
def global_registry():
    """``fxcost.REGISTRY``, put back as it was after the test (for tests of register_rule)."""
    with REGISTRY.scoped() as registry:
        yield registry


def pytest_configure(config):
    config.addinivalue_line("markers", "coverage_last: runs after every other test")


def pytest_unconfigure(config):
    _SESSION.close()


def pytest_collection_modifyitems(session, config, items):
    """The coverage check runs after everything else."""
    last = [i for i in items if i.get_closest_marker("coverage_last")]
    items[:] = [i for i in items if not i.get_closest_marker("coverage_last")] + last
