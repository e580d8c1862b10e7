"""ptflops' own numeric expectations (sovrasov/flops-counter.pytorch: tests/common_test.py),
ported case by case, for both of its backends (one set of numbers).

How ptflops' numbers map to fxcost's fields: ptflops' "MACs" are fxcost's ``macs`` plus one
per output element for a bias (ptflops counts the bias add as a MAC; fxcost counts it as one
FLOP). Parameters are ``report.params``.

Not ported: ``test_torch_ignore_func`` (ptflops' ``count_functional=False`` switch, which skips
functional calls: fxcost counts every call, and a registry without a rule lists the call, as
``test_aten_ignore`` shows).
"""

import pytest
import torch
import torch.nn.functional as F
from helpers import Fn
from torch import nn

import fxcost


def _profile(model, *inputs, kwargs=None, **kw):
    return fxcost.profile(model, inputs, kwargs, strict=True, **kw)


def test_conv():
    net = nn.Sequential(nn.Conv2d(3, 2, 3, bias=True))
    r = _profile(net, torch.randn(1, 3, 224, 224))
    outputs = 2 * 222 * 222
    assert r.params == 3 * 3 * 2 * 3 + 2
    assert r.total.macs + outputs == 2759904  # ptflops: the bias add is a MAC


def test_conv_t():
    net = nn.ConvTranspose2d(3, 2, 3, stride=(2, 2), bias=True)
    r = _profile(net, torch.randn(1, 3, 224, 224))
    outputs = 2 * 449 * 449  # (224 - 1) * 2 + 3
    assert r.params == 3 * 3 * 2 * 3 + 2
    assert r.total.macs + outputs == 3112706


def test_fc():
    r = _profile(nn.Sequential(nn.Linear(3, 2, bias=True)), torch.randn(1, 3))
    assert r.params == 3 * 2 + 2 and r.total.macs + 2 == 8


def test_fc_multidim():
    r = _profile(nn.Sequential(nn.Linear(3, 2, bias=False)), torch.randn(1, 4, 5, 3))
    assert r.params == 3 * 2 and r.total.macs == (3 * 2) * 4 * 5


def test_input_constructor_tensor():
    # ptflops builds the input with torch.ones(()).new_empty((1, *res)); fxcost takes it as given
    x = torch.ones(()).new_empty((1, 3))
    r = _profile(nn.Sequential(nn.Linear(3, 2, bias=True)), x)
    assert (r.total.macs + 2, r.params) == (8, 8)


def test_input_constructor_dict():
    class CustomLinear(nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(3, 2, bias=True)

        def forward(self, x):
            return self.linear(x)

    r = _profile(CustomLinear(), kwargs={"x": torch.ones(()).new_empty((1, 3))})
    assert (r.total.macs + 2, r.params) == (8, 8)


@pytest.mark.parametrize(
    "call",
    [
        lambda x, size: F.interpolate(input=x, size=size, mode="bilinear", align_corners=False),
        lambda x, size: F.interpolate(x, size, mode="bilinear"),
        lambda x, size: F.interpolate(x, scale_factor=2, mode="bilinear"),
    ],
    ids=["keywords", "positional", "scale_factor"],
)
@pytest.mark.parametrize("out_size", [(20, 20), 20])
def test_func_interpolate_args(call, out_size):
    r = _profile(Fn(lambda x: call(x, out_size)), torch.randn(1, 3, 10, 10))
    outputs = 3 * 20 * 20
    # ptflops: 1200, one per output element, which is wrong by the textbook: a bilinear output
    # is a weighted sum of 4 neighbours, 4 multiplies and 3 adds. Kept as what it counts.
    assert r.params == 0 and outputs == 1200
    assert r.total.flops == 7 * outputs


def test_ten_matmul():
    r = _profile(Fn(lambda x: x.matmul(x.t())), torch.randn(1, 10))
    assert r.params == 0 and r.total.macs == 10


def test_aten_ignore():
    # ptflops' ignore_modules=[aten.matmul, aten.mm] counts 0; in fxcost an op without a rule is
    # never a silent zero: it is listed, and strict raises
    reg = fxcost.REGISTRY.copy()
    reg.unregister("matmul", torch.matmul)
    r = fxcost.profile(Fn(lambda x: x.matmul(x.t())), (torch.randn(1, 10),), registry=reg)
    assert r.total.macs == 0 and [u.target for u in r.unsupported] == ["matmul"]
    with pytest.raises(fxcost.UnsupportedOpError):
        fxcost.profile(Fn(lambda x: x.matmul(x.t())), (torch.randn(1, 10),), registry=reg, strict=True)


def test_aten_custom():
    # custom_modules_hooks={aten.mm: lambda *_: 42}; in fxcost a rule for the op, at the torch
    # level (what a forward capture sees) and at the aten level (training steps)
    reg = fxcost.REGISTRY.copy()
    reg.register("matmul", torch.ops.aten.mm)(lambda call: fxcost.Cost(macs=42))
    model = Fn(lambda x: x.matmul(x.t()))
    assert fxcost.profile(model, (torch.randn(1, 10),), registry=reg).total.macs == 42
    step = fxcost.profile(model, (torch.randn(1, 10, requires_grad=True),), registry=reg, backward=True)
    assert step.by_phase()["forward"].macs == 42
