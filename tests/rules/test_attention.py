"""fxcost/rules/attention.py (and the fused SDPA kernels of rules/aten.py):
scaled_dot_product_attention in every form, causal and grouped-query, nn.MultiheadAttention and
F.multi_head_attention_forward."""

import pytest
import torch
import torch.nn.functional as F
from helpers import CAPTURES, cost
from torch import nn


def _sdpa_expected(heads, L, S, E, Ev, pairs=None, mask=False):
    """QKᵀ dots, AV dots, a scale per score, the mask's add, softmax rows*(3S-1)."""
    pairs = heads * (pairs if pairs is not None else L * S)
    rows = heads * L
    flops = (2 * pairs * E - pairs) + (2 * pairs * Ev - rows * Ev) + pairs + (3 * pairs - rows)
    return flops + (pairs if mask else 0), pairs * (E + Ev)


@pytest.mark.parametrize("capture", CAPTURES)
def test_sdpa(capture):
    q, k, v = torch.randn(1, 2, 4, 8), torch.randn(1, 2, 6, 8), torch.randn(1, 2, 6, 8)
    c = cost(F.scaled_dot_product_attention, q, k, v, capture=capture)
    assert (c.flops, c.macs) == _sdpa_expected(2, 4, 6, 8, 8)
    m = torch.zeros(4, 6)
    c = cost(lambda a, b, d: F.scaled_dot_product_attention(a, b, d, attn_mask=m), q, k, v, capture=capture, real=True)
    assert (c.flops, c.macs) == _sdpa_expected(2, 4, 6, 8, 8, mask=True)


def test_sdpa_causal_full_and_only_the_pairs_the_mask_lets_through():
    q = torch.randn(1, 2, 4, 8)
    f = lambda a, b, c: F.scaled_dot_product_attention(a, b, c, is_causal=True)  # noqa: E731
    assert cost(f, q, q, q).macs == 2 * 16 * 16  # full L x S by default
    # causal: rows keep 1, 2, 3, 4 keys -> 10 pairs per head
    assert cost(f, q, q, q, attention="causal").macs == 2 * 10 * 16
    assert cost(f, q, q, q, attention="unmasked").macs == 2 * 10 * 16  # the name before 0.2, still read


def test_sdpa_gqa_counts_query_heads():
    q, kv = torch.randn(1, 4, 4, 8), torch.randn(1, 2, 4, 8)
    f = lambda a, b, c: F.scaled_dot_product_attention(a, b, c, enable_gqa=True)  # noqa: E731
    assert cost(f, q, kv, kv).macs == 4 * 16 * 16


def test_fused_kernel_reads_is_causal_by_position():
    """aten._scaled_dot_product_flash_attention_for_cpu(q, k, v, dropout_p, is_causal): the
    kernel's causal flag is its fifth positional argument."""
    q = torch.randn(1, 2, 4, 8)
    kernel = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu.default
    f = lambda a, b, c: kernel(a, b, c, 0.0, True)[0]  # noqa: E731
    assert cost(f, q, q, q).macs == 2 * 16 * 16
    assert cost(f, q, q, q, attention="unmasked").macs == 2 * 10 * 16


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

    assert cost(M(), torch.randn(1, 4, 8), capture=capture).macs == 4 * 4 * 64 + 2 * 16 * 8


def test_functional_multi_head_attention_forward():
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.p = nn.MultiheadAttention(8, 2)  # holds the weights; never called itself

        def forward(self, x):
            p = self.p
            return F.multi_head_attention_forward(
                x,
                x,
                x,
                8,
                2,
                p.in_proj_weight,
                p.in_proj_bias,
                None,
                None,
                False,
                0.0,
                p.out_proj.weight,
                p.out_proj.bias,
                training=False,
                need_weights=False,
            )[0]

    assert cost(M(), torch.randn(4, 1, 8)).macs == 4 * 4 * 64 + 2 * 16 * 8


@pytest.mark.parametrize("bias_kv,zero_attn,extra", [(True, False, 1), (False, True, 1), (True, True, 2)])
def test_multihead_attention_extra_key_positions(bias_kv, zero_attn, extra):
    """add_bias_kv appends a learned key/value position and add_zero_attn a zero one after the
    projections: L=S=5, E=8, H=2 (head dim 4), batch 1: projections 4 x 5 x 64 MACs, attention
    2 heads x 5 x (5 + extra) pairs x (4 + 4). FlopCounterMode on the real call agrees."""
    from torch.utils.flop_counter import FlopCounterMode

    mha = nn.MultiheadAttention(8, 2, add_bias_kv=bias_kv, add_zero_attn=zero_attn)
    x = torch.randn(5, 1, 8)
    expected = 4 * 5 * 64 + 2 * 5 * (5 + extra) * 8
    assert cost(mha, x, x, x).macs == expected
    with FlopCounterMode(display=False) as fc:
        mha(x, x, x)
    assert fc.get_total_flops() // 2 == expected
    f = lambda q: F.multi_head_attention_forward(  # noqa: E731
        q,
        q,
        q,
        8,
        2,
        mha.in_proj_weight,
        mha.in_proj_bias,
        mha.bias_k,
        mha.bias_v,
        zero_attn,
        0.0,
        mha.out_proj.weight,
        mha.out_proj.bias,
        need_weights=False,
    )[0]
    assert cost(f, x, real=True).macs == expected


class _JaggedBlock(nn.Module):
    """Pre-norm attention with separate projections, as torch's nested-tensor tutorial writes
    it for a jagged (B, j, D) batch."""

    def __init__(self, d=64, heads=4):
        super().__init__()
        self.norm, self.heads = nn.LayerNorm(d), heads
        self.q, self.k, self.v, self.o = (nn.Linear(d, d) for _ in range(4))

    def forward(self, x):
        x = self.norm(x)
        q, k, v = (p(x).unflatten(-1, [self.heads, -1]).transpose(1, 2) for p in (self.q, self.k, self.v))
        y = F.scaled_dot_product_attention(q, k, v)
        return F.gelu(self.o(y.transpose(1, 2).flatten(-2))) + x


LENGTHS = [3, 7, 12, 5]


def _jagged_batch(d=64):
    offsets = torch.tensor([0, *torch.tensor(LENGTHS).cumsum(0).tolist()])
    return torch.nested.nested_tensor_from_jagged(torch.randn(int(offsets[-1]), d), offsets)


def _fcm_per_sequence(block, backward):
    """FlopCounterMode on real dense tensors, one sequence at a time: what the jagged batch
    computes (FlopCounterMode itself fails on this jagged model in torch 2.13). SDPA on the math
    backend, whose matmuls it counts (it has no formula for the CPU flash kernel)."""
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    total = 0
    for L in LENGTHS:
        with FlopCounterMode(display=False) as fc, sdpa_kernel(SDPBackend.MATH):
            out = block(torch.randn(1, L, 64))
            if backward:
                out.sum().backward()
        total += fc.get_total_flops()
    return total


@pytest.mark.parametrize("backward", [False, True], ids=["forward", "step"])
def test_jagged_input_on_meta_costs_its_sequences(backward):
    # the default meta path takes a jagged input (a meta stand-in keeping its real lengths): the
    # cost is the sum of its sequences', each as a dense batch of one, forward and training step
    import fxcost

    block, x = _JaggedBlock(), _jagged_batch()
    r = fxcost.profile(block, (x,), backward=backward, strict=True)
    assert not block.q.weight.is_meta and block.q.weight.grad is None  # the model as it was
    assert 2 * r.model_flops.macs == _fcm_per_sequence(block, backward)
    if not backward:  # and the same as the real run
        assert fxcost.profile(block, (x,), real=True, strict=True).total == r.total
    else:  # the flash backward re-runs QKᵀ: hardware only, half the attention's forward MACs
        attention = sum(4 * L * L * (16 + 16) for L in LENGTHS)  # heads·L·S·(E + Ev)
        assert r.by_phase()["recompute"].macs == attention // 2


def test_jagged_input_with_holes_is_refused_with_the_fix():
    import fxcost

    x = _jagged_batch()
    holes = torch.nested.narrow(
        torch.randn(4, 12, 64), 1, torch.zeros(4, dtype=torch.long), torch.tensor(LENGTHS), layout=torch.jagged
    )
    assert holes._lengths is not None and x._lengths is None
    with pytest.raises(fxcost.FxcostError, match="x.contiguous"):
        fxcost.profile(_JaggedBlock(), (holes,))
