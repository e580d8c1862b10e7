"""Shape rules (the registry's shortcut past meta kernels) against the kernels themselves.

For every random configuration: where the op's meta kernel succeeds, the shape rule returns
nothing (the kernel then runs) or exactly the kernel's shape, strides and dtype; where the kernel
raises, the rule returns nothing, so that the user still gets the kernel's error.
"""

import operator

import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

import fxcost
from fxcost.pipeline.memo import by_shape_rule
from fxcost.rules.registry import REGISTRY

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _meta(t):
    return t.to("meta") if isinstance(t, torch.Tensor) else t


def _agree(kind, target, args, kwargs=None, module=None, must_fire=False):
    """Run the kernel and the rule on meta; return the rule's output (None if it declined)."""
    kwargs = kwargs or {}
    args = tuple(_meta(a) for a in args)
    if module is not None:
        module = module.to("meta")
    try:
        with torch.no_grad():
            if module is not None:
                expected = module(*args, **kwargs)
            elif kind == "call_method":
                expected = getattr(args[0], target)(*args[1:], **kwargs)
            else:
                expected = target(*args, **kwargs)
    except Exception:
        expected = None
    got = by_shape_rule(REGISTRY, kind, target, args, kwargs, module)
    if expected is None:
        assert got is None, "the rule accepted a call the kernel rejects"
        return None
    if got is not None:
        assert (got.shape, got.stride(), got.dtype, got.device) == (
            expected.shape,
            expected.stride(),
            expected.dtype,
            expected.device,
        )
    elif must_fire:
        raise AssertionError("the rule declined a plain call")
    return got


@SETTINGS
@given(
    dims=st.integers(1, 3),
    groups=st.sampled_from([1, 2, 3]),
    cin_per=st.integers(1, 3),
    cout_per=st.integers(1, 3),
    k=st.integers(1, 4),
    stride=st.integers(1, 3),
    pad=st.integers(0, 3),
    dil=st.integers(1, 2),
    size=st.integers(1, 9),
    bias=st.booleans(),
    padding_mode=st.sampled_from(["zeros", "reflect", "replicate", "circular"]),
    string_pad=st.sampled_from([None, "same", "valid"]),
    wrong_channels=st.booleans(),
)
def test_conv_shape_rule_is_the_kernel(
    dims, groups, cin_per, cout_per, k, stride, pad, dil, size, bias, padding_mode, string_pad, wrong_channels
):
    cin, cout = cin_per * groups, cout_per * groups
    padding = string_pad or pad
    if string_pad == "same":
        stride = 1
    try:
        m = [nn.Conv1d, nn.Conv2d, nn.Conv3d][dims - 1](
            cin,
            cout,
            k,
            stride=stride,
            padding=padding,
            dilation=dil,
            groups=groups,
            bias=bias,
            padding_mode=padding_mode,
        )
    except ValueError:  # e.g. reflect padding with padding='same' is not allowed by torch.nn
        return
    x = torch.empty(2, cin + wrong_channels, *([size if dims < 3 else min(size, 5)] * dims))
    _agree("call_module", "conv", (x,), module=m)
    fn = [F.conv1d, F.conv2d, F.conv3d][dims - 1]
    w, b = torch.empty(cout, cin_per, *([k] * dims)), (torch.empty(cout) if bias else None)
    must = not wrong_channels and size + 2 * pad >= dil * (k - 1) + 1 and string_pad is None
    _agree("call_function", fn, (x, w, b, stride, padding, dil, groups), must_fire=must)


@SETTINGS
@given(
    batch=st.lists(st.integers(0, 3), max_size=3),
    i=st.integers(1, 8),
    o=st.integers(1, 8),
    bias=st.booleans(),
    wrong=st.booleans(),
    dtype=st.sampled_from([torch.float32, torch.bfloat16]),
)
def test_linear_shape_rule_is_the_kernel(batch, i, o, bias, wrong, dtype):
    x = torch.empty([*batch, i + wrong], dtype=dtype)
    w = torch.empty(o, i, dtype=dtype)
    b = torch.empty(o, dtype=dtype) if bias else None
    _agree("call_function", F.linear, (x, w, b), must_fire=not wrong)
    _agree("call_module", "linear", (x,), module=nn.Linear(i, o, bias=bias, dtype=dtype))


_DTYPES = [torch.float32, torch.float16, torch.int64, torch.int32, torch.bool]


@SETTINGS
@given(
    a=st.lists(st.integers(1, 4), max_size=4),
    data=st.data(),
    op=st.sampled_from(
        [
            operator.add,
            operator.sub,
            operator.mul,
            torch.add,
            torch.mul,
            torch.sub,
            torch.rsub,
            "add",
            "mul",
            "sub",
            "__radd__",
            "__rsub__",
            "__rmul__",
        ]
    ),
)
def test_binary_shape_rule_is_the_kernel(a, data, op):
    # the second operand: a broadcastable (or not) tensor, or a Python scalar
    if data.draw(st.booleans()):
        b = data.draw(st.one_of(st.integers(-3, 3), st.floats(-2, 2), st.booleans()))
    else:
        shape = [data.draw(st.sampled_from([1, n, n + 1])) for n in a[len(a) - data.draw(st.integers(0, len(a))) :]]
        b = torch.empty(shape, dtype=data.draw(st.sampled_from(_DTYPES)))
    x = torch.empty(a, dtype=data.draw(st.sampled_from(_DTYPES)))
    if data.draw(st.booleans()) and x.dim() >= 2:
        x = x.transpose(0, 1)  # non-contiguous: the rule declines
    kind = "call_method" if isinstance(op, str) else "call_function"
    # the rule must take the plain case: contiguous tensors of one dtype, or a tensor and a
    # Python number, whose shapes broadcast
    fresh = x.stride() == torch.empty(x.shape).stride()  # as torch.empty lays it out
    plain = fresh and x.dtype != torch.bool and (not isinstance(b, torch.Tensor) or b.dtype == x.dtype)
    _agree(kind, op, (x, b), must_fire=plain)


@SETTINGS
@given(
    dims=st.integers(0, 5),
    c=st.integers(1, 4),
    cls=st.sampled_from([nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d]),
    wrong_c=st.booleans(),
    training=st.booleans(),
    affine=st.booleans(),
    stats=st.booleans(),
)
def test_batch_norm_shape_rule_is_the_kernel(dims, c, cls, wrong_c, training, affine, stats):
    m = cls(c, affine=affine, track_running_stats=stats).train(training)
    shape = [2, c + wrong_c] + [3] * max(dims - 2, 0)
    x = torch.empty(*shape[:dims]) if dims else torch.empty(())
    _agree("call_module", "bn", (x,), module=m)
    if dims >= 2:
        cl = torch.empty(*shape[:dims]).to(memory_format=torch.channels_last) if dims == 4 else x
        _agree(
            "call_function",
            F.batch_norm,
            (cl, torch.empty(c), torch.empty(c)),
            {"training": training},
            must_fire=not wrong_c,
        )


@SETTINGS
@given(
    shape=st.lists(st.integers(1, 4), min_size=1, max_size=4),
    n=st.integers(1, 3),
    affine=st.booleans(),
    wrong=st.booleans(),
)
def test_layer_norm_shape_rule_is_the_kernel(shape, n, affine, wrong):
    n = min(n, len(shape))
    norm = [s + wrong for s in shape[len(shape) - n :]]
    x = torch.empty(*shape)
    _agree("call_module", "ln", (x,), module=nn.LayerNorm(norm, elementwise_affine=affine))
    _agree("call_function", F.layer_norm, (x, norm), must_fire=not wrong)


_ACTIVATIONS = [
    nn.ReLU(),
    nn.ReLU(inplace=True),
    nn.Hardswish(),
    nn.Hardsigmoid(),
    nn.GELU(),
    nn.GELU("tanh"),
    nn.SiLU(),
    nn.Sigmoid(),
    nn.Tanh(),
    nn.LeakyReLU(0.1),
    nn.ELU(),
    nn.Mish(),
    nn.Dropout(0.5),
]


@SETTINGS
@given(
    shape=st.lists(st.integers(1, 4), max_size=4),
    act=st.sampled_from(_ACTIVATIONS),
    layout=st.sampled_from(["contiguous", "channels_last", "transposed"]),
    dtype=st.sampled_from([torch.float32, torch.bfloat16, torch.int64]),
)
def test_activation_shape_rule_is_the_kernel(shape, act, layout, dtype):
    x = torch.empty(shape, dtype=dtype)
    if layout == "channels_last" and x.dim() == 4:
        x = x.to(memory_format=torch.channels_last)
    elif layout == "transposed" and x.dim() >= 2:
        x = x.transpose(0, -1)
    _agree("call_module", "act", (x,), module=act, must_fire=dtype != torch.int64 and layout != "transposed")
    _agree("call_function", F.gelu, (x,), {"approximate": "tanh"})
    _agree("call_method", "relu", (x,))


class _Add(nn.Module):
    def forward(self, x):
        return x + torch.ones(5)  # [3, 4] + [5] does not broadcast


@pytest.mark.parametrize(
    "model, x",
    [
        (nn.Conv2d(3, 8, 3), torch.empty(1, 4, 8, 8)),
        (nn.Linear(4, 2), torch.empty(3, 5)),
        (nn.BatchNorm2d(4), torch.empty(1, 3, 2, 2)),
        (nn.LayerNorm(6), torch.empty(2, 5)),
        (_Add(), torch.empty(3, 4)),
    ],
)
def test_bad_inputs_still_raise_the_kernels_error(model, x):
    """The rules decline what the kernels reject, so profile() reports it naming the node."""
    with pytest.raises(fxcost.FxcostError, match="node"):
        fxcost.profile(nn.Sequential(model), (x,))


def test_shape_rules_cut_the_kernels_out_of_a_convnet(monkeypatch):
    """On a plain conv/bn/relu/linear network no meta kernel runs for a rule-bearing op, on either
    capture path."""

    class Kernels(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.ran = []

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            self.ran.append(func.overloadpacket.__name__)
            return func(*args, **(kwargs or {}))

    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 6 * 6, 4))
    for capture in ("record", "symbolic_trace"):
        with Kernels() as k:
            r = fxcost.profile(model, (torch.randn(1, 3, 8, 8),), capture=capture)
        assert r.total.macs == 8 * 36 * 27 + 4 * 288
        assert not {"convolution", "native_batch_norm", "relu", "addmm", "linear"} & set(k.ran), (capture, k.ran)


def test_a_failing_user_shape_rule_is_named():
    class Block(nn.Module):
        def forward(self, x):
            return x * 2

    def bad_shape(call):
        raise KeyError("oops")

    registry = fxcost.Registry()
    registry.register(Block, shape=bad_shape)(lambda call: fxcost.Cost())
    # the recording runs a module's forward (its rule's shape is used where the trace propagates
    # shapes); a function's shape rule is used on either path
    with pytest.raises(fxcost.FxcostError, match=r"shape rule '.*bad_shape' failed on the model \(Block\)"):
        fxcost.profile(Block(), (torch.randn(2),), registry=registry, capture="symbolic_trace")
    registry.register(torch.sigmoid, shape=bad_shape)(lambda call: fxcost.Cost())

    class Net(nn.Module):
        def forward(self, x):
            return torch.sigmoid(x)

    with pytest.raises(
        fxcost.FxcostError, match="shape rule 'test_a_failing_user_shape_rule_is_named.<locals>.bad_shape'"
    ):
        fxcost.profile(Net(), (torch.randn(2),), registry=registry)
