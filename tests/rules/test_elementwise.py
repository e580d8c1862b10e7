"""fxcost/rules/elementwise.py: arithmetic with broadcasting (1 per output element), unary math,
clamp 2, lerp 3, addcmul/addcdiv 3, diff 1, logical ops, selections 0. Integer and boolean
tensors count zero."""

import operator

import pytest
import torch
from helpers import CAPTURES, cost


@pytest.mark.parametrize("capture", CAPTURES)
@pytest.mark.parametrize(
    "f",
    [
        operator.add,
        torch.add,
        lambda a, b: a + b,
        lambda a, b: a.add(b),
        lambda a, b: a * b,
        lambda a, b: a / b,
        lambda a, b: a - b,
        torch.maximum,
        lambda a, b: a.add(b, alpha=2),
    ],
)
def test_binary_broadcast_counts_output(f, capture):
    assert cost(f, torch.randn(2, 3), torch.randn(3), capture=capture).flops == 6


def test_scalar_and_integer_arithmetic():
    assert cost(lambda a: a * 2 + 1, torch.randn(2, 3)).flops == 12
    assert cost(lambda a: a + 1, torch.ones(2, 3, dtype=torch.long)).flops == 0


@pytest.mark.parametrize("f", [torch.exp, torch.sqrt, lambda a: a.abs(), torch.special.erf, lambda a: -a])
def test_unary_math(f):
    assert cost(f, torch.rand(4, 5)).flops == 20


def test_clamp_lerp_addcmul_diff():
    x = torch.randn(4, 5)
    assert cost(lambda a: a.clamp(-1, 1), x).flops == 2 * 20
    assert cost(lambda a: torch.clip(a, min=0.0), x).flops == 2 * 20
    assert cost(lambda a, b: torch.lerp(a, b, 0.5), x, x).flops == 3 * 20
    assert cost(lambda a, b: torch.addcmul(a, a, b, value=0.5), x, x).flops == 3 * 20
    assert cost(lambda a, b: a.addcdiv(a, b), x, x).flops == 3 * 20
    assert cost(lambda a: torch.diff(a, dim=-1), x).flops == 4 * 4  # a subtract per output


def test_logical_and_selection():
    x = torch.randn(4, 5)
    assert cost(lambda a, b: torch.logical_and(a, b), x, x).flops == 20  # on floats
    assert cost(lambda a, b: a & b, x > 0, x < 0).flops == 0  # booleans: no floating-point work
    c = cost(lambda a, b: torch.where(a > 0, a, b), x, x)
    assert c.flops == 20  # the compare; the selection itself is free
    assert cost(lambda a: a.masked_fill(a > 0, 0.0), x).flops == 20


def test_special_functions_and_the_rest_of_the_math():
    x = torch.rand(3, 4) + 0.5
    for f in (
        torch.special.bessel_j0,
        torch.special.i1e,
        torch.special.ndtri,
        torch.special.erfcx,
        torch.special.log_ndtr,
        lambda a: torch.special.polygamma(1, a),
        torch.angle,
        lambda a: torch.special.zeta(a, a),
        lambda a: torch.special.xlog1py(a, a),
    ):
        assert cost(f, x).flops == 12, f
    assert cost(lambda a: torch.mvlgamma(a + 2, 2), x).flops == 12 + 24  # the add, then 2 per element
    assert cost(torch.logaddexp, x, x).flops == 48
    assert cost(torch.polar, x, x).flops == 48
    assert cost(lambda a, b: torch.linalg.cross(a, b), torch.randn(4, 3), torch.randn(4, 3)).flops == 36
    assert cost(torch.trapezoid, x).flops == 9  # 3 per output element, 3 outputs
    assert cost(lambda a: torch.bitwise_left_shift(a, 1), torch.arange(6)).flops == 0  # integers: no FLOPs
