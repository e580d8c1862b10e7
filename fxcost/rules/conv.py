"""Convolutions, all dims, grouped, depthwise and pointwise alike.

weight is [C_out, C_in/groups, *k] (transposed: [C_in, C_out/groups, *k]), so each output of a
convolution is a dot product of prod(weight.shape[1:]) = (C_in/groups) * k terms: the seed's
formula, with depthwise and pointwise convolutions falling out of ``groups`` and ``k``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.nn.modules.conv import _ConvNd, _ConvTransposeNd

from ..cost import Cost
from ..registry import OpCall, register_rule


def _bias(call: OpCall) -> int:
    return call.y.numel() if call.get("bias", 2) is not None else 0


@register_rule(_ConvNd, F.conv1d, F.conv2d, F.conv3d, torch.conv1d, torch.conv2d, torch.conv3d)
def conv(call: OpCall) -> Cost:
    """MACs = out.numel * (C_in/groups) * prod(k); FLOPs = out.numel * (2n-1 [+1 with bias])."""
    w = call.get("weight", 1)
    out = call.y.numel()
    return call.dots(out * w.shape[1:].numel(), out) + Cost(flops=_bias(call))


@register_rule(
    _ConvTransposeNd,
    F.conv_transpose1d,
    F.conv_transpose2d,
    F.conv_transpose3d,
)
def conv_transpose(call: OpCall) -> Cost:
    """Every input element is scattered through C_out/groups * prod(k) weights:
    MACs = in.numel * (C_out/groups) * prod(k); the adds are counted per output."""
    w = call.get("weight", 1)
    out = call.y.numel()
    return call.dots(call.x.numel() * w.shape[1:].numel(), out) + Cost(flops=_bias(call))
