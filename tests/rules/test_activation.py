"""fxcost/rules/activation.py: per-element activations (the seed's relu 1, sigmoid 4, tanh 5,
the rest composed from those), gelu, softmax, log_softmax, softmin."""

import pytest
import torch
import torch.nn.functional as F
from helpers import CAPTURES, cost
from torch import nn

X = torch.randn(2, 3, 4)  # 24 elements: 6 rows of 4 along the last dim

ACTS = [  # (per element, module, functional, torch, method)
    (1, nn.ReLU(), F.relu, torch.relu, "relu"),
    (4, nn.Sigmoid(), F.sigmoid, torch.sigmoid, "sigmoid"),
    (5, nn.Tanh(), F.tanh, torch.tanh, "tanh"),
    (5, nn.SiLU(), F.silu, None, None),
    (5, nn.Hardswish(), F.hardswish, None, None),
    (4, nn.Hardsigmoid(), F.hardsigmoid, None, None),
    (2, nn.ReLU6(), F.relu6, None, None),
    (2, nn.Hardtanh(), F.hardtanh, None, None),
    (2, nn.LeakyReLU(), F.leaky_relu, None, None),
    (2, nn.PReLU(), lambda a: F.prelu(a, torch.tensor([0.25])), None, None),
    (2, nn.RReLU().eval(), lambda a: F.rrelu(a, training=False), None, None),
    (4, nn.ELU(), F.elu, None, None),
    (5, nn.CELU(), F.celu, None, None),
    (5, nn.SELU(), F.selu, None, None),
    (3, nn.Softplus(), F.softplus, None, None),
    (9, nn.Mish(), F.mish, None, None),
    (3, nn.Softsign(), F.softsign, None, None),
    (4, nn.LogSigmoid(), F.logsigmoid, None, None),
    (6, nn.Tanhshrink(), F.tanhshrink, None, None),
    (2, nn.Hardshrink(), F.hardshrink, None, None),
    (2, nn.Softshrink(), F.softshrink, None, None),
    (1, nn.Threshold(0.1, 0.0), lambda a: F.threshold(a, 0.1, 0.0), None, None),
    (5, nn.GELU(), F.gelu, None, None),
]


@pytest.mark.parametrize("capture", CAPTURES)
@pytest.mark.parametrize("k,module,fn,tfn,method", ACTS, ids=lambda v: getattr(v, "__name__", None))
def test_activation_forms(k, module, fn, tfn, method, capture):
    forms = [module, fn] + ([tfn] if tfn else []) + ([lambda a: getattr(a, method)()] if method else [])
    if method:
        forms.append(lambda a: getattr(a.clone(), method + "_")())  # in-place method
    for f in forms:
        assert cost(f, X, capture=capture).flops == k * 24, f


def test_gelu_tanh_approximation():
    assert cost(nn.GELU(approximate="tanh"), X).flops == 13 * 24
    assert cost(lambda a: F.gelu(a, approximate="tanh"), X).flops == 13 * 24


def test_relu_inplace_functional():
    assert cost(lambda a: F.relu(a, inplace=True), X.clone()).flops == 24


def test_glu_counts_per_output():
    # the last dim of 4 halves to 2: 12 outputs, a sigmoid (4) and a multiply each
    assert cost(nn.GLU(), X).flops == 5 * 12 and cost(lambda a: F.glu(a, 1), torch.randn(2, 4)).flops == 5 * 4


@pytest.mark.parametrize("capture", CAPTURES)
@pytest.mark.parametrize(
    "f",
    [
        nn.Softmax(dim=-1),
        lambda a: F.softmax(a, dim=-1),
        lambda a: torch.softmax(a, -1),
        lambda a: a.softmax(-1),
        lambda a: a.softmax(dim=-1),
    ],
)
def test_softmax_forms(f, capture):
    # 6 rows of n=4: 6 * (3*4 - 1)
    assert cost(f, X, capture=capture).flops == 6 * 11


def test_softmax_other_dims_softmin_softmax2d_log_softmax():
    assert cost(nn.Softmax(dim=1), X).flops == 8 * (3 * 3 - 1)
    assert cost(lambda a: F.log_softmax(a, -1), X).flops == 3 * 24
    assert cost(nn.LogSoftmax(dim=0), X).flops == 3 * 24
    # softmin: a negation per element, then the softmax
    assert cost(nn.Softmin(dim=-1), X).flops == 24 + 6 * 11
    assert cost(lambda a: F.softmin(a, dim=-1), X).flops == 24 + 6 * 11
    # Softmax2d on (C, H, W) = (2, 3, 4): over C, 12 rows of 2
    assert cost(nn.Softmax2d(), X).flops == 12 * (3 * 2 - 1)
