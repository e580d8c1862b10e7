"""fxcost/rules/vision.py: torchvision's ops. Its compiled ops (nms, roi_align, ...) exist only
where torchvision's C++ library loads (not with this CPU torch): their rules are checked on calls
built by hand, read by the Python signatures of ``torchvision.ops``."""

import pytest
import torch
from helpers import cost

from fxcost.rules import vision
from fxcost.rules.registry import OpCall

tv = pytest.importorskip("torchvision")


def _call(fn, args, kwargs, out):
    return OpCall("call_function", fn, args, kwargs, out)


def test_roi_align_samples_per_bin():
    x, boxes = torch.empty(1, 4, 16, 16), torch.empty(3, 5)
    out = torch.empty(3, 4, 7, 7)  # 588 bins
    # sampling_ratio 2 (by keyword, by position): 4 samples of 8 FLOPs per bin
    assert vision.roi_align(_call(tv.ops.roi_align, (x, boxes, 7), {"sampling_ratio": 2}, out)).flops == 588 * 32
    assert vision.roi_align(_call(tv.ops.roi_align, (x, boxes, 7, 1.0, 3), {}, out)).flops == 588 * 72
    # adaptive (-1, the default) is counted as 2
    assert vision.roi_align(_call(tv.ops.roi_align, (x, boxes, 7), {}, out)).flops == 588 * 32


def test_nms_roi_pool_deform_conv():
    assert vision.nms(_call(tv.ops.nms, (torch.empty(10, 4), torch.empty(10), 0.5), {}, None)).flops == 12 * 45
    assert (
        vision.roi_pool(
            _call(tv.ops.roi_pool, (torch.empty(1, 4, 8, 8), torch.empty(2, 5), 3), {}, torch.empty(2, 4, 3, 3))
        ).flops
        == 4 * 72
    )
    out = torch.empty(1, 8, 5, 5)  # 200 outputs of 3*3*3 taps
    c = vision.deform_conv2d(
        _call(
            tv.ops.deform_conv2d, (torch.empty(1, 3, 5, 5), torch.empty(1, 18, 5, 5), torch.empty(8, 3, 3, 3)), {}, out
        )
    )
    assert (c.flops, c.macs) == (53 * 200 + 7 * 5400, 5400)


def test_stochastic_depth_registered_without_asking():
    """Importing torchvision is enough: the registry registers its rules on next use."""
    x = torch.randn(2, 3)
    assert cost(tv.ops.StochasticDepth(0.2, "row").eval(), x).flops == 0
    assert cost(lambda a: tv.ops.stochastic_depth(a, 0.2, "row", training=False), x).flops == 0
