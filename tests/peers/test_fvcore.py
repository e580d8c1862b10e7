"""fvcore's own numeric expectations (facebookresearch/fvcore: tests/test_flop_count.py and
tests/test_jit_model_analysis.py), ported case by case.

How fvcore's numbers map to fxcost's fields:

- fvcore counts one per fused multiply-add: its "flops" of a linear, matmul, einsum or
  convolution are fxcost's ``macs`` (the bias is not in either).
- For an op that is not a dot product, fvcore's count is fxcost's ``flops`` with each fused
  multiply-add counted twice: a norm's scale-and-shift (fvcore 1, fxcost 2), batch statistics
  (fvcore "square and sum" 1, fxcost 2).
- Module attribution: fvcore's "owner" mode (each call belongs to the path it was called
  through) is fxcost's; its "caller" mode charges a shared module to its first name only.
"""

import pytest
import torch
import torch.nn.functional as F
from helpers import CAPTURES, Fn
from torch import nn

import fxcost


def _total(model, *inputs, **kw):
    return fxcost.profile(model, inputs, strict=True, **kw).total


def _modules(report):
    return {row.path: row.cost for row in report.by_module()}


# -- test_flop_count.py ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "shape, out, peer",
    [
        ((5, 8), 4, 5 * 8 * 4),  # test_nn
        ((5, 10), 20, 5 * 10 * 20),  # test_linear
        ((5, 5, 10), 20, 5 * 10 * 5 * 20),  # test_linear, input_dims > 2
    ],
)
def test_linear(shape, out, peer):
    assert _total(nn.Linear(shape[-1], out), torch.randn(*shape)).macs == peer


# (dims, batch, c_in, c_out, spatial, kernel, padding, stride, groups, transpose, output_padding)
CONVS = [
    (2, 5, 10, 3, 15, 3, 1, 1, 1, False, 0),
    (2, 2, 10, 6, 20, 3, 1, 2, 1, False, 0),  # spatial change in the output
    (2, 5, 16, 8, 15, 5, 2, 1, 4, False, 0),  # grouped
    (2, 5, 16, 8, 15, 3, 1, 1, 8, False, 0),  # groups == c_out
    (1, 5, 10, 3, 15, 3, 1, 1, 1, False, 0),
    (3, 5, 10, 3, 15, 3, 1, 1, 1, False, 0),
    (2, 5, 10, 3, 15, 3, 1, 1, 1, True, 0),  # transposed
    (2, 5, 10, 3, 15, 3, 1, 2, 1, True, 0),  # strided transposed
    (2, 5, 10, 3, 15, 3, 1, 3, 1, True, 2),  # strided transposed, output_padding
]


@pytest.mark.parametrize("d, n, cin, cout, s, k, p, stride, g, transpose, op", CONVS)
def test_conv(d, n, cin, cout, s, k, p, stride, g, transpose, op):
    layer = (
        [nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d] if transpose else [nn.Conv1d, nn.Conv2d, nn.Conv3d]
    )[d - 1]
    kw = {"output_padding": op} if transpose else {}
    model = layer(cin, cout, k, stride, p, groups=g, **kw)
    # fvcore's formula: a transposed convolution's MACs follow its input's positions
    spatial = s if transpose else (s + 2 * p - k) // stride + 1
    peer = n * cin * cout * k**d * spatial**d // g
    assert _total(model, torch.randn(n, cin, *[s] * d)).macs == peer


@pytest.mark.parametrize(
    "x, y, peer",
    [
        ((20, 10), (10, 100), 20 * 10 * 100),  # test_matmul
        ((1, 20, 10), (1, 10, 100), 20 * 10 * 100),  # test_matmul_broadcast
        ((2, 2, 20, 10), (2, 2, 10, 100), 4 * 20 * 10 * 100),
        ((1, 20, 10), (10, 100), 20 * 10 * 100),
        ((2, 20, 10), (10, 100), 2 * 20 * 10 * 100),
    ],
)
def test_matmul(x, y, peer):
    assert _total(Fn(torch.matmul), torch.randn(*x), torch.randn(*y)).macs == peer


def test_bmm():
    n, c, t, p = 2, 5, 2, 12
    assert _total(Fn(torch.bmm), torch.randn(n, c, t), torch.randn(n, t, p)).macs == n * t * p * c


@pytest.mark.parametrize(
    "eq, x, y, peer",
    [
        ("nct,ncp->ntp", (1, 5, 2), (1, 5, 12), 1 * 2 * 12 * 5),
        ("ntg,ncg->nct", (1, 2, 6), (1, 5, 6), 1 * 2 * 6 * 5),
        ("nc,nchw->hw", (3, 4), (3, 4, 2, 3), 72),  # TestFlopCountHandles.test_complicated_einsum
    ],
)
def test_einsum(eq, x, y, peer):
    assert _total(Fn(lambda a, b: torch.einsum(eq, a, b)), torch.randn(*x), torch.randn(*y)).macs == peer


@pytest.mark.parametrize(
    "dims, train, per_element",
    [
        # eval BatchNorm1d(affine=False): fvcore 1 per element (normalise with running stats: one
        # fused multiply-add); fxcost 2 (subtract the mean, multiply by 1/std)
        ((10, 10), False, (1, 2)),
        # training BatchNorm2d/3d(affine=False): fvcore 4 (statistics: sum, subtract, square and sum
        # fused, then normalise); fxcost 5 (the square and the sum apart)
        ((10, 10, 5, 5), True, (4, 5)),
        ((10, 10, 5, 5, 5), True, (4, 5)),
    ],
)
def test_batchnorm(dims, train, per_element):
    layer = [nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d][max(len(dims) - 3, 0)](10, affine=False).train(train)
    numel = torch.Size(dims).numel()
    peer, fx = per_element
    # the one fused multiply-add fvcore counts once: the normalise, or the square-and-sum
    assert _total(layer, torch.randn(*dims)).flops == fx * numel == (peer + 1) * numel


# TestFlopCountHandles: functional norms on a 2x2x2x2 input (16 elements)
@pytest.mark.parametrize(
    "call, peer, fused",
    [
        # eval, affine: normalise (fvcore 1, fxcost 2) and scale-shift (1, 2) per element
        (lambda x, v: F.batch_norm(x, v, v, v, v), 32, 2),
        (lambda x, v: F.batch_norm(x, v, v, None, None), 16, 1),  # no affine
        # training: statistics (sum 1, subtract 1, square-and-sum fvcore 1, fxcost 2), normalise,
        # scale-shift: fvcore 5 per element, fxcost 7
        (lambda x, v: F.batch_norm(x, v.clone(), v.clone(), v, v, True), 80, 2),
        (lambda x, v: F.group_norm(x, 2, v, v), 80, 2),  # group norm always takes statistics
        (lambda x, v: F.group_norm(x, 2, None, None), 64, 1),
    ],
)
def test_norm_handles(call, peer, fused):
    # fused: the fused multiply-adds per element that fvcore counts once and fxcost twice
    x, v = torch.rand(2, 2, 2, 2), torch.rand(2)
    assert _total(Fn(lambda t: call(t, v)), x).flops == peer + fused * x.numel()


def test_upsample_bilinear_handle():
    # fvcore: 4 per output (one per neighbour, a fused multiply-add each): 2**4 * 4 * 4 = 256;
    # fxcost: the 4-term weighted sum is 4 multiplies and 3 adds, 7 per output
    outputs = 2 * 2 * 4 * 4
    total = _total(Fn(lambda x: F.interpolate(x, None, 2, "bilinear", False)), torch.rand(2, 2, 2, 2))
    assert (total.flops, 4 * outputs) == (7 * outputs, 2**4 * 4 * 4)


@pytest.mark.parametrize("op", [torch.mm, torch.matmul])
def test_torch_mm_handle(op):
    assert _total(Fn(op), torch.rand(3, 4), torch.rand(4, 5)).macs == 60


class ThreeNet(nn.Module):
    def __init__(self, input_dim=2, conv_dim=5, linear_dim=3):
        super().__init__()
        self.conv = nn.Conv2d(input_dim, conv_dim, 1, 1)
        self.pool = nn.AdaptiveAvgPool2d((1, 1))
        self.linear1 = nn.Linear(conv_dim, linear_dim)
        self.linear2 = nn.Linear(linear_dim, 1)

    def forward(self, x):
        return self.linear2(self.linear1(torch.flatten(self.pool(self.conv(x)), 1)))


@pytest.mark.parametrize("capture", CAPTURES)
def test_three_net_by_module(capture):
    # test_threeNet and test_flop_counter_class: conv 4000, linear1 60, linear2 12, pool 2000
    report = fxcost.profile(ThreeNet(), (torch.randn(4, 2, 10, 10),), capture=capture, strict=True)
    rows = _modules(report)
    assert (rows["conv"].macs, rows["linear1"].macs, rows["linear2"].macs) == (4000, 60, 12)
    # fvcore's pool: one per input element (the window sums); fxcost adds the divide per output
    assert rows["pool"].flops == 2000 + 4 * 5
    assert report.total.macs == 4000 + 60 + 12


def test_customized_ops():
    class CustomNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Linear(5, 4)
            self.sigmoid = nn.Sigmoid()

        def forward(self, x):
            return self.sigmoid(self.conv(x))

    x = torch.rand(10, 5)
    # a new handle for an op, and one replacing a default handle (the linear layer's)
    reg = fxcost.REGISTRY.copy()
    reg.register(nn.Sigmoid, torch.sigmoid, op="sigmoid")(lambda call: fxcost.Cost(flops=10000))
    reg.register(nn.Linear, F.linear, op="linear")(lambda call: fxcost.Cost(flops=400000))
    by_op = {r.op: r.cost.flops for r in fxcost.profile(CustomNet(), (x,), registry=reg).by_operator()}
    assert by_op == {"sigmoid": 10000, "linear": 400000}
    assert fxcost.profile(CustomNet(), (x,)).total.flops < 400000  # the global registry is as it was


def test_skip_ops():
    # fvcore skips aten::sigmoid (no handle) and reports it; fxcost has a rule for it (4 per
    # element: negate, exp, add, divide) and nothing is left unsupported
    report = fxcost.profile(nn.Sequential(nn.Linear(5, 4), nn.Sigmoid()), (torch.rand(10, 5),))
    assert report.unsupported == [] and report.by_module()[-1].cost.flops == 4 * 40


class _CustomOp(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x

    @staticmethod
    def backward(ctx, grad_output):
        return torch.ones_like(grad_output)


@pytest.mark.parametrize("capture", CAPTURES)
def test_autograd_function(capture):
    # fvcore: set_op_handle("prim::PythonOp._CustomOp", lambda *a: 42); fxcost: a rule
    # registered for the autograd.Function class costs each MyFunction.apply call
    reg = fxcost.REGISTRY.copy()
    reg.register(_CustomOp)(lambda call: fxcost.Cost(flops=42))
    model = Fn(lambda x: _CustomOp.apply(x))
    assert fxcost.profile(model, (torch.rand(4, 5),), registry=reg, capture=capture).total.flops == 42
    assert "apply" not in _CustomOp.__dict__  # the class is as it was


def test_scripted_function():
    # fvcore lists prim::CallFunction as unsupported; fxcost costs what the script runs
    # (x * x: 25 multiplies; x @ x of 5x5: 25 dot products of 5, 9 FLOPs each)
    def func(x):
        return x @ x

    class Mod(nn.Module):
        def forward(self, x):
            return torch.jit.script(func)(x * x)

    total = _total(Mod(), torch.rand(5, 5))
    assert (total.macs, total.flops) == (125, 25 + 25 * 9)


# -- test_jit_model_analysis.py -------------------------------------------------------------------
class NestedNetInner(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(2, 2, 1)
        self.fc = nn.Linear(10, 10)

    def forward(self, x):
        x = self.conv(x.reshape(-1, 2, 5))
        return 3 * self.fc(torch.flatten(x, 1)) + 1


class NestedNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.submod = NestedNetInner()
        self.fc = nn.Linear(20, 10)
        self.conv = nn.Conv1d(4, 4, 3, padding=1)

    def forward(self, x):
        x = self.fc(torch.flatten(self.conv(x), 1))
        return self.submod(x) ** 2


# fvcore's MACs per module of NestedNet on a (1, 4, 5) input
NESTED = {
    "": 240 + 200 + 20 + 100,
    "conv": 5 * 3 * 4 * 4,
    "fc": 200,
    "submod": 20 + 100,
    "submod.conv": 5 * 1 * 2 * 2,
    "submod.fc": 100,
}


@pytest.mark.parametrize("capture", CAPTURES)
def test_nested_net_by_module(capture):
    # test_total, test_by_module, test_by_operator, test_by_module_and_operator
    report = fxcost.profile(NestedNet(), (torch.randn(1, 4, 5),), capture=capture, strict=True)
    rows = _modules(report)
    assert {path: rows[path].macs for path in NESTED} == NESTED
    ops = {r.op: r.cost.macs for r in report.by_operator() if r.cost.macs}
    assert ops == {"conv": 240 + 20, "linear": 200 + 100}


def test_data_parallel():
    # test_data_parallel, test_data_parallel_root_scope: the wrapper is taken off
    report = fxcost.profile(nn.DataParallel(NestedNet()), (torch.randn(1, 4, 5),))
    assert {path: row.macs for path, row in _modules(report).items() if path in NESTED} == NESTED
    assert _total(nn.DataParallel(nn.Linear(10, 10)), torch.randn(10, 10)).macs == 1000


def test_unused_module():
    class UnusedNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.fc2, self.unused = nn.Linear(10, 10), nn.Linear(10, 1), nn.Linear(20, 20)
            self.act = nn.ReLU()

        def forward(self, x):
            return self.fc2(self.act(self.fc1(x)))

    rows = _modules(fxcost.profile(UnusedNet(), (torch.randn(1, 10),)))
    assert rows[""].macs == 100 + 10 and rows["unused"].macs == 0


def test_repeated_module():
    class RepeatedNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.fc2 = nn.Linear(10, 10), nn.Linear(10, 10)

        def forward(self, x):
            for _ in range(3):
                x = self.fc1(x)
            for _ in range(2):
                x = self.fc2(x)
            return x

    rows = _modules(fxcost.profile(RepeatedNet(), (torch.randn(1, 10),)))
    assert (rows["fc1"].macs, rows["fc2"].macs, rows[""].macs) == (300, 200, 500)


def test_non_forward_func_call():
    class Inner(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(10, 1)

        def forward(self, x):
            return x

        def other_func(self, x):
            return self.fc(x)

    class NonForwardNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.submod, self.fc = Inner(), nn.Linear(10, 10)

        def forward(self, x):
            return self.submod.other_func(self.fc(x))

    rows = _modules(fxcost.profile(NonForwardNet(), (torch.randn(1, 10),)))
    # fvcore's "owner" mode: submod.fc is under submod (its owner), though submod never ran
    assert (rows["submod.fc"].macs, rows["submod"].macs, rows[""].macs) == (10, 10, 110)


class SharedInner(nn.Module):
    def __init__(self, submod):
        super().__init__()
        self.submod = submod

    def forward(self, x):
        return self.submod(x)


class SharedModuleNet(nn.Module):
    """A linear shared by two submodules, and a linear held under two names."""

    def __init__(self):
        super().__init__()
        inner = nn.Linear(10, 10)
        self.submod1, self.submod2 = SharedInner(inner), SharedInner(inner)
        multiname = nn.Linear(10, 1)
        self.multiname1 = self.multiname2 = multiname

    def forward(self, x):
        x = self.submod1(x) + self.submod2(x)
        return self.multiname1(x) + self.multiname2(x)


@pytest.mark.parametrize("capture", CAPTURES)
def test_shared_module(capture):
    # fvcore (caller mode) expects submod1 100, submod2 100, multiname1 20 and puts both calls
    # of the shared linear under its first name, submod1.submod 200; fxcost charges each call
    # to the path it was called through (fvcore's owner attribution): 100 under each
    report = fxcost.profile(SharedModuleNet(), (torch.randn(1, 10),), capture=capture, strict=True)
    rows = {path: cost.macs for path, cost in _modules(report).items()}
    assert {k: rows[k] for k in ("submod1", "submod1.submod", "submod2", "submod2.submod", "multiname1")} == {
        "submod1": 100,
        "submod1.submod": 100,
        "submod2": 100,
        "submod2.submod": 100,
        "multiname1": 20,
    }
    assert "multiname2" not in rows  # an alias takes the first name, as named_modules() does
    assert rows[""] == 220 == sum(cost for path, cost in rows.items() if path.count(".") == 0 and path)


def test_recursive_scope():
    class RecursiveScopeNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(10, 1)

        def forward(self, x, count=3):
            if count > 0:
                return self(x, count - 1)
            return self.fc(x)

    rows = _modules(fxcost.profile(RecursiveScopeNet(), (torch.randn(1, 10),)))
    assert rows[""].macs == rows["fc"].macs == 10
