"""torchvision's own ops (fxcost never imports torchvision).

The compiled ops (``torch.ops.torchvision.*``, where torchvision's C++ library loads) are
registered by name; detection models call them on real tensors (``real=True``): their sizes
depend on the data. Stochastic depth and DropBlock are Python functions marked
``torch.fx.wrap``, registered once torchvision is imported (the registry asks ``register``): at
inference they are the identity (zero FLOPs, like dropout), and with a rule symbolic_trace keeps
them as calls.
"""

from __future__ import annotations

import math
import sys

from ..core.cost import Cost
from ._common import like_input, per_element
from .registry import OpCall, register_rule

_done: list[bool] = []


def register() -> bool:
    """Register the rules of torchvision's Python ops once it is imported; True when done (the
    registry asks again, while not, whenever modules were imported)."""
    ops = sys.modules.get("torchvision.ops")
    if ops is not None and not _done:
        _done.append(True)
        names = ("stochastic_depth", "StochasticDepth", "drop_block2d", "drop_block3d", "DropBlock2d", "DropBlock3d")
        per_element(
            "dropout",
            0,
            *[getattr(ops, n) for n in names if hasattr(ops, n)],
            moves_data=False,
            shape=like_input,
            why="stochastic depth, DropBlock: the identity at inference",
        )
    return ops is not None


@register_rule("torchvision::nms")
def nms(call: OpCall) -> Cost:
    """IoU of every pair of the N boxes (an upper bound; NMS stops early): 12 FLOPs a pair
    (2 max, 2 min, 2 sub, 2 clamp, 1 mul for the intersection; add, sub, div for the IoU)."""
    n = call.x.shape[0]
    return Cost(flops=12 * n * (n - 1) // 2)


@register_rule("torchvision::roi_align", "torchvision::ps_roi_align")
def roi_align(call: OpCall) -> Cost:
    """Per output bin, sampling_ratio^2 bilinear samples (4 weights: 7 FLOPs each) averaged:
    outputs * (8 s^2) FLOPs; an adaptive sampling ratio (<= 0) is counted as 2."""
    s = call.arg("sampling_ratio", 2)
    s = s if s and s > 0 else 2
    return Cost(flops=call.y.numel() * 8 * s * s)


@register_rule("torchvision::roi_pool", "torchvision::ps_roi_pool")
def roi_pool(call: OpCall) -> Cost:
    """A max over each bin: one compare per input element covered, bounded by outputs x 4."""
    return Cost(flops=4 * call.y.numel())


@register_rule("torchvision::deform_conv2d")
def deform_conv2d(call: OpCall) -> Cost:
    """A convolution whose taps are bilinear samples: conv MACs plus 7 FLOPs per sample."""
    w = call.arg("weight")
    out = call.y.numel()
    macs = out * math.prod(w.shape[1:])
    return call.dots(macs, out) + Cost(flops=7 * macs)
