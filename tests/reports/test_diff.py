"""Diff: per-module and total deltas between two reports, added and removed modules, the
growth that gates CI; hand-derived on small linear models."""

import json

import torch
from torch import nn

import fxcost
from fxcost.reports.diff import Diff


class Net(nn.Module):
    def __init__(self, hidden, extra=False):
        super().__init__()
        self.a = nn.Linear(8, hidden)
        self.b = nn.Linear(hidden, 4)
        if extra:
            self.c = nn.Linear(4, 4)
        self.extra = extra

    def forward(self, x):
        y = self.b(self.a(x))
        return self.c(y) if self.extra else y


def _report(hidden, extra=False):
    return fxcost.profile(Net(hidden, extra), (torch.randn(2, 8),))


def test_totals_modules_and_growth():
    base, head = _report(16), _report(32, extra=True)
    d = Diff.of(base, head, depth=1)
    total = d.to_dict()["total"]
    # MACs: 2 x (8*16 + 16*4) = 384 -> 2 x (8*32 + 32*4 + 4*4) = 800
    assert (total["macs"]["base"], total["macs"]["head"]) == (384, 800)
    assert total["params"]["base"] == 8 * 16 + 16 + 16 * 4 + 4
    rows = {r["module"]: r for r in d.rows}
    assert rows["c"]["status"] == "added" and rows["a"]["status"] == "changed"
    assert total["macs"]["pct"] == 100 * (800 - 384) / 384
    assert d.growth_pct() == max(total["macs"]["pct"], total["flops"]["pct"])
    removed = {r["module"]: r["status"] for r in Diff.of(head, base, depth=1).rows}
    assert removed["c"] == "removed"


def test_an_identical_pair_shows_no_growth_and_renders():
    base = _report(16)
    d = Diff.of(base, _report(16), depth=1)
    assert d.growth_pct() == 0 and d.rows == []
    assert json.loads(d.render("json"))["total"]["macs"]["head"] == 384
    assert "+0.00%" in d.render("github")
