"""Convolutions, all dims, grouped, depthwise and pointwise alike.

weight is [C_out, C_in/groups, *k] (transposed: [C_in, C_out/groups, *k]), so each output of a
convolution is a dot product of prod(weight.shape[1:]) = (C_in/groups) * k terms: one
formula, with depthwise and pointwise convolutions falling out of ``groups`` and ``k``.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch.nn.modules.conv import _ConvNd, _ConvTransposeNd

from ..core.cost import Cost
from .registry import OpCall, register_rule


def _bias(call: OpCall) -> int:
    return call.y.numel() if call.arg("bias") is not None else 0


def _per_dim(v: Any, n: int) -> tuple:
    return tuple(v) if isinstance(v, (tuple, list)) else (v,) * n


def conv_shape(call: OpCall) -> torch.Tensor | None:
    """Output of a batched convolution, contiguous as the meta kernel makes it: per spatial dim
    (in + 2p - d(k-1) - 1) // s + 1. None (run the kernel, which raises the user's error) for
    anything unusual: unbatched input, channel or dtype mismatch, an empty output."""
    x, w, b = call.x, call.arg("weight"), call.arg("bias")
    if not isinstance(w, torch.Tensor) or x.dim() != w.dim() or x.dim() < 3 or x.dtype != w.dtype:
        return None
    n = w.dim() - 2
    groups = call.arg("groups", 1)
    if x.shape[1] != w.shape[1] * groups or w.shape[0] % groups:
        return None
    if b is not None and (not isinstance(b, torch.Tensor) or tuple(b.shape) != (w.shape[0],)):
        return None
    stride, dilation = _per_dim(call.arg("stride", 1), n), _per_dim(call.arg("dilation", 1), n)
    padding = call.arg("padding", 0)
    padded = getattr(call.module, "padding_mode", "zeros") != "zeros"  # the module calls F.pad first
    if padded and isinstance(padding, str):
        return None
    if padding == "same" and all(s == 1 for s in stride):
        sizes = tuple(x.shape[2:])
    else:
        if isinstance(padding, str):
            if padding != "valid":
                return None
            padding = 0
        padding = _per_dim(padding, n)
        if padded and any(p >= i for p, i in zip(padding, x.shape[2:])):
            return None  # reflect/circular padding as wide as the input is F.pad's error
        sizes = tuple(
            (i + 2 * p - d * (k - 1) - 1) // s + 1
            for i, k, s, p, d in zip(x.shape[2:], w.shape[2:], stride, padding, dilation)
        )
    if min(sizes) <= 0:
        return None
    return torch.empty((x.shape[0], w.shape[0], *sizes), dtype=x.dtype, device="meta")


@register_rule(_ConvNd, F.conv1d, F.conv2d, F.conv3d, torch.conv1d, torch.conv2d, torch.conv3d, shape=conv_shape)
def conv(call: OpCall) -> Cost:
    """MACs = out.numel * (C_in/groups) * prod(k); FLOPs = out.numel * (2n-1 [+1 with bias])."""
    w = call.arg("weight")
    out = call.y.numel()
    return call.dots(out * math.prod(w.shape[1:]), out) + Cost(flops=_bias(call))


@register_rule(
    _ConvTransposeNd,
    F.conv_transpose1d,
    F.conv_transpose2d,
    F.conv_transpose3d,
)
def conv_transpose(call: OpCall) -> Cost:
    """Every input element is scattered through C_out/groups * prod(k) weights:
    MACs = in.numel * (C_out/groups) * prod(k); the adds are counted per output."""
    w = call.arg("weight")
    out = call.y.numel()
    return call.dots(call.x.numel() * math.prod(w.shape[1:]), out) + Cost(flops=_bias(call))
