"""aten-only ops: what training steps, export programs and Inductor graphs hold beyond the
torch-level ops (whose aten forms share the torch-level rule: ``Registry.function_entry``).

``convolution`` and ``convolution_backward``, the SDPA kernels and their backward, and the
backward of elementwise ops and norms (documented estimates; MACs are exact).
"""

from __future__ import annotations

import math
from typing import Any

import torch

from ..core.cost import Cost, sym_max
from .attention import attention_core, sequence_lengths
from .conv import conv, conv_transpose
from .registry import OpCall, register_rule

aten = torch.ops.aten


def _packets(*names: str) -> list:
    return [getattr(aten, n) for n in names if hasattr(aten, n)]


@register_rule(*_packets("convolution", "_convolution", "cudnn_convolution", "mkldnn_convolution"))
def convolution(call: OpCall) -> Cost:
    """``aten.convolution``: as ``conv``, or ``conv_transpose`` when ``transposed``."""
    return conv_transpose(call) if call.arg("transposed", False) else conv(call)


@register_rule(*_packets("convolution_backward"))
def convolution_backward(call: OpCall) -> Cost:
    """grad_input and grad_weight each cost the forward convolution's MACs (where output_mask
    asks for them); grad_bias sums grad_output."""
    grad_out, inp, w = call.arg("grad_output"), call.arg("input"), call.arg("weight")
    transposed = call.arg("transposed", False)
    mask = call.arg("output_mask", [True, True, True])
    fwd = (inp.numel() if transposed else grad_out.numel()) * math.prod(w.shape[1:])
    cost = Cost()
    if mask[0]:
        cost = cost + call.dots(fwd, inp.numel())
    if mask[1]:
        cost = cost + call.dots(fwd, w.numel())
    if len(mask) > 2 and mask[2]:
        cost = cost + Cost(flops=grad_out.numel())
    return cost


@register_rule(*_packets("linear_backward"))
def linear_backward(call: OpCall) -> Cost:
    """The backward of a linear whose input autograd does not decompose (a jagged nested
    tensor's): grad_input and grad_weight each cost the forward's MACs (where output_mask asks
    for them); grad_bias sums grad_output."""
    grad_out, w = call.arg("grad_output"), call.arg("weight")
    mask = call.arg("output_mask", [True, True, True])
    out_features, in_features = w.shape
    fwd = grad_out.numel() * in_features
    cost = Cost()
    if mask[0]:
        cost = cost + call.dots(fwd, grad_out.numel() // out_features * in_features)
    if mask[1]:
        cost = cost + call.dots(fwd, w.numel())
    if mask[2]:
        cost = cost + Cost(flops=grad_out.numel())
    return cost


_SDPA = _packets(
    "_scaled_dot_product_flash_attention",
    "_scaled_dot_product_flash_attention_for_cpu",
    "_scaled_dot_product_efficient_attention",
    "_scaled_dot_product_cudnn_attention",
    "_scaled_dot_product_fused_attention_overrideable",
)
_SDPA_BACKWARD = _packets(
    "_scaled_dot_product_flash_attention_backward",
    "_scaled_dot_product_flash_attention_for_cpu_backward",
    "_scaled_dot_product_efficient_attention_backward",
    "_scaled_dot_product_cudnn_attention_backward",
    "_scaled_dot_product_fused_attention_overrideable_backward",
)
# the kernels under them, (batch, seq, heads, dim), with variable-length (packed) batches
_VARLEN = _packets("_flash_attention_forward", "_efficient_attention_forward")
_VARLEN_BACKWARD = _packets("_flash_attention_backward", "_efficient_attention_backward")

Segment = tuple[Any, Any, Any, Any, Any]  # (heads, L, S, E, Ev) of one independent attention


def _segments(call: OpCall) -> list[Segment]:
    """The attentions an SDPA kernel computes: one over (..., heads, L, E) for the
    ``_scaled_dot_product_*`` kernels; for ``_flash_attention_*`` and ``_efficient_attention_*``
    (batch, L, heads, E), or with ``cum_seq_q``/``cu_seqlens_q`` one per sequence of a packed
    batch ((total, heads, E) for flash, (1, total, heads, E) for efficient)."""
    q, k, v = call.arg("query"), call.arg("key"), call.arg("value")
    packet = getattr(call.target, "overloadpacket", call.target)
    if packet not in _VARLEN + _VARLEN_BACKWARD:
        return [(math.prod(q.shape[:-2]), q.shape[-2], k.shape[-2], q.shape[-1], v.shape[-1])]
    flash = packet.__name__.startswith("_flash")
    cum_q = call.arg("cum_seq_q") if flash else call.arg("cu_seqlens_q")
    cum_k = call.arg("cum_seq_k") if flash else call.arg("cu_seqlens_k")
    heads, E, Ev = q.shape[-2], q.shape[-1], v.shape[-1]
    if cum_q is None or cum_q.numel() == 0:  # dense: (batch, L, heads, E)
        return [(q.shape[0] * heads, q.shape[1], k.shape[1], E, Ev)]
    longest_q = call.arg("max_q") if flash else call.arg("max_seqlen_q")
    longest_k = call.arg("max_k") if flash else call.arg("max_seqlen_k")
    return [
        (heads, L, S, E, Ev) for L, S in zip(sequence_lengths(cum_q, longest_q), sequence_lengths(cum_k, longest_k))
    ]


def _causal(call: OpCall) -> bool:
    # the efficient kernel's custom_mask_type: 0 none, 1 causal from the top left, 2 bottom right
    return bool(call.arg("is_causal", False)) or bool(call.arg("custom_mask_type", 0))


@register_rule(*_SDPA, *_VARLEN)
def sdpa_kernel(call: OpCall) -> Cost:
    """The fused kernels behind scaled_dot_product_attention: as ``sdpa`` (no mask add), summed
    over the sequences of a packed (variable-length) batch."""
    causal = _causal(call)
    return sum(
        (attention_core(call, h, L, S, E, Ev, masked=False, causal=causal) for h, L, S, E, Ev in _segments(call)),
        Cost(),
    )


def _flash_recompute(call: OpCall) -> Cost:
    """Fused (flash, memory-efficient, cuDNN) backward kernels keep no attention matrix: they
    recompute QKᵀ (heads·L·S·E MACs) and its softmax before the gradients (FlopCounterMode's
    3.5x forward for flash forward + backward). Hardware FLOPs, phase recompute."""
    cost = Cost()
    for heads, L, S, E, _ in _segments(call):
        pairs = heads * L * S
        cost = cost + call.dots(pairs * E, pairs) + Cost(flops=pairs + 3 * pairs - heads * L)
    return cost


@register_rule(*_SDPA_BACKWARD, *_VARLEN_BACKWARD, recompute=_flash_recompute)
def sdpa_backward(call: OpCall) -> Cost:
    """dV = Pᵀ dO, dP = dO Vᵀ, dQ = dS K, dK = dSᵀ Q: MACs heads·L·S·(2E + 2Ev); softmax
    backward 4 per score; per sequence of a packed batch."""
    cost = Cost()
    for heads, L, S, E, Ev in _segments(call):
        pairs = heads * L * S
        cost = cost + (
            call.dots(pairs * Ev, heads * S * Ev)
            + call.dots(pairs * Ev, pairs)
            + call.dots(pairs * E, heads * L * E)
            + call.dots(pairs * E, heads * S * E)
            + Cost(flops=4 * pairs)
        )
    return cost


def _backward(name: str, per_element: int, packets: list) -> None:
    def rule(call: OpCall) -> Cost:
        return Cost(flops=per_element * sym_max(call.x.numel(), call.out_numel))

    rule.__name__ = rule.__qualname__ = name
    rule.__doc__ = (
        f"{per_element} per element of the larger side: the input, or all outputs together "
        "(grad_input, grad_weight, grad_bias); an estimate"
    )
    register_rule(*packets, op=name)(rule)


_backward(
    "activation_backward",
    3,
    _packets(
        "threshold_backward",
        "sigmoid_backward",
        "tanh_backward",
        "hardtanh_backward",
        "leaky_relu_backward",
        "elu_backward",
        "hardsigmoid_backward",
        "softplus_backward",
        "softshrink_backward",
        "hardshrink_backward",
        "logit_backward",
        "log_sigmoid_backward",
        "rrelu_with_noise_backward",
        "_prelu_kernel_backward",
        "glu_backward",
    ),
)
_backward(
    "loss_backward",
    3,
    _packets(
        "mse_loss_backward",
        "l1_loss_backward",
        "smooth_l1_loss_backward",
        "huber_loss_backward",
        "soft_margin_loss_backward",
        "binary_cross_entropy_backward",
        "binary_cross_entropy_with_logits_backward",
        "multi_margin_loss_backward",
        "multilabel_margin_loss_backward",
        "kl_div_backward",
        "_ctc_loss_backward",
    ),
)
_backward("gelu_backward", 10, _packets("gelu_backward", "silu_backward", "hardswish_backward", "mish_backward"))
_backward("softmax_backward", 4, _packets("_softmax_backward_data", "_log_softmax_backward_data"))
_backward(
    "norm_backward",
    10,
    _packets(
        "native_layer_norm_backward",
        "native_batch_norm_backward",
        "native_group_norm_backward",
        "_fused_rms_norm_backward",
        "batch_norm_backward",
        "_weight_norm_interface_backward",
    ),
)
_backward(
    "pool_backward",
    1,
    _packets(
        "max_pool2d_with_indices_backward",
        "max_pool3d_with_indices_backward",
        "avg_pool2d_backward",
        "avg_pool3d_backward",
        "_adaptive_avg_pool2d_backward",
        "_adaptive_avg_pool3d_backward",
        "embedding_dense_backward",
        "adaptive_max_pool2d_backward",
        "adaptive_max_pool3d_backward",
        "fractional_max_pool2d_backward",
        "fractional_max_pool3d_backward",
        "reflection_pad1d_backward",
        "reflection_pad2d_backward",
        "reflection_pad3d_backward",
        "replication_pad1d_backward",
        "replication_pad2d_backward",
        "replication_pad3d_backward",
        "unfold_backward",
        "_segment_reduce_backward",
        "_embedding_bag_backward",
        "_embedding_bag_dense_backward",
        "_embedding_bag_per_sample_weights_backward",
        "grid_sampler_2d_backward",
        "grid_sampler_3d_backward",
        *[n for n in dir(aten) if n.startswith(("upsample_", "_upsample_")) and n.endswith("_backward")],
    ),
)
_backward(
    "zero_backward",
    0,
    _packets(
        "native_dropout_backward",
        "select_backward",
        "slice_backward",
        "masked_scatter_backward",
        "masked_fill_backward",
        "diagonal_backward",
        "as_strided_backward",
    ),
)


@register_rule(*_packets("_cdist_backward", "_pdist_backward"))
def distance_backward(call: OpCall) -> Cost:
    """Per pair and feature: the difference, its power's derivative, the grad's scale and the
    accumulation: 4 per pair and feature; an estimate."""
    dist = call.arg("cdist")
    dist = call.arg("pdist") if dist is None else dist
    x = call.arg("x1")
    x = call.arg("self") if x is None else x
    return Cost(flops=4 * dist.numel() * x.shape[-1])


@register_rule(*_packets("_trilinear"))
def trilinear(call: OpCall) -> Cost:
    """The kernel behind ``bilinear``: the three operands (unsqueezed at their ``expand`` dims)
    multiplied over the broadcast shape and summed over ``sumdim``: one MAC per term of that
    shape, out.numel outputs (as ``bilinear``)."""
    shapes = []
    for name, expand in (("i1", "expand1"), ("i2", "expand2"), ("i3", "expand3")):
        shape = list(call.arg(name).shape)
        for d in sorted(call.arg(expand)):
            shape.insert(d, 1)
        shapes.append(shape)
    terms = math.prod(max(s[k] for s in shapes) for k in range(len(shapes[0])))
    return call.dots(terms, call.y.numel())
