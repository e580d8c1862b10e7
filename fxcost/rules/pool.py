"""Pooling and resampling.

Max pool = out.numel; average pool = (kernel + 1) * out.numel. Adaptive pools use the
largest window they take, ceil(in / out) per spatial dim. Interpolation is a weighted sum of
the 2^d (linear family) or 4^d (bicubic) neighbours of each output: 2m - 1 FLOPs for m of them.
"""

from __future__ import annotations

import math
import re

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.pooling import (
    _AdaptiveAvgPoolNd,
    _AdaptiveMaxPoolNd,
    _AvgPoolNd,
    _LPPoolNd,
    _MaxPoolNd,
)

from ..core.cost import Cost
from ._common import attrs
from .registry import OpCall, register_rule


def _spatial_dims(call: OpCall) -> int:
    """1, 2 or 3, from the op's name (``avg_pool2d``, ``AdaptiveAvgPool3d``)."""
    name = type(call.module).__name__ if call.module is not None else getattr(call.target, "__name__", str(call.target))
    m = re.search(r"([123])d", name)
    return int(m.group(1)) if m else max(call.y.dim() - 2, 1)


def _kernel(call: OpCall) -> int:
    k = call.arg("kernel_size")
    if isinstance(k, int):
        return k ** _spatial_dims(call)
    return math.prod(k)


_MAX = attrs(
    F,
    "max_pool1d",
    "max_pool2d",
    "max_pool3d",
    "max_pool1d_with_indices",
    "max_pool2d_with_indices",
    "max_pool3d_with_indices",
    "adaptive_max_pool1d",
    "adaptive_max_pool2d",
    "adaptive_max_pool3d",
    "adaptive_max_pool1d_with_indices",
    "adaptive_max_pool2d_with_indices",
    "adaptive_max_pool3d_with_indices",
    "fractional_max_pool2d",
    "fractional_max_pool3d",
    "fractional_max_pool2d_with_indices",
    "fractional_max_pool3d_with_indices",
)


@register_rule(
    _MaxPoolNd,
    _AdaptiveMaxPoolNd,
    nn.FractionalMaxPool2d,
    nn.FractionalMaxPool3d,
    *_MAX,
    *attrs(torch, "max_pool1d", "max_pool2d", "max_pool3d", "adaptive_max_pool1d"),
    *attrs(torch.ops.aten, "fractional_max_pool2d", "fractional_max_pool3d"),
)
def max_pool(call: OpCall) -> Cost:
    """out.numel (one comparison per window element, counted once per output)."""
    return Cost(flops=call.y.numel())


@register_rule(_AvgPoolNd, F.avg_pool1d, F.avg_pool2d, F.avg_pool3d, torch.avg_pool1d)
def avg_pool(call: OpCall) -> Cost:
    """(kernel + 1) * out.numel (kernel adds and one divide)."""
    return Cost(flops=(_kernel(call) + 1) * call.y.numel())


@register_rule(_LPPoolNd, F.lp_pool1d, F.lp_pool2d, *attrs(F, "lp_pool3d"))
def lp_pool(call: OpCall) -> Cost:
    """pow per window element, kernel adds, one root: (2 * kernel + 1) * out.numel."""
    return Cost(flops=(2 * _kernel(call) + 1) * call.y.numel())


def _adaptive_window(call: OpCall) -> int:
    d = _spatial_dims(call)
    ins, outs = call.x.shape[-d:], call.y.shape[-d:]
    return math.prod(-(-i // o) if o else 0 for i, o in zip(ins, outs))


@register_rule(
    _AdaptiveAvgPoolNd,
    F.adaptive_avg_pool1d,
    F.adaptive_avg_pool2d,
    F.adaptive_avg_pool3d,
    *attrs(torch, "adaptive_avg_pool1d"),
)
def adaptive_avg_pool(call: OpCall) -> Cost:
    """(window + 1) * out.numel with window = prod(ceil(in / out))."""
    return Cost(flops=(_adaptive_window(call) + 1) * call.y.numel())


_NEIGHBOURS = {"linear": 2, "bilinear": 2, "trilinear": 2, "bicubic": 4}


@register_rule(nn.Upsample, F.interpolate, F.upsample, *attrs(F, "upsample_bilinear", "upsample_nearest"))
def interpolate(call: OpCall) -> Cost:
    """nearest: 0; linear/bilinear/trilinear: 2 * 2^d - 1 per output; bicubic: 2 * 4^d - 1;
    area: as adaptive average pooling."""
    # F.upsample_bilinear and the aten kernels (aten.upsample_bicubic2d) name their mode
    name = getattr(call.target, "__name__", "")
    mode = call.arg("mode", next((m for m in ("bicubic", "trilinear", "bilinear", "linear") if m in name), "nearest"))
    if mode == "area":
        return adaptive_avg_pool(call)
    per = _NEIGHBOURS.get(mode)
    if per is None:  # nearest, nearest-exact
        return Cost()
    return Cost(flops=(2 * per ** _spatial_dims_from(call) - 1) * call.y.numel())


def _spatial_dims_from(call: OpCall) -> int:
    return max(call.y.dim() - 2, 1)
