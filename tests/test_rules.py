"""Hand-derived counts for every rule family, in each of its forms, on both capture paths.

Conventions (README table): a dot product of n is 2n-1 FLOPs (+1 per output for a bias); relu 1,
sigmoid 4, tanh 5 per element; max pool out.numel; avg pool (k+1)*out.numel; batch norm 4*numel;
softmax rows*(3n-1).
"""

import operator

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import fxcost
from helpers import CAPTURES, cost

X = torch.randn(2, 3, 4)  # 24 elements


# -- linear family -------------------------------------------------------------------------
@pytest.mark.parametrize("capture", CAPTURES)
def test_linear_module_and_functional(capture):
    # out numel 2*4=8, in 8: MACs 64; FLOPs (2*8-1)*8 + 8 bias = 128
    x = torch.randn(2, 8)
    assert cost(nn.Linear(8, 4), x, capture=capture) == fxcost.Cost(128, 64, *_bytes_lin(8, 4, x, True))
    lin = nn.Linear(8, 4, bias=False)
    c = cost(lin, x, capture=capture)
    assert (c.flops, c.macs) == (120, 64)
    w = torch.randn(4, 8)
    c = cost(lambda a: F.linear(a, w), x, capture=capture)
    assert (c.flops, c.macs) == (120, 64)


def _bytes_lin(i, o, x, bias):
    params = (i * o + (o if bias else 0)) * 4
    return x.numel() * 4 + params, x.shape[0] * o * 4


@pytest.mark.parametrize("capture", CAPTURES)
@pytest.mark.parametrize(
    "f",
    [torch.matmul, operator.matmul, lambda a, b: a.matmul(b), lambda a, b: a @ b],
)
def test_matmul_forms(f, capture):
    # (2,3,4) @ (4,5) -> 30 outputs of 4-term dot products: MACs 120, FLOPs 2*120-30
    c = cost(f, torch.randn(2, 3, 4), torch.randn(4, 5), capture=capture)
    assert (c.flops, c.macs) == (210, 120)


def test_matmul_2mac_convention():
    c = cost(torch.matmul, torch.randn(2, 3, 4), torch.randn(4, 5), flops="2mac")
    assert (c.flops, c.macs) == (240, 120)


@pytest.mark.parametrize("f", [torch.bmm, lambda a, b: a.bmm(b)])
def test_bmm(f):
    c = cost(f, torch.randn(2, 3, 4), torch.randn(2, 4, 5))
    assert c.macs == 120


def test_mm_and_vector_dot():
    assert cost(torch.mm, torch.randn(3, 4), torch.randn(4, 5)).macs == 60
    c = cost(torch.matmul, torch.randn(7), torch.randn(7))  # one dot product of 7: 13 FLOPs
    assert (c.flops, c.macs) == (13, 7)


def test_addmm_counts_the_bias_add():
    b, m1, m2 = torch.randn(5), torch.randn(3, 4), torch.randn(4, 5)
    c = cost(torch.addmm, b, m1, m2)
    assert (c.flops, c.macs) == (2 * 60 - 15 + 15, 60)


@pytest.mark.parametrize("eq", ["bij,bjk->bik", "...ij,...jk->...ik", "bij,bjk"])
def test_einsum(eq):
    c = cost(lambda a, b: torch.einsum(eq, a, b), torch.randn(2, 3, 4), torch.randn(2, 4, 5))
    assert c.macs == 2 * 3 * 4 * 5


def test_bilinear():
    # y_k = x1 W_k x2: 3 outputs x (4*5) MACs each
    c = cost(nn.Bilinear(4, 5, 3, bias=False), torch.randn(1, 4), torch.randn(1, 5))
    assert c.macs == 60


# -- convolutions --------------------------------------------------------------------------
@pytest.mark.parametrize("capture", CAPTURES)
def test_conv2d_module(capture):
    # out (1,8,5,5)=200, n=3*3*3=27: MACs 5400, FLOPs (2*27-1)*200 + 200 bias
    c = cost(nn.Conv2d(3, 8, 3, padding=1), torch.randn(1, 3, 5, 5), capture=capture)
    assert (c.flops, c.macs) == (53 * 200 + 200, 5400)


def test_conv_functional_and_torch_forms():
    w = torch.randn(8, 3, 3, 3)
    x = torch.randn(1, 3, 5, 5)
    for f in (lambda a: F.conv2d(a, w, padding=1), lambda a: torch.conv2d(a, w, padding=1)):
        c = cost(f, x)
        assert (c.flops, c.macs) == (53 * 200, 5400)


def test_depthwise_and_pointwise_conv():
    # depthwise 3x3 on 4 channels, 6x6 -> 4x4: 64 outputs of 9 terms
    c = cost(nn.Conv2d(4, 4, 3, groups=4, bias=False), torch.randn(1, 4, 6, 6))
    assert (c.flops, c.macs) == (17 * 64, 576)
    # pointwise 1x1, 4 -> 6 channels on 5x5: 150 outputs of 4 terms
    c = cost(nn.Conv2d(4, 6, 1, bias=False), torch.randn(1, 4, 5, 5))
    assert (c.flops, c.macs) == (7 * 150, 600)


def test_conv1d_conv3d():
    assert cost(nn.Conv1d(2, 4, 3, bias=False), torch.randn(1, 2, 10)).macs == 4 * 8 * 6
    assert cost(nn.Conv3d(1, 2, 2, bias=False), torch.randn(1, 1, 3, 3, 3)).macs == 2 * 8 * 8


def test_conv_transpose():
    # each of 32 inputs scatters through 3 out-channels x 2x2: MACs 384; 192 outputs
    c = cost(nn.ConvTranspose2d(2, 3, 2, stride=2, bias=False), torch.randn(1, 2, 4, 4))
    assert (c.flops, c.macs) == (2 * 384 - 192, 384)


def test_strided_transposed_conv_with_gaps():
    # 1x1 kernel, stride 2: 25 inputs land on 25 of the 81 outputs; the other 56 get nothing.
    # 25 multiplies, no adds (each reached output has one term): 25 FLOPs, never negative
    c = cost(nn.ConvTranspose2d(1, 1, 1, stride=2, bias=False), torch.randn(1, 1, 5, 5))
    assert (c.flops, c.macs) == (25, 25)


def test_conv_subclass_uses_base_rule():
    class MyConv(nn.Conv2d):
        pass

    c = cost(MyConv(3, 8, 3, padding=1), torch.randn(1, 3, 5, 5))
    assert c.macs == 5400


# -- activations ---------------------------------------------------------------------------
ACTS = [  # (per element, module, functional, torch, method)
    (1, nn.ReLU(), F.relu, torch.relu, "relu"),
    (4, nn.Sigmoid(), F.sigmoid, torch.sigmoid, "sigmoid"),
    (5, nn.Tanh(), F.tanh, torch.tanh, "tanh"),
    (5, nn.SiLU(), F.silu, None, None),
    (5, nn.Hardswish(), F.hardswish, None, None),
    (4, nn.Hardsigmoid(), F.hardsigmoid, None, None),
    (2, nn.ReLU6(), F.relu6, None, None),
    (2, nn.LeakyReLU(), F.leaky_relu, None, None),
    (4, nn.ELU(), F.elu, None, None),
    (3, nn.Softplus(), F.softplus, None, None),
    (9, nn.Mish(), F.mish, None, None),
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


def test_relu_inplace_functional():
    assert cost(lambda a: F.relu(a, inplace=True), X.clone()).flops == 24


# -- softmax --------------------------------------------------------------------------------
@pytest.mark.parametrize("capture", CAPTURES)
@pytest.mark.parametrize(
    "f",
    [nn.Softmax(dim=-1), lambda a: F.softmax(a, dim=-1), lambda a: torch.softmax(a, -1),
     lambda a: a.softmax(-1), lambda a: a.softmax(dim=-1)],
)
def test_softmax_forms(f, capture):
    # 6 rows of n=4: 6 * (3*4 - 1)
    assert cost(f, X, capture=capture).flops == 6 * 11


def test_softmax_other_dim_and_log_softmax():
    assert cost(nn.Softmax(dim=1), X).flops == 8 * (3 * 3 - 1)
    assert cost(lambda a: F.log_softmax(a, -1), X).flops == 3 * 24


# -- norms ----------------------------------------------------------------------------------
def test_batch_norm_eval_and_training():
    x = torch.randn(2, 3, 4, 4)
    assert cost(nn.BatchNorm2d(3).eval(), x).flops == 4 * 96
    assert cost(nn.BatchNorm2d(3).train(), x).flops == 4 * 96


def test_layer_group_instance_rms_norm():
    x = torch.randn(2, 4, 8)
    assert cost(nn.LayerNorm(8), x).flops == 7 * 64
    assert cost(nn.LayerNorm(8, elementwise_affine=False), x).flops == 5 * 64
    assert cost(lambda a: F.layer_norm(a, (8,)), x).flops == 5 * 64
    assert cost(nn.GroupNorm(2, 4), x).flops == 7 * 64
    assert cost(nn.InstanceNorm1d(4), x).flops == 5 * 64
    assert cost(nn.RMSNorm(8), x).flops == 4 * 64


# -- pools and resampling -------------------------------------------------------------------
@pytest.mark.parametrize("capture", CAPTURES)
def test_pools(capture):
    x = torch.randn(1, 1, 4, 4)
    assert cost(nn.MaxPool2d(2), x, capture=capture).flops == 4  # out.numel
    assert cost(lambda a: F.max_pool2d(a, 2), x, capture=capture).flops == 4
    assert cost(nn.AvgPool2d(2), x, capture=capture).flops == (4 + 1) * 4
    assert cost(lambda a: F.avg_pool2d(a, (2, 2)), x, capture=capture).flops == 5 * 4
    y = torch.randn(1, 2, 7, 7)
    assert cost(nn.AdaptiveAvgPool2d(1), y, capture=capture).flops == (49 + 1) * 2
    assert cost(nn.AdaptiveMaxPool2d(1), y, capture=capture).flops == 2


def test_interpolate():
    x = torch.randn(1, 1, 2, 2)
    assert cost(lambda a: F.interpolate(a, scale_factor=2, mode="bilinear"), x).flops == 7 * 16
    assert cost(nn.Upsample(scale_factor=2), x).flops == 0  # nearest


# -- attention ------------------------------------------------------------------------------
def _sdpa_expected(heads, L, S, E, Ev, pairs=None):
    pairs = heads * (pairs if pairs is not None else L * S)
    rows = heads * L
    return (2 * pairs * E - pairs) + (2 * pairs * Ev - rows * Ev) + pairs + (3 * pairs - rows), pairs * (E + Ev)


@pytest.mark.parametrize("capture", CAPTURES)
def test_sdpa(capture):
    q, k, v = torch.randn(1, 2, 4, 8), torch.randn(1, 2, 6, 8), torch.randn(1, 2, 6, 8)
    c = cost(F.scaled_dot_product_attention, q, k, v, capture=capture)
    assert (c.flops, c.macs) == _sdpa_expected(2, 4, 6, 8, 8)


def test_sdpa_causal_full_and_unmasked():
    q = torch.randn(1, 2, 4, 8)
    f = lambda a, b, c: F.scaled_dot_product_attention(a, b, c, is_causal=True)  # noqa: E731
    assert cost(f, q, q, q).macs == 2 * 16 * 16  # full L x S by default
    # unmasked: rows keep 1, 2, 3, 4 keys -> 10 pairs per head
    assert cost(f, q, q, q, attention="unmasked").macs == 2 * 10 * 16


def test_sdpa_gqa_counts_query_heads():
    q, kv = torch.randn(1, 4, 4, 8), torch.randn(1, 2, 4, 8)
    f = lambda a, b, c: F.scaled_dot_product_attention(a, b, c, enable_gqa=True)  # noqa: E731
    assert cost(f, q, kv, kv).macs == 4 * 16 * 16


@pytest.mark.parametrize("capture", CAPTURES)
def test_multihead_attention(capture):
    # E=8, H=2, L=S=4, batch 1: 4 projections of 4 tokens x 8x8, plus attention 2 x 4x4 pairs x (4+4)
    mha = nn.MultiheadAttention(8, 2, batch_first=True)

    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.mha = mha

        def forward(self, x):
            return self.mha(x, x, x, need_weights=False)[0]

    c = cost(M(), torch.randn(1, 4, 8), capture=capture)
    assert c.macs == 4 * 4 * 64 + 2 * 16 * 8


# -- elementwise, reductions, zero-cost -----------------------------------------------------
@pytest.mark.parametrize("capture", CAPTURES)
@pytest.mark.parametrize(
    "f",
    [operator.add, torch.add, lambda a, b: a + b, lambda a, b: a.add(b), lambda a, b: a * b,
     lambda a, b: a / b, lambda a, b: a - b, torch.maximum],
)
def test_binary_broadcast_counts_output(f, capture):
    assert cost(f, torch.randn(2, 3), torch.randn(3), capture=capture).flops == 6


def test_scalar_and_integer_arithmetic():
    assert cost(lambda a: a * 2 + 1, torch.randn(2, 3)).flops == 12
    assert cost(lambda a: a + 1, torch.ones(2, 3, dtype=torch.long)).flops == 0


def test_sort_and_topk():
    x = torch.randn(4, 8)  # 4 rows of 8: 8 * ceil(log2 8) = 24 compares per row
    assert cost(lambda a: a.sort(-1)[0], x).flops == 4 * 24
    assert cost(lambda a: torch.topk(a, 3)[0], x).flops == 4 * 24
    assert cost(lambda a: a.max(), x).flops == 32 and cost(lambda a, b: torch.max(a, b), x, x).flops == 32


def test_reductions():
    x = torch.randn(4, 5)
    assert cost(lambda a: a.sum(-1), x).flops == 20
    assert cost(lambda a: a.mean(), x).flops == 20
    assert cost(lambda a: a.amax(-1), x).flops == 20
    assert cost(lambda a: a.var(-1), x).flops == 80


@pytest.mark.parametrize(
    "f",
    [lambda a: a.view(-1), lambda a: a.reshape(4, 6), lambda a: a.permute(2, 0, 1),
     lambda a: a.transpose(0, 1), lambda a: a[0], lambda a: torch.cat([a, a]), lambda a: a.flatten(1),
     nn.Dropout(0.5).eval(), lambda a: F.dropout(a, 0.1, training=False), nn.Identity(),
     lambda a: a.contiguous(), lambda a: a.unsqueeze(0).squeeze(0)],
)
def test_zero_cost_ops_are_known(f):
    c = cost(f, X)  # strict=True: raises if any op were unknown
    assert (c.flops, c.macs) == (0, 0)


def test_views_move_no_bytes_but_copies_do():
    assert cost(lambda a: a.view(-1), X).bytes == 0
    assert cost(lambda a: torch.cat([a, a]), X).bytes == 24 * 4 + 48 * 4


def test_embedding_is_a_lookup():
    c = cost(nn.Embedding(10, 4), torch.tensor([[1, 2, 3]]))
    assert (c.flops, c.macs) == (0, 0)
    assert c.bytes_written == 12 * 4


# -- recurrent ------------------------------------------------------------------------------
def test_lstm_gru_rnn():
    # LSTM in 8, hidden 16, seq 5, batch 2: 10 steps x 4 gates x 16 x (8 + 16) MACs
    x = torch.randn(5, 2, 8)
    assert cost(nn.LSTM(8, 16), x).macs == 10 * 4 * 16 * 24
    assert cost(nn.GRU(8, 16, batch_first=True), x).macs == 10 * 3 * 16 * 24
    assert cost(nn.RNN(8, 16), x).macs == 10 * 16 * 24
    # two bidirectional layers: the second reads both directions' outputs (32)
    assert cost(nn.LSTM(8, 16, num_layers=2, bidirectional=True), x).macs == 2 * 10 * 4 * 16 * (24 + 48)
    # projections: h is 4 wide, plus a 16 -> 4 projection per step
    assert cost(nn.LSTM(8, 16, proj_size=4), x).macs == 10 * (4 * 16 * 12 + 16 * 4)
