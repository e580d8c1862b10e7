"""Every registered rule is exercised by a test, and the documentation's rules table is the
rules' own docstrings."""

from __future__ import annotations

import pathlib

import pytest

from fxcost.cli.docs import rule_table, rules_block
from fxcost.rules.registry import REGISTRY

TESTS = pathlib.Path(__file__).resolve().parents[1]
RULES_PAGE = TESTS.parent / "docs" / "pages" / "rules.md"


def test_readme_table_is_the_rules_docstrings():
    pytest.importorskip("torchvision")  # its Python ops' rows are in the rules page
    block = rules_block(RULES_PAGE.read_text())
    assert block is not None, "docs/pages/rules.md lost its rules:begin/rules:end markers"
    assert block == rule_table(), "the rules page is stale: run `python -m fxcost.cli.docs docs/pages/rules.md`"


@pytest.mark.coverage_last
def test_every_rule_is_exercised(request, exercised_rules):
    """Runs last (conftest orders it); meaningful when the whole suite ran, skipped otherwise."""
    collected = {pathlib.Path(str(item.fspath)).resolve() for item in request.session.items}
    every = {p.resolve() for p in TESTS.rglob("test_*.py")}
    if (
        not every <= collected
        or request.config.option.deselect
        or request.config.option.keyword
        or request.config.option.markexpr
    ):
        pytest.skip("run the whole suite (python -m pytest) to check every rule is exercised")
    rules = {e.rule for e in REGISTRY.entries()} | {e.recompute for e in REGISTRY.entries() if e.recompute}
    from fxcost.rules import vision

    compiled = {vision.nms, vision.roi_align, vision.roi_pool, vision.deform_conv2d}  # tested by hand: C++ ops
    missing = sorted(f"{r.__module__}.{r.__name__}" for r in rules - exercised_rules - compiled)
    assert not missing, f"rules no test runs: {missing}"
