"""fxcost/rules/linear.py: linear, bilinear, matmul forms, addmm/baddbmm, einsum, grouped matmuls.
Counts are hand-derived: a dot product of n is 2n-1 FLOPs (+1 per output for a bias or an add)."""

import operator

import pytest
import torch
import torch.nn.functional as F
from helpers import CAPTURES, cost
from torch import nn

import fxcost


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


# -- the rest of the dot-product family ----------------------------------------------------------
@pytest.mark.parametrize("capture", CAPTURES)
def test_mv_dot_vdot_inner(capture):
    # mv: (5,4) @ (4,) -> 5 dot products of 4: MACs 20, FLOPs 5*(2*4-1) = 35
    assert cost(torch.mv, torch.randn(5, 4), torch.randn(4), capture=capture) == fxcost.Cost(35, 20, 96, 20)
    c = cost(lambda a, b: a.mv(b), torch.randn(5, 4), torch.randn(4), capture=capture)
    assert (c.flops, c.macs) == (35, 20)
    for f in (torch.dot, torch.vdot, torch.inner):  # one dot product of 6: MACs 6, FLOPs 11
        c = cost(f, torch.randn(6), torch.randn(6), capture=capture)
        assert (c.flops, c.macs) == (11, 6), f
    # inner((2,3,4), (5,4)) -> (2,3,5): 30 dot products of 4
    c = cost(torch.inner, torch.randn(2, 3, 4), torch.randn(5, 4), capture=capture)
    assert (c.flops, c.macs) == (30 * 7, 120)
    c = cost(torch.inner, torch.randn(()), torch.randn(3, 2), capture=capture)  # a scalar: a product each
    assert (c.flops, c.macs) == (6, 6)


def test_vecdot_rmatmul_tensordot():
    # vecdot over dim 1 of (3,4,5) with broadcast (4,1): 15 outputs of 4
    c = cost(lambda a, b: torch.linalg.vecdot(a, b, dim=1), torch.randn(3, 4, 5), torch.randn(4, 1))
    assert (c.flops, c.macs) == (15 * 7, 60)
    # b @ a written a.__rmatmul__(b): (3,4) @ (4,5): 15 dot products of 4
    c = cost(lambda a, b: a.__rmatmul__(b), torch.randn(4, 5), torch.randn(3, 4))
    assert (c.flops, c.macs) == (105, 60)
    # tensordot((2,3,4), (3,4,5), dims=2): 10 outputs, contracted 3*4 = 12
    c = cost(lambda a, b: torch.tensordot(a, b, dims=2), torch.randn(2, 3, 4), torch.randn(3, 4, 5))
    assert (c.flops, c.macs) == (10 * 23, 120)
    c = cost(lambda a, b: torch.tensordot(a, b, dims=([0], [1])), torch.randn(3, 2), torch.randn(4, 3))
    assert c.macs == 2 * 4 * 3


def test_outer_kron_addr():
    # outer (3,) x (4,): 12 products, no adds
    c = cost(torch.outer, torch.randn(3), torch.randn(4))
    assert (c.flops, c.macs) == (12, 12)
    c = cost(torch.kron, torch.randn(2, 3), torch.randn(4, 5))  # 120 products
    assert (c.flops, c.macs) == (120, 120)
    c = cost(torch.addr, torch.randn(3, 4), torch.randn(3), torch.randn(4))  # + 12 adds
    assert (c.flops, c.macs) == (24, 12)


def test_addmv_addbmm():
    # addmv: 5 dot products of 4 (35 FLOPs) + 5 adds
    c = cost(torch.addmv, torch.randn(5), torch.randn(5, 4), torch.randn(4))
    assert (c.flops, c.macs) == (40, 20)
    # addbmm: batch 2 of (3,4)@(4,5) summed: 15 outputs each summing 2*4 = 8 products: MACs 120,
    # FLOPs 15*(16-1) + 15 (the input's add) = 240
    c = cost(torch.addbmm, torch.randn(3, 5), torch.randn(2, 3, 4), torch.randn(2, 4, 5))
    assert (c.flops, c.macs) == (240, 120)


def test_multi_dot_takes_the_cheapest_order():
    # A (10x100), B (100x5), C (5x50): (AB)C costs 5000 + 2500 MACs, A(BC) 25000 + 50000
    c = cost(
        lambda a, b, d: torch.linalg.multi_dot([a, b, d]), torch.randn(10, 100), torch.randn(100, 5), torch.randn(5, 50)
    )
    # outputs: AB 50, then (AB)C 500
    assert (c.flops, c.macs) == (2 * 7500 - 550, 7500)


@pytest.mark.parametrize("n,products", [(1, 0), (2, 1), (3, 2), (4, 2), (5, 3), (7, 4), (8, 3)])
def test_matrix_power_by_repeated_squaring(n, products):
    # floor(log2 n) squarings + popcount(n) - 1 products; each 4x4 @ 4x4 (64 MACs, 16 outputs), batch 2
    c = cost(lambda a: torch.linalg.matrix_power(a, n), torch.randn(2, 4, 4))
    assert (c.flops, c.macs) == (products * 2 * (2 * 64 - 16), products * 2 * 64)


def test_matrix_power_negative_inverts_first():
    inverse = cost(torch.linalg.inv, torch.randn(4, 4))
    c = cost(lambda a: torch.linalg.matrix_power(a, -2), torch.randn(4, 4))
    assert c.macs == 64 + inverse.macs


def test_scaled_mm_fp8_counts_macs_and_bytes_at_a_byte():
    if not hasattr(torch, "float8_e4m3fn"):
        pytest.skip("no fp8 dtypes")
    a = torch.randn(16, 32).to(torch.float8_e4m3fn)
    b = torch.randn(32, 16).to(torch.float8_e4m3fn).t().contiguous().t()
    one = torch.tensor(1.0)
    try:
        torch._scaled_mm(a, b, one, one, out_dtype=torch.bfloat16)
    except (RuntimeError, NotImplementedError):
        pytest.skip("no _scaled_mm kernel on this build")
    c = cost(lambda x, y, s: torch._scaled_mm(x, y, s, s, out_dtype=torch.bfloat16), a, b, one)
    # 256 outputs of 32: MACs 8192, FLOPs 256*63 + 256 (the scale)
    assert (c.flops, c.macs) == (256 * 63 + 256, 8192)
    # a and b at one byte an element, the scale twice (one tensor), the bf16 output at two
    assert (c.bytes_read, c.bytes_written) == (512 + 512 + 4, 512)


def test_sparse_mm_on_real_tensors_and_refused_on_meta():
    dense = torch.randn(4, 3)
    sparse = torch.eye(5, 4).to_sparse()  # 4 stored elements
    r = fxcost.profile(helpers_fn(torch.sparse.mm), (sparse, dense), real=True)
    assert r.total.macs == 4 * 3 and not r.unsupported
    with pytest.raises(fxcost.FxcostError, match="real=True"):
        fxcost.profile(helpers_fn(torch.sparse.mm), (sparse, dense))


def helpers_fn(f):
    from helpers import Fn

    return Fn(f)
