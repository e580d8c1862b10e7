"""Reductions and scans: FLOPs per input element reduced."""

from __future__ import annotations

import math

import torch

from ..core.cost import Cost
from ._common import is_float, torch_forms
from .registry import OpCall, register_rule


def _reduce(call: OpCall, per_input: int) -> Cost:
    return Cost(flops=per_input * call.x.numel()) if is_float(call) else Cost()


@register_rule(
    *torch_forms(
        "sum", "mean", "nansum", "nanmean", "prod", "cumsum", "cumprod", "logcumsumexp", "trace", "count_nonzero"
    ),
    op="sum",
)
def sum_reduce(call: OpCall) -> Cost:
    """one add (or multiply) per input element."""
    return _reduce(call, 1)


@register_rule(*torch_forms("histc", "histogram", "bincount", "histogramdd"))
def histogram(call: OpCall) -> Cost:
    """bin index (subtract, scale, floor) and an increment per input element: 4 per element."""
    return _reduce(call, 4)


@register_rule(
    *torch_forms(
        "amax",
        "amin",
        "argmax",
        "argmin",
        "aminmax",
        "cummax",
        "cummin",
        "median",
        "nanmedian",
        "mode",
        "kthvalue",
        "all",
        "any",
    )
)
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


@register_rule(
    *torch_forms("norm", "logsumexp", "dist", "frobenius_norm", "native_norm", "norm_except_dim"),
    torch.linalg.vector_norm,
    torch.linalg.norm,
)
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


@register_rule(
    *torch_forms(
        "scatter_add",
        "scatter_reduce",
        "index_add",
        "index_reduce",
        "index_put",
        "_unsafe_masked_index_put_accumulate",
        "put",
        "segment_reduce",
        "_segment_reduce",
    ),
    op="scatter_reduce",
)
def scatter_reduce(call: OpCall) -> Cost:
    """Each source element is combined into its target (add, multiply, max/min): one per
    source element (``index_put`` without ``accumulate`` only copies: 0); a ``mean`` divides
    each output once more."""
    src = call.arg("src")
    if src is None:
        src = call.arg("source")
    if src is None:
        src = call.arg("values")
    if src is None:  # segment_reduce(data, reduce, ...) reduces its data
        src = call.arg("data")
    name = str(getattr(call.target, "__name__", call.target))
    if "index_put" in name and not call.arg("accumulate", False):
        return Cost()
    if not isinstance(src, torch.Tensor) or not is_float(call):
        return Cost()
    mean = call.arg("reduce") == "mean"
    return Cost(flops=src.numel() + (call.y.numel() if mean else 0))


@register_rule(*torch_forms("quantile", "nanquantile"))
def quantile(call: OpCall) -> Cost:
    """A sort along the dim (n·⌈log2 n⌉ compares), then a linear interpolation per quantile
    (3 per output)."""
    x, dim = call.x, call.arg("dim")
    n = x.numel() if dim is None or x.dim() == 0 else x.shape[dim]
    return Cost(flops=x.numel() * max(1, math.ceil(math.log2(max(n, 2)))) + 3 * call.y.numel())


@register_rule(*torch_forms("sum_to_size"))
def sum_to_size(call: OpCall) -> Cost:
    """one add per input element summed away."""
    return Cost(flops=max(call.x.numel() - call.y.numel(), 0)) if is_float(call) else Cost()
