"""Property tests: random layer configurations, fxcost MACs == FlopCounterMode's (meta tensors);
seed formulas == brute-force counts on small shapes."""

import math

import torch
import torch.nn.functional as F
from helpers import Fn, flop_counter_macs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

import fxcost

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _check(model, *inputs):
    with torch.device("meta"):
        model = model.to("meta")
    inputs = tuple(t.to("meta") for t in inputs)
    r = fxcost.profile(model, inputs, strict=True)
    assert r.total.macs == flop_counter_macs(model, inputs)
    return r


@SETTINGS
@given(
    dims=st.integers(1, 3),
    groups=st.sampled_from([1, 2]),
    cin_per=st.integers(1, 3),
    cout_per=st.integers(1, 3),
    k=st.integers(1, 3),
    stride=st.integers(1, 2),
    pad=st.integers(0, 2),
    dil=st.integers(1, 2),
    size=st.integers(5, 9),
    transpose=st.booleans(),
    bias=st.booleans(),
)
def test_conv_matches_counter(dims, groups, cin_per, cout_per, k, stride, pad, dil, size, transpose, bias):
    cin, cout = cin_per * groups, cout_per * groups
    cls = [[nn.Conv1d, nn.Conv2d, nn.Conv3d], [nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d]][transpose][
        dims - 1
    ]
    size = size if dims < 3 else min(size, 6)
    if (size + 2 * pad - dil * (k - 1) - 1) < 0:
        pad = k
    m = cls(cin, cout, k, stride=stride, padding=pad, dilation=dil, groups=groups, bias=bias)
    _check(m, torch.empty(2, cin, *([size] * dims)))


@SETTINGS
@given(batch=st.lists(st.integers(1, 3), max_size=2), i=st.integers(1, 16), o=st.integers(1, 16), bias=st.booleans())
def test_linear_matches_counter(batch, i, o, bias):
    _check(nn.Linear(i, o, bias=bias), torch.empty(*batch, i))


@SETTINGS
@given(
    a_batch=st.lists(st.integers(1, 3), max_size=2),
    b_batch=st.lists(st.integers(1, 3), max_size=2),
    n=st.integers(1, 6),
    k=st.integers(1, 6),
    m=st.integers(1, 6),
    data=st.data(),
)
def test_matmul_broadcast_matches_counter(a_batch, b_batch, n, k, m, data):
    # make batch dims broadcastable: align from the right, 1 or equal
    b_batch = [data.draw(st.sampled_from([1, x])) for x in a_batch[-len(b_batch) :]] if b_batch and a_batch else b_batch
    _check(Fn(torch.matmul), torch.empty(*a_batch, n, k), torch.empty(*b_batch, k, m))


@SETTINGS
@given(
    b=st.integers(1, 2),
    hq=st.sampled_from([2, 4]),
    kv_div=st.sampled_from([1, 2]),
    L=st.integers(1, 8),
    S=st.integers(1, 8),
    E=st.integers(1, 8),
    causal=st.booleans(),
)
def test_sdpa_matches_counter(b, hq, kv_div, L, S, E, causal):
    hkv = hq // kv_div
    f = lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=causal, enable_gqa=kv_div > 1)  # noqa: E731
    _check(Fn(f), torch.empty(b, hq, L, E), torch.empty(b, hkv, S, E), torch.empty(b, hkv, S, E))


@SETTINGS
@given(
    heads=st.sampled_from([1, 2, 4]),
    per_head=st.integers(1, 4),
    L=st.integers(1, 6),
    S=st.integers(1, 6),
    batch_first=st.booleans(),
    bias=st.booleans(),
)
def test_multihead_attention_matches_counter(heads, per_head, L, S, batch_first, bias):
    E = heads * per_head
    mha = nn.MultiheadAttention(E, heads, bias=bias, batch_first=batch_first)

    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.mha = mha

        def forward(self, q, kv):
            return self.mha(q, kv, kv, need_weights=False)[0]

    q = torch.empty(2, L, E) if batch_first else torch.empty(L, 2, E)
    kv = torch.empty(2, S, E) if batch_first else torch.empty(S, 2, E)
    _check(M(), q, kv)


# -- seed formulas against brute force --------------------------------------------------------
def _windows(size, k, s, p):
    """(start, end) of each pooling window along one dim, clipped to the real input."""
    out = (size + 2 * p - k) // s + 1
    return [(max(i * s - p, 0), min(i * s - p + k, size)) for i in range(out)]


@SETTINGS
@given(h=st.integers(2, 7), w=st.integers(2, 7), k=st.integers(1, 3), s=st.integers(1, 2), c=st.integers(1, 3))
def test_pools_equal_brute_force(h, w, k, s, c):
    k = min(k, h, w)
    x = torch.randn(1, c, h, w)
    outputs = 0
    avg_ops = 0
    for _ in range(c):
        for _hs in _windows(h, k, s, 0):
            for _ws in _windows(w, k, s, 0):
                outputs += 1
                avg_ops += k * k + 1  # seed: kernel adds + one divide per output
    assert fxcost.profile(nn.MaxPool2d(k, s), (x,)).total.flops == outputs  # seed: one per output
    assert fxcost.profile(nn.AvgPool2d(k, s), (x,)).total.flops == avg_ops


@SETTINGS
@given(shape=st.lists(st.integers(1, 5), min_size=1, max_size=3), data=st.data())
def test_softmax_and_activations_equal_brute_force(shape, data):
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    x = torch.randn(*shape)
    n = shape[dim]
    rows = math.prod(shape) // n
    ops = 0
    for _ in range(rows):  # per row: n exps, n - 1 adds for the sum, n divides
        ops += n + (n - 1) + n
    assert fxcost.profile(Fn(lambda t: t.softmax(dim)), (x,)).total.flops == ops
    elems = sum(1 for _ in x.flatten())
    assert fxcost.profile(nn.ReLU(), (x,)).total.flops == elems  # max(x, 0) per element
    assert fxcost.profile(nn.Tanh(), (x,)).total.flops == 5 * elems
    assert fxcost.profile(nn.Sigmoid(), (x,)).total.flops == 4 * elems
