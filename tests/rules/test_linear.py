"""fxcost/rules/linear.py: linear, bilinear, matmul forms, addmm/baddbmm, einsum, grouped matmuls.
Counts are hand-derived: a dot product of n is 2n-1 FLOPs (+1 per output for a bias or an add)."""

import operator

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import fxcost
from helpers import CAPTURES, cost


@pytest.mark.parametrize("capture", CAPTURES)
def test_linear_module_and_functional(capture):
    # out numel 2*4=8, in 8: MACs 64; FLOPs (2*8-1)*8 + 8 bias = 128
    x = torch.randn(2, 8)
    assert cost(nn.Linear(8, 4), x, capture=capture) == fxcost.Cost(128, 64, *_bytes_lin(8, 4, x, True))
    c = cost(nn.Linear(8, 4, bias=False), x, capture=capture)
    assert (c.flops, c.macs) == (120, 64)
    w = torch.randn(4, 8)
    c = cost(lambda a: F.linear(a, w), x, capture=capture)
    assert (c.flops, c.macs) == (120, 64)
    c = cost(lambda a: F.linear(a, w, bias=torch.zeros(4)), x, capture=capture)  # bias by keyword
    assert (c.flops, c.macs) == (128, 64)


def _bytes_lin(i, o, x, bias):
    params = (i * o + (o if bias else 0)) * 4
    return x.numel() * 4 + params, x.shape[0] * o * 4


@pytest.mark.parametrize("capture", CAPTURES)
@pytest.mark.parametrize("f", [torch.matmul, operator.matmul, lambda a, b: a.matmul(b), lambda a, b: a @ b])
def test_matmul_forms(f, capture):
    # (2,3,4) @ (4,5) -> 30 outputs of 4-term dot products: MACs 120, FLOPs 2*120-30
    c = cost(f, torch.randn(2, 3, 4), torch.randn(4, 5), capture=capture)
    assert (c.flops, c.macs) == (210, 120)


def test_matmul_2mac_convention():
    c = cost(torch.matmul, torch.randn(2, 3, 4), torch.randn(4, 5), flops="2mac")
    assert (c.flops, c.macs) == (240, 120)


@pytest.mark.parametrize("f", [torch.bmm, lambda a, b: a.bmm(b), torch.ops.aten.bmm.default])
def test_bmm(f):
    c = cost(f, torch.randn(2, 3, 4), torch.randn(2, 4, 5))
    assert c.macs == 120


def test_mm_and_vector_dot():
    assert cost(torch.mm, torch.randn(3, 4), torch.randn(4, 5)).macs == 60
    c = cost(torch.matmul, torch.randn(7), torch.randn(7))  # one dot product of 7: 13 FLOPs
    assert (c.flops, c.macs) == (13, 7)


def test_addmm_and_baddbmm_count_the_add():
    b, m1, m2 = torch.randn(5), torch.randn(3, 4), torch.randn(4, 5)
    c = cost(torch.addmm, b, m1, m2)
    assert (c.flops, c.macs) == (2 * 60 - 15 + 15, 60)
    # 2 x (3x5) outputs of 4-term dots: MACs 120, FLOPs (2*4-1)*30 + 30
    c = cost(torch.baddbmm, torch.randn(2, 3, 5), torch.randn(2, 3, 4), torch.randn(2, 4, 5))
    assert (c.flops, c.macs) == (240, 120)


@pytest.mark.parametrize("eq", ["bij,bjk->bik", "...ij,...jk->...ik", "bij,bjk"])
def test_einsum(eq):
    c = cost(lambda a, b: torch.einsum(eq, a, b), torch.randn(2, 3, 4), torch.randn(2, 4, 5))
    assert c.macs == 2 * 3 * 4 * 5


def test_bilinear():
    # y_k = x1 W_k x2: 3 outputs x (4*5) MACs each; FLOPs 2*60-3, + 3 with the bias
    c = cost(nn.Bilinear(4, 5, 3, bias=False), torch.randn(1, 4), torch.randn(1, 5))
    assert (c.flops, c.macs) == (117, 60)
    assert cost(nn.Bilinear(4, 5, 3), torch.randn(1, 4), torch.randn(1, 5)).flops == 120


def test_grouped_mm_of_a_mixture_of_experts():
    """6 routed tokens of width 4 through 2 experts' 4x3 weights: 6 x 3 outputs of 4 terms; the
    backward (transformers' fallback op): grad_input and grad_weight each 6*4*3 MACs."""
    pytest.importorskip("transformers")
    import transformers.integrations.moe  # noqa: F401 - registers torch.ops.transformers.*

    ops = torch.ops.transformers
    x, w, offs = torch.randn(6, 4), torch.randn(2, 4, 3), torch.tensor([2, 6])
    c = cost(lambda a, b, o: ops.grouped_mm_fallback(a, b, o), x, w, offs)
    assert (c.flops, c.macs) == (7 * 18, 72)
    c = cost(lambda a, b, o: ops.grouped_mm_fallback_backward(a, b, o, torch.ones(6, 3))[0], x, w, offs)
    assert (c.flops, c.macs) == (2 * (2 * 72 - 24), 144)
    # torch._grouped_mm on meta (bf16, rows of 16 bytes): 6 tokens x 8 outputs of 8 terms
    a, b = torch.empty(6, 8, dtype=torch.bfloat16), torch.empty(2, 8, 8, dtype=torch.bfloat16)
    c = cost(lambda a, b: torch._grouped_mm(a, b, offs=torch.tensor([2, 6], dtype=torch.int32)), a, b)
    assert (c.flops, c.macs) == (15 * 48, 384)
