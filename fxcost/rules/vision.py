"""torchvision's own ops, registered once torchvision is imported (fxcost never imports it).

The compiled ops (``torch.ops.torchvision.*``) exist where torchvision's C++ library loaded;
detection models call them on real tensors (``real=True``): their sizes depend on the data.
Stochastic depth and DropBlock are Python functions marked ``torch.fx.wrap``: at inference they
are the identity (zero FLOPs, like dropout), and with a rule symbolic_trace keeps them as calls.
"""

from __future__ import annotations

import sys

import torch

from ..cost import Cost
from ..registry import OpCall, register_rule
from ._common import like_input, per_element

_registered: set[str] = set()


def _ops(*names: str) -> list:
    found = []
    for n in names:
        try:
            found.append(getattr(torch.ops.torchvision, n))
        except (AttributeError, RuntimeError):  # torchvision's C++ ops are not loaded here
            pass
    return found


def register() -> bool:
    """Register the rules for whichever torchvision ops are loaded now; True once all are (the
    registry asks again while not)."""
    if "torchvision" not in sys.modules:
        return False
    ops = sys.modules.get("torchvision.ops")
    if "python" not in _registered and ops is not None:
        _registered.add("python")
        names = ("stochastic_depth", "StochasticDepth", "drop_block2d", "drop_block3d", "DropBlock2d", "DropBlock3d")
        per_element("dropout", 0, *[getattr(ops, n) for n in names if hasattr(ops, n)], moves_data=False,
                    shape=like_input)
    if "compiled" not in _registered and _ops("nms"):
        _registered.add("compiled")
        for rule, names in ((nms, ("nms",)), (roi_align, ("roi_align", "ps_roi_align")),
                            (roi_pool, ("roi_pool", "ps_roi_pool")), (deform_conv2d, ("deform_conv2d",))):
            if _ops(*names):
                register_rule(*_ops(*names))(rule)
    return {"python", "compiled"} <= _registered


def nms(call: OpCall) -> Cost:
    """IoU of every pair of the N boxes (an upper bound; NMS stops early): 12 FLOPs a pair
    (2 max, 2 min, 2 sub, 2 clamp, 1 mul for the intersection; add, sub, div for the IoU)."""
    n = call.x.shape[0]
    return Cost(flops=12 * n * (n - 1) // 2)


def roi_align(call: OpCall) -> Cost:
    """Per output bin, sampling_ratio^2 bilinear samples (4 weights: 7 FLOPs each) averaged:
    outputs * (8 s^2) FLOPs; an adaptive sampling ratio (<= 0) is counted as 2."""
    s = call.arg("sampling_ratio", 2)
    s = s if s and s > 0 else 2
    return Cost(flops=call.y.numel() * 8 * s * s)


def roi_pool(call: OpCall) -> Cost:
    """A max over each bin: one compare per input element covered, bounded by outputs x 4."""
    return Cost(flops=4 * call.y.numel())


def deform_conv2d(call: OpCall) -> Cost:
    """A convolution whose taps are bilinear samples: conv MACs plus 7 FLOPs per sample."""
    w = call.arg("weight")
    out = call.y.numel()
    macs = out * w.shape[1:].numel()
    return call.dots(macs, out) + Cost(flops=7 * macs)
