"""fxcost/registry.py: users' rules (module, function, method, operator-name targets), the
built-ins loaded on first use, layering with ``copy()``, aten forms taking torch-level rules
(users' included, in training steps), and rules reading arguments by name."""

import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F
from helpers import Fn, mystery
from torch import nn

import fxcost
from fxcost.rules.registry import OpCall


def _mystery(x):
    return mystery(x)


def test_register_rule_for_module_function_and_method():
    class Fused(nn.Module):
        def forward(self, x):
            return x * 2

    reg = fxcost.Registry()

    @reg.register(Fused)
    def fused(call):
        return fxcost.Cost(flops=7 * call.x.numel())

    @reg.register("fxcost_test::mystery", "tanh")
    def bessel(call):
        return fxcost.Cost(flops=100)

    r = fxcost.profile(Fused(), (torch.randn(2, 3),), registry=reg, capture="symbolic_trace")
    assert r.total.flops == 42 and r.nodes[0].kind == "call_module"
    assert fxcost.profile(Fn(_mystery), (torch.randn(3),), registry=reg).total.flops == 100
    assert fxcost.profile(Fn(lambda a: a.tanh()), (torch.randn(3),), registry=reg).total.flops == 100


def test_global_register_rule_decorator(global_registry):
    class Special(nn.Module):
        def forward(self, x):
            return x

    @fxcost.register_rule(Special)
    def special(call):
        return fxcost.Cost(flops=1, macs=1)

    r = fxcost.profile(nn.Sequential(Special(), Special()), (torch.randn(2),))
    assert (r.total.flops, r.total.macs) == (2, 2)
    assert r.by_operator()[0].op == "special"


def test_bad_rules_are_named():
    reg = fxcost.Registry()
    reg.register(torch.relu, F.relu)(lambda call: 1 / 0)
    with pytest.raises(fxcost.FxcostError, match="rule .*failed.*ZeroDivisionError"):
        fxcost.profile(Fn(F.relu), (torch.randn(3),), registry=reg)
    reg.register(F.relu)(lambda call: 5)
    with pytest.raises(fxcost.FxcostError, match="must return fxcost.Cost"):
        fxcost.profile(Fn(F.relu), (torch.randn(3),), registry=reg)


def test_builtins_load_on_first_use_and_torchvision_when_imported():
    """The registry loads its built-ins on first use (``import fxcost`` makes it), and
    torchvision's rules once torchvision is imported, with no call to make."""
    code = (
        "import sys, fxcost; assert 'fxcost.rules' in sys.modules and 'torchvision' not in sys.modules\n"
        "from fxcost.zoo.targets import import_torchvision; tv = import_torchvision()\n"
        "assert fxcost.REGISTRY.module_entry(tv.ops.StochasticDepth) is not None"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_rule_registered_before_first_use_wins_over_the_builtin():
    code = (
        "import torch, fxcost\n"
        "fxcost.register_rule(torch.nn.Linear)(lambda call: fxcost.Cost(flops=7))\n"
        "r = fxcost.profile(torch.nn.Linear(4, 4), (torch.randn(2, 4),))\n"
        "assert r.total.flops == 7, r.total"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_users_torch_level_rule_serves_its_aten_form_in_a_training_step(global_registry):
    """A rule for torch.special.erfcx also costs aten.special_erfcx (what autograd records),
    registered after the built-ins loaded."""

    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(3, 3)

        def forward(self, x):
            return torch.special.erfcx(self.lin(x)).sum()

    m = M()
    global_registry.unregister(torch.special.erfcx)  # as if PyTorch had just added it
    assert fxcost.profile(m, (torch.randn(2, 3),), backward=True).unsupported
    fxcost.register_rule(torch.special.erfcx)(lambda call: fxcost.Cost(flops=100 * call.x.numel()))
    r = fxcost.profile(m, (torch.randn(2, 3),), backward=True)
    assert [n.cost.flops for n in r.nodes if "erfcx" in n.target and n.phase == "forward"] == [600]
    assert not [u for u in r.unsupported if "erfcx" in u.target]


def test_copy_layers_own_rules_over_the_builtins():
    reg = fxcost.REGISTRY.copy()
    reg.register(nn.ReLU)(lambda call: fxcost.Cost(flops=3 * call.x.numel()))
    model = nn.Sequential(nn.Linear(4, 4), nn.ReLU())
    x = torch.randn(2, 4)
    mine, builtin = fxcost.profile(model, (x,), registry=reg), fxcost.profile(model, (x,))
    assert mine.total.macs == builtin.total.macs == 32  # the copied linear rule
    assert [n.cost.flops for n in mine.nodes if n.op == "<lambda>"] == [24]
    assert [n.cost.flops for n in builtin.nodes if n.op == "relu"] == [8]


def test_time_nodes_uses_the_reports_registry():
    reg = fxcost.Registry()
    reg.register("fxcost_test::mystery")(lambda call: fxcost.Cost(flops=1))
    model = Fn(_mystery)
    r = fxcost.profile(model, (torch.randn(3),), registry=reg, strict=True)
    times = fxcost.time_nodes(r, model, (torch.randn(3),), repeats=1, warmup=0)
    assert set(times) == {n.name for n in r.nodes}


def test_rules_read_arguments_by_name_in_every_form():
    """``call.arg(name)``: a keyword, the position of that name in the callee's signature (a
    Python function's, a builtin's aten schema, a tensor method's, a module forward's), or the
    module's attribute."""
    x = torch.empty(2, 3, 4)
    for target, node_op, args, kwargs in (
        (F.softmax, "call_function", (x, 1), {}),
        (torch.softmax, "call_function", (x, 1), {}),
        ("softmax", "call_method", (x, 1), {}),
        (torch.ops.aten._softmax.default, "call_function", (x, 1, False), {}),
        (F.softmax, "call_function", (x,), {"dim": 1}),
    ):
        assert OpCall(node_op, target, args, kwargs, None).arg("dim") == 1, target
    assert OpCall("call_module", "s", (x,), {}, None, nn.Softmax(dim=1)).arg("dim") == 1
    assert OpCall("call_function", torch.topk, (x, 2, 0), {}, None).arg("dim") == 0
    assert OpCall("call_function", torch.topk, (x, 2), {}, None).arg("dim", -1) == -1
    with pytest.raises(TypeError, match="argument's name"):
        OpCall("call_function", F.softmax, (x, 1), {}, None).arg(1)
    old = OpCall("call_function", torch.topk, (x, 2), {}, None)
    with pytest.warns(DeprecationWarning):  # the old forms still answer, by name
        assert old.arg(2, "dim", -1) == -1 and old.get("k", 1) == 2


def test_every_torch_builtin_takes_its_aten_ops_rule():
    """torch.native_layer_norm is not torch.layer_norm but runs aten.native_layer_norm, whose
    rule is layer_norm's: one formula in one place."""
    inputs = (torch.randn(2, 3, 8), torch.ones(8), torch.zeros(8))
    native = fxcost.profile(Fn(lambda a, w, b: torch.native_layer_norm(a, [8], w, b, 1e-5)[0]), inputs, strict=True)
    plain = fxcost.profile(Fn(lambda a, w, b: F.layer_norm(a, [8], w, b)), inputs, strict=True)
    assert native.total.flops == plain.total.flops > 0


def _fused(x, w):
    return torch.relu(x @ w) * 2


class _CallsFused(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.randn(8, 8))

    def forward(self, x):
        return _fused(x, self.w) + 1


@pytest.mark.parametrize("capture", ["symbolic_trace", "record"])
def test_a_rule_on_a_plain_python_function_keeps_its_calls_whole(capture):
    """Without the rule the function's matmul, relu and mul are traced (and costed); with it, one
    node the rule costs, on both capture paths, as torch.fx.wrap would keep it."""
    x = torch.randn(4, 8)
    traced = fxcost.profile(_CallsFused(), (x,), capture=capture)
    assert [n.op for n in traced.nodes] == ["matmul", "relu", "elementwise", "elementwise"]
    reg = fxcost.REGISTRY.copy()
    reg.register(_fused)(lambda call: fxcost.Cost(flops=1000, macs=7))
    r = fxcost.profile(_CallsFused(), (x,), registry=reg, capture=capture)
    assert [n.op for n in r.nodes] == ["<lambda>", "elementwise"]
    assert (r.total.flops, r.total.macs) == (1000 + 32, 7)
    assert globals()["_fused"] is _fused  # put back


class _Twice(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x * 2

    @staticmethod
    def backward(ctx, g):
        return g * 2


def test_a_rule_for_an_autograd_function_and_its_removal():
    reg = fxcost.REGISTRY.copy()
    reg.register(_Twice)(lambda call: fxcost.Cost(flops=42))
    model = Fn(lambda x: _Twice.apply(x))
    assert fxcost.profile(model, (torch.randn(3),), registry=reg).total.flops == 42
    reg.unregister(_Twice)  # by the class it was registered for: its apply calls are recorded through
    assert fxcost.profile(model, (torch.randn(3),), registry=reg).total.flops == 3  # x * 2
