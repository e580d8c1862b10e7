"""Quantized ops: eager-mode int8 models (``torch.ao.nn.quantized``, torchvision's
``quantize=True`` models) and dynamically quantized linears.

Each op counts as its float op, MACs and FLOPs alike: int8 arithmetic is the same multiplies and
adds, and accelerators rate int8 peaks in operations per second on the same count. Bytes are at
the tensors' own element sizes (1 for int8), and a packed weight, which is not a tensor argument,
is read as its int8 weight and bias. Quantizing and dequantizing a tensor are a scale and a shift
per element. Quantized kernels run on real tensors only: profile these models with ``real=True``.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.ao.nn.quantized  # noqa: F401 - imported by torch already

from ..core.cost import Cost
from ._common import per_element
from .registry import OpCall, register_rule

_Q = "quantized::"


def _unpacked(packed: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(weight, bias) of a packed-parameters object: convolutions unpack themselves, linears
    through their operator (int8 or fp16 packing)."""
    try:
        return packed.unpack()
    except (AttributeError, RuntimeError):
        pass
    try:
        return torch.ops.quantized.linear_unpack(packed)
    except RuntimeError:
        return torch.ops.quantized.linear_unpack_fp16(packed)


def _weight_cost(call: OpCall, name: str) -> tuple[Cost, torch.Tensor, torch.Tensor | None]:
    """The packed weight ``name``'s bytes as read, its weight and its bias."""
    w, b = _unpacked(call.arg(name))
    read = w.numel() * w.element_size() + (b.numel() * b.element_size() if b is not None else 0)
    return Cost(bytes_read=read), w, b


def _fused(call: OpCall, base: Cost, bias: torch.Tensor | None, per_output: int) -> Cost:
    """A fused kernel's extras per output element: its bias add and ``per_output`` more (relu: 1,
    a residual add: 1)."""
    out = call.y.numel()
    return base + Cost(flops=out * (per_output + (bias is not None)))


def _conv(extra: int, transposed: bool = False):
    def rule(call: OpCall) -> Cost:
        read, w, b = _weight_cost(call, "packed_weight")
        # as the float convolution: each output sums (C_in/groups)*prod(k) terms, or (transposed)
        # each input element is scattered through (C_out/groups)*prod(k) weights
        n = (call.x if transposed else call.y).numel()
        return _fused(call, call.dots(n * math.prod(w.shape[1:]), call.y.numel()) + read, b, extra)

    return rule


def _linear(extra: int):
    def rule(call: OpCall) -> Cost:
        read, w, b = _weight_cost(call, "W_prepack")
        out = call.y.numel()
        return _fused(call, call.dots(out * w.shape[1], out) + read, b, extra)

    return rule


for _names, _rule, _doc in (
    (
        ("conv1d", "conv2d", "conv3d"),
        _conv(0),
        "As the float convolution: MACs = out.numel * (C_in/groups) * prod(k), plus the bias add.",
    ),
    (("conv1d_relu", "conv2d_relu", "conv3d_relu"), _conv(1), "A convolution, then a relu: +1 per output."),
    (("conv2d_add",), _conv(1), "A convolution, then a residual add: +1 per output."),
    (("conv2d_add_relu",), _conv(2), "A convolution, a residual add and a relu: +2 per output."),
    (
        ("conv_transpose1d", "conv_transpose2d", "conv_transpose3d"),
        _conv(0, transposed=True),
        "As the float transposed convolution: MACs = in.numel * (C_out/groups) * prod(k).",
    ),
    (
        ("linear", "linear_dynamic", "linear_dynamic_fp16"),
        _linear(0),
        "As the float linear: MACs = out.numel * in_features, plus the bias add.",
    ),
    (
        ("linear_relu", "linear_relu_dynamic", "linear_relu_dynamic_fp16"),
        _linear(1),
        "A linear, then a relu: +1 per output.",
    ),
):
    _rule.__name__ = _rule.__qualname__ = "quantized_" + _names[0].replace("1d", "")
    _rule.__module__ = __name__
    _rule.__doc__ = _doc
    register_rule(*(_Q + n for n in _names if hasattr(torch.ops.quantized, n)))(_rule)

per_element(
    "quantized_elementwise",
    1,
    *(_Q + n for n in ("add", "mul", "add_scalar", "mul_scalar")),
    why="an add or multiply, requantized",
)
per_element(
    "quantized_elementwise_relu",
    2,
    *(_Q + n for n in ("add_relu", "mul_relu", "add_scalar_relu", "mul_scalar_relu")),
    why="an add or multiply, then a relu",
)
per_element("quantized_cat", 0, _Q + "cat", why="concatenation moves data only")
# nnq.ReLU6 subclasses nn.ReLU (1 FLOP), but is a relu6 (2, as nn.ReLU6)
per_element("quantized_relu6", 2, _Q + "relu6", torch.ao.nn.quantized.ReLU6, why="max, min")
per_element("quantized_hardswish", 5, _Q + "hardswish", why="as hardswish")
per_element("quantized_sigmoid", 4, _Q + "sigmoid", why="as sigmoid")
per_element("quantized_leaky_relu", 2, _Q + "leaky_relu", why="compare, multiply")
per_element(
    "quantize",
    2,
    torch.quantize_per_tensor,
    torch.quantize_per_channel,
    torch.quantize_per_tensor_dynamic,
    why="x / scale + zero_point, rounded: a scale and a shift",
)
per_element("dequantize", 2, torch.dequantize, "dequantize", why="(q - zero_point) * scale: a shift and a scale")
