"""The pipeline's one entry point (``fxcost.pipeline.run``): which capture path a call takes, and
that every analysis comes through it."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import fxcost
from fxcost.core.options import CaptureMethod, Options
from fxcost.pipeline.run import capture, count


class Branchy(nn.Module):
    """Data-independent but untraceable by symbolic_trace (a Python bool of a shape)."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(8, 8)

    def forward(self, x):
        if x.shape[0] > 1 and bool(x.sum() > -1e9):  # a value read: symbolic_trace cannot
            return self.lin(x)
        return x


class Peek(nn.Module):
    """Reads a value in forward; a rule with a shape rule makes it countable without running it."""

    def forward(self, x):
        return x[: int(x.sum().item() > 0) + 1]


class UsesPeek(nn.Module):
    def __init__(self):
        super().__init__()
        self.peek, self.lin = Peek(), nn.Linear(8, 8)

    def forward(self, x):
        return self.lin(self.peek(x))


def test_the_path_chosen_for_each_kind_of_call():
    lin, x = nn.Sequential(nn.Linear(8, 8), nn.ReLU()), torch.randn(2, 8)
    assert capture(lin, (x,), {}, Options()).method is CaptureMethod.RECORD
    assert capture(lin, (x,), {}, Options(capture="symbolic_trace")).method is CaptureMethod.SYMBOLIC_TRACE
    assert capture(lin, (x,), {}, Options(backward=True)).method is CaptureMethod.AUTOGRAD
    gm = torch.export.export(lin, (x,)).module()
    assert capture(gm, (x,), {}, Options()).method is CaptureMethod.FX  # its own graph, values and all
    cap = capture(Branchy(), (x,), {}, Options(real=True))
    assert cap.method is CaptureMethod.RECORD and cap.fallback_reason is None
    # a module the recording cannot run on meta (it reads a value), whose rule gives its output
    # shape: symbolic_trace keeps it as one node and never runs it
    with pytest.raises(fxcost.CaptureError, match="record: .*reads tensor values"):
        fxcost.profile(UsesPeek(), (x,))
    fxcost.register_rule(Peek, shape=lambda call: torch.empty(2, 8, device="meta"))(lambda call: fxcost.Cost())
    try:
        cap = capture(UsesPeek(), (x,), {}, Options())
        assert cap.method is CaptureMethod.SYMBOLIC_TRACE and "reads tensor values" in cap.fallback_reason
        assert fxcost.profile(UsesPeek(), (x,)).total.macs == 2 * 8 * 8
    finally:
        fxcost.REGISTRY.unregister(Peek)


def test_count_gives_records_and_memory_as_profile_reports_them():
    """``profile`` is ``count`` plus the report: the same records, the same memory."""
    model, x = nn.Sequential(nn.Linear(16, 32), nn.GELU(), nn.Linear(32, 4)), torch.randn(3, 16)
    opts = Options(backward=True, memory=True, optimizer="adamw")
    counted = count(model, (x,), {}, opts)
    report = fxcost.profile(model, (x,), backward=True, memory=True, optimizer="adamw")
    assert [(r.name, r.cost) for r in counted.records] == [(n.name, n.cost) for n in report.nodes]
    assert counted.memory == report.memory
    # by hand: 16*32 + 32*4 MACs per row forward, twice that backward (input grads but the first)
    fwd = 3 * (16 * 32 + 32 * 4)
    assert report.total.macs == fwd + 3 * 32 * 4 + fwd
    # AdamW: two states per trainable parameter, fp32
    params = 16 * 32 + 32 + 32 * 4 + 4
    assert report.memory.breakdown["optimizer"] == 2 * 4 * params
    assert report.memory.peak_bytes >= sum(report.memory.breakdown[k] for k in ("params", "gradients", "optimizer"))


def test_time_nodes_refuses_a_training_report_instead_of_timing_another_graph():
    model, x = nn.Sequential(nn.Linear(8, 8), nn.ReLU()), torch.randn(2, 8)
    import pytest

    with pytest.raises(fxcost.FxcostError, match="time_nodes times the nodes of a forward"):
        fxcost.time_nodes(fxcost.profile(model, (x,), backward=True), model, (x,))
    r = fxcost.profile(model, (x,), capture="record")
    times = fxcost.time_nodes(r, model, (x,), repeats=1, warmup=0)
    assert set(times) == {n.name for n in r.nodes}
