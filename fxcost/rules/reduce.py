"""Reductions and scans: FLOPs per input element reduced."""

from __future__ import annotations

import math

import torch

from ..cost import Cost
from ..registry import OpCall, register_rule
from ._common import is_float, torch_forms


def _reduce(call: OpCall, per_input: int) -> Cost:
    return Cost(flops=per_input * call.x.numel()) if is_float(call) else Cost()


@register_rule(*torch_forms("sum", "mean", "nansum", "nanmean", "prod", "cumsum", "cumprod",
                            "logcumsumexp", "trace", "count_nonzero"), op="sum")
def sum_reduce(call: OpCall) -> Cost:
    """one add (or multiply) per input element."""
    return _reduce(call, 1)


@register_rule(*torch_forms("histc", "histogram", "bincount"))
def histogram(call: OpCall) -> Cost:
    """bin index (subtract, scale, floor) and an increment per input element: 4 per element."""
    return _reduce(call, 4)


@register_rule(*torch_forms("amax", "amin", "argmax", "argmin", "aminmax", "cummax", "cummin",
                            "median", "nanmedian", "mode", "kthvalue", "all", "any"))
def max_reduce(call: OpCall) -> Cost:
    """one compare per input element."""
    return _reduce(call, 1)


@register_rule(*torch_forms("max", "min"), op="max")
def max_min(call: OpCall) -> Cost:
    """torch.max(a, b) is elementwise (out.numel); torch.max(x[, dim]) reduces (in.numel)."""
    if len(call.inputs) > 1:
        return Cost(flops=call.y.numel()) if is_float(call) else Cost()
    return _reduce(call, 1)


@register_rule(*torch_forms("var", "std", "var_mean", "std_mean"))
def var(call: OpCall) -> Cost:
    """mean (1 per element), then subtract, square and add: 4 per input element."""
    return _reduce(call, 4)


@register_rule(*torch_forms("norm", "logsumexp", "dist"), torch.linalg.vector_norm,
               torch.linalg.norm)
def norm(call: OpCall) -> Cost:
    """square (or exp) and add per input element."""
    return _reduce(call, 2)


@register_rule(*torch_forms("sort", "argsort", "topk", "msort"))
def sort(call: OpCall) -> Cost:
    """comparison sort: n * ceil(log2 n) compares along the dim, a lower bound for topk."""
    x = call.x
    dim = call.arg("dim", -1)
    n = x.shape[dim] if x.dim() else 1
    return Cost(flops=x.numel() * max(1, math.ceil(math.log2(max(n, 2))))) if is_float(call) else Cost()
