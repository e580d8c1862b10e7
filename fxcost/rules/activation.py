"""Activations and softmax.

Per-element FLOPs; the convention fixes relu (1), sigmoid (4: negate, exp, add, divide) and tanh
(5: exp, exp^-1, subtract, add, divide) and softmax (rows * (3n - 1)). The others are composed
from those primitives, each transcendental counted as one FLOP, and listed in the README table.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..core.cost import Cost
from ._common import attrs, like_input, per_element, torch_forms
from .registry import OpCall, method_names, register_rule


def _activation(op: str, k: int, *targets, why: str = "") -> None:
    """``k`` FLOPs per element; the output is shaped like the input."""
    per_element(op, k, *targets, shape=like_input, why=why)


_activation("relu", 1, nn.ReLU, *torch_forms("relu"), why="a comparison")
_activation("relu6", 2, nn.ReLU6, F.relu6, *method_names("relu6"), why="max, min")
_activation("hardtanh", 2, nn.Hardtanh, *torch_forms("hardtanh"), why="max, min")  # nn.ReLU6 subclasses it
_activation("threshold", 1, nn.Threshold, *torch_forms("threshold"), why="a compare")
_activation("leaky_relu", 2, nn.LeakyReLU, *torch_forms("leaky_relu"), why="compare, multiply")
per_element("prelu", 2, nn.PReLU, *torch_forms("prelu"), why="compare, multiply")
_activation("rrelu", 2, nn.RReLU, *torch_forms("rrelu"), why="compare, multiply")
_activation("elu", 4, nn.ELU, *torch_forms("elu"), why="compare, exp, subtract, multiply")
_activation("celu", 5, nn.CELU, *torch_forms("celu"), why="elu + divide")
_activation("selu", 5, nn.SELU, *torch_forms("selu"), why="elu + scale")
_activation(
    "sigmoid", 4, nn.Sigmoid, *torch_forms("sigmoid"), *attrs(torch.special, "expit"), why="negate, exp, add, divide"
)
_activation("tanh", 5, nn.Tanh, *torch_forms("tanh"), why="exp, exp⁻¹, subtract, add, divide")
_activation("hardsigmoid", 4, nn.Hardsigmoid, *torch_forms("hardsigmoid"), why="add, 2 clamps, div")
_activation("hardswish", 5, nn.Hardswish, *torch_forms("hardswish"), why="hardsigmoid + multiply")
_activation("silu", 5, nn.SiLU, *torch_forms("silu"), why="sigmoid + multiply")
_activation("softplus", 3, nn.Softplus, *torch_forms("softplus"), why="exp, add, log")
_activation("mish", 9, nn.Mish, *torch_forms("mish"), why="softplus + tanh + multiply")
_activation("softsign", 3, nn.Softsign, *torch_forms("softsign"), why="abs, add, divide")
_activation("logsigmoid", 4, nn.LogSigmoid, *torch_forms("logsigmoid"), why="neg, exp, add, log")
_activation("tanhshrink", 6, nn.Tanhshrink, *torch_forms("tanhshrink"), why="tanh + subtract")
_activation(
    "shrink", 2, nn.Hardshrink, nn.Softshrink, *torch_forms("hardshrink", "softshrink"), why="compare, subtract or zero"
)
per_element("glu", 5, nn.GLU, *torch_forms("glu"), why="a sigmoid of one half, a multiply")


def _gelu_shape(call: OpCall) -> torch.Tensor | None:
    # an unknown approximation is the kernel's error to raise
    return like_input(call) if call.arg("approximate", "none") in ("none", "tanh") else None


@register_rule(nn.GELU, *torch_forms("gelu"), shape=_gelu_shape)
def gelu(call: OpCall) -> Cost:
    """erf form 0.5x(1+erf(x/sqrt2)): 5 per element; tanh approximation: 13 per element."""
    approx = call.arg("approximate", "none")
    return Cost(flops=(13 if approx == "tanh" else 5) * call.y.numel())


def softmax_flops(elements: int, rows: int) -> int:
    """Softmax over ``rows`` rows holding ``elements`` in all: per row of n, n exps, n-1 adds
    and n divides, so rows * (3n - 1) = 3 * elements - rows (the field's formula)."""
    return 3 * elements - rows


def _rows(call: OpCall) -> tuple[int, int]:
    x = call.x
    dim = call.arg("dim")
    if dim is None:  # legacy implicit dim: 0 for 0-, 1- and 3-D inputs, else 1
        dim = 0 if x.dim() in (0, 1, 3) else 1
    n = x.shape[dim] if x.dim() else 1
    return x.numel(), (x.numel() // n if n else 0)


@register_rule(nn.Softmax, nn.Softmax2d, *torch_forms("softmax"), *attrs(torch.special, "softmax"))
def softmax(call: OpCall) -> Cost:
    """rows * (3n - 1) along the softmax dim (n exps, n-1 adds, n divides per row)."""
    if isinstance(call.module, nn.Softmax2d):
        x = call.x
        return Cost(flops=softmax_flops(x.numel(), x.numel() // x.shape[-3]))
    return Cost(flops=softmax_flops(*_rows(call)))


@register_rule(nn.LogSoftmax, *torch_forms("log_softmax"), *attrs(torch.special, "log_softmax"))
def log_softmax(call: OpCall) -> Cost:
    """rows * 3n: the softmax's exps and adds, one log per row, and n subtracts."""
    elements, _ = _rows(call)
    return Cost(flops=3 * elements)


@register_rule(nn.Softmin, *torch_forms("softmin"))
def softmin(call: OpCall) -> Cost:
    """softmax(-x): n negations more per row."""
    elements, rows = _rows(call)
    return Cost(flops=elements + softmax_flops(elements, rows))
