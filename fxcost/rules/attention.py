"""Attention: scaled_dot_product_attention and nn.MultiheadAttention share one core formula.

Causal attention counts the full L x S matmuls by default (as FlopCounterMode and published
figures do); ``attention="causal"`` counts only the pairs a causal mask lets through. Grouped-query
attention is counted per query head.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..core.cost import Cost, sym_min
from .activation import softmax_flops
from .registry import OpCall, register_rule


def attention_core(call: OpCall, heads: int, L: int, S: int, E: int, Ev: int, masked: bool, causal: bool) -> Cost:
    """softmax(Q K^T * scale [+ mask]) V for ``heads`` (batch x query heads) independent heads."""
    if causal and call.attention == "causal":
        # torch's causal mask is top-left aligned: row i keeps min(i + 1, S) keys, so the first
        # m = min(L, S) rows keep 1..m and the rest S each
        m = sym_min(L, S)
        pairs = m * (m + 1) // 2 + (L - m) * S
    else:
        pairs = L * S
    pairs *= heads
    rows = heads * L
    qk = call.dots(pairs * E, pairs)
    av = call.dots(pairs * Ev, rows * Ev)
    scale = Cost(flops=pairs)
    mask = Cost(flops=pairs if masked else 0)
    soft = Cost(flops=softmax_flops(pairs, rows))
    return qk + scale + mask + soft + av


def _sdpa_shape(call: OpCall) -> Any:
    """A jagged query's output on meta, where torch's jagged kernel cannot run (it asks the
    autocast state of the meta device): the query's structure, ragged size and offsets, with the
    value's feature size. Dense inputs run the op's own meta kernel."""
    q, v = call.arg("query"), call.arg("value")
    if not (q.is_nested and q.is_meta):
        return None
    from torch.nested._internal.nested_tensor import NestedTensor  # the jagged layout's one class

    values, Ev = q._values, v.shape[-1]
    shape = (*values.shape[:-1], Ev)
    stride = values.stride() if Ev == q.shape[-1] else torch.empty(shape, device="meta").stride()
    out = torch.empty_strided(shape, stride, dtype=values.dtype, device="meta")
    return NestedTensor(out, q._offsets, _ragged_idx=q._ragged_idx, _metadata_cache=dict(q._metadata_cache or {}))


@register_rule(F.scaled_dot_product_attention, shape=_sdpa_shape)
def sdpa(call: OpCall) -> Cost:
    """q [..., Hq, L, E], k [..., Hkv, S, E], v [..., Hkv, S, Ev], per query head (grouped-query
    attention included): MACs Hq·L·S·(E + Ev); FLOPs the QKᵀ and AV dot products, a scale per
    score, a mask add per score (with ``attn_mask``), softmax rows·(3S − 1). Causal: the full
    L×S (default) or the pairs the mask lets through with ``attention="causal"``. Jagged nested
    inputs (B, H, j, E): the sum over the batch's sequences, each of its own length."""
    q, k, v = call.arg("query"), call.arg("key"), call.arg("value")
    masked, causal = call.arg("attn_mask") is not None, bool(call.arg("is_causal", False))
    if q.is_nested:  # jagged (B, H, j, E): one attention per sequence, of its own length
        lengths = zip(sequence_lengths(q.offsets(), _longest(q)), sequence_lengths(k.offsets(), _longest(k)))
        return sum(
            (attention_core(call, q.shape[1], L, S, q.shape[-1], v.shape[-1], masked, causal) for L, S in lengths),
            Cost(),
        )
    heads = math.prod(q.shape[:-2])
    return attention_core(call, heads, q.shape[-2], k.shape[-2], q.shape[-1], v.shape[-1], masked, causal)


def _longest(t: torch.Tensor) -> Any:
    """A jagged tensor's longest sequence where it is known without its offsets' values."""
    return t._maybe_max_seqlen  # type: ignore[attr-defined]


def sequence_lengths(offsets: torch.Tensor, longest: Any = None) -> list[Any]:
    """The lengths of a packed batch's sequences from its offsets (``cum_seq_q``, a jagged
    tensor's ``offsets()``). On meta, where offsets hold no values: the real lengths where the
    stand-in of a real input kept them (``lengths``), else each is ``longest`` (the kernel's
    max_seqlen argument): an upper bound, as FlopCounterMode counts fake tensors."""
    if offsets.device.type == "meta" or isinstance(offsets, torch._subclasses.FakeTensor):
        known = getattr(offsets, "lengths", None)
        if known is not None:
            return list(known)
        if longest is None:
            raise ValueError("the sequence lengths of a jagged tensor on meta are unknown (no offsets, no max_seqlen)")
        return [longest] * (offsets.shape[0] - 1)
    return offsets.diff().tolist()


def _mha(
    call: OpCall,
    query,
    key,
    E: int,
    H: int,
    kdim: int,
    vdim: int,
    seq_first: bool,
    in_bias: bool,
    out_bias: bool,
    masked: bool,
    causal: bool,
    extra_keys: int = 0,
) -> Cost:
    if query.dim() == 2:  # unbatched (L, E)
        B, L, S = 1, query.shape[0], key.shape[0]
    elif seq_first:
        L, B, S = query.shape[0], query.shape[1], key.shape[0]
    else:
        B, L, S = query.shape[0], query.shape[1], key.shape[1]
    hd = E // H
    q_out, kv_out = B * L * E, B * S * E
    proj = call.dots(q_out * E, q_out) + call.dots(kv_out * kdim, kv_out)
    proj = proj + call.dots(kv_out * vdim, kv_out) + call.dots(q_out * E, q_out)
    bias = (q_out + 2 * kv_out if in_bias else 0) + (q_out if out_bias else 0)
    # bias_k/bias_v and add_zero_attn append key/value positions after the projections
    core = attention_core(call, B * H, L, S + extra_keys, hd, hd, masked, causal)
    return proj + core + Cost(flops=bias)


@register_rule(nn.MultiheadAttention)
def multihead_attention(call: OpCall) -> Cost:
    """The q, k, v and out projections (linear each, + biases) and the attention of ``sdpa`` per
    head (head_dim = E / heads), over S keys plus one for ``add_bias_kv`` and one for
    ``add_zero_attn``."""
    m = call.module
    query, key = call.arg("query"), call.arg("key")
    masked = call.arg("attn_mask") is not None or call.arg("key_padding_mask") is not None
    extra = (m.bias_k is not None) + bool(m.add_zero_attn)
    return _mha(
        call,
        query,
        key,
        m.embed_dim,
        m.num_heads,
        m.kdim,
        m.vdim,
        not m.batch_first,
        m.in_proj_bias is not None,
        m.out_proj.bias is not None,
        masked,
        bool(call.arg("is_causal", False)),
        extra,
    )


@register_rule(F.multi_head_attention_forward)
def multi_head_attention_forward(call: OpCall) -> Cost:
    """As ``nn.MultiheadAttention`` (inputs (L, B, E) or unbatched)."""
    query, key, value = call.arg("query"), call.arg("key"), call.arg("value")
    E, H = call.arg("embed_dim_to_check"), call.arg("num_heads")
    masked = call.arg("attn_mask") is not None or call.arg("key_padding_mask") is not None
    extra = (call.arg("bias_k") is not None) + bool(call.arg("add_zero_attn", False))
    return _mha(
        call,
        query,
        key,
        E,
        H,
        key.shape[-1],
        value.shape[-1],
        True,
        call.arg("in_proj_bias") is not None,
        call.arg("out_proj_bias") is not None,
        masked,
        bool(call.arg("is_causal", False)),
        extra,
    )
