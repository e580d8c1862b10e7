"""fxcost/rules/conv.py: convolutions (grouped, depthwise, pointwise, 1/2/3-d) and transposed
convolutions. A conv output is a dot product of (C_in/groups)*prod(kernel) terms."""

import pytest
import torch
import torch.nn.functional as F
from helpers import CAPTURES, cost
from torch import nn


@pytest.mark.parametrize("capture", CAPTURES)
def test_conv2d_module(capture):
    # out (1,8,5,5)=200, n=3*3*3=27: MACs 5400, FLOPs (2*27-1)*200 + 200 bias
    c = cost(nn.Conv2d(3, 8, 3, padding=1), torch.randn(1, 3, 5, 5), capture=capture)
    assert (c.flops, c.macs) == (53 * 200 + 200, 5400)


def test_conv_functional_and_torch_forms():
    w, b = torch.randn(8, 3, 3, 3), torch.randn(8)
    x = torch.randn(1, 3, 5, 5)
    for f in (
        lambda a: F.conv2d(a, w, padding=1),
        lambda a: torch.conv2d(a, w, padding=1),
        lambda a: torch.ops.aten.conv2d.default(a, w, None, [1, 1], [1, 1]),
    ):
        c = cost(f, x)
        assert (c.flops, c.macs) == (53 * 200, 5400)
    # the bias and the stride by keyword: out (1,8,3,3) = 72 outputs
    c = cost(lambda a: F.conv2d(a, w, bias=b, stride=2, padding=1), x)
    assert (c.flops, c.macs) == (53 * 72 + 72, 27 * 72)


def test_depthwise_and_pointwise_conv():
    # depthwise 3x3 on 4 channels, 6x6 -> 4x4: 64 outputs of 9 terms
    c = cost(nn.Conv2d(4, 4, 3, groups=4, bias=False), torch.randn(1, 4, 6, 6))
    assert (c.flops, c.macs) == (17 * 64, 576)
    # pointwise 1x1, 4 -> 6 channels on 5x5: 150 outputs of 4 terms
    c = cost(nn.Conv2d(4, 6, 1, bias=False), torch.randn(1, 4, 5, 5))
    assert (c.flops, c.macs) == (7 * 150, 600)


def test_conv1d_conv3d_and_dilation():
    assert cost(nn.Conv1d(2, 4, 3, bias=False), torch.randn(1, 2, 10)).macs == 4 * 8 * 6
    assert cost(nn.Conv3d(1, 2, 2, bias=False), torch.randn(1, 1, 3, 3, 3)).macs == 2 * 8 * 8
    # dilation 2: a 3-tap kernel spans 5, 10 -> 6 outputs per channel
    assert cost(nn.Conv1d(2, 4, 3, dilation=2, bias=False), torch.randn(1, 2, 10)).macs == 4 * 6 * 6


def test_conv_transpose():
    # each of 32 inputs scatters through 3 out-channels x 2x2: MACs 384; 192 outputs
    c = cost(nn.ConvTranspose2d(2, 3, 2, stride=2, bias=False), torch.randn(1, 2, 4, 4))
    assert (c.flops, c.macs) == (2 * 384 - 192, 384)
    w = torch.randn(2, 3, 2, 2)
    c = cost(lambda a: F.conv_transpose2d(a, w, stride=2), torch.randn(1, 2, 4, 4))
    assert (c.flops, c.macs) == (2 * 384 - 192, 384)


def test_strided_transposed_conv_with_gaps():
    # 1x1 kernel, stride 2: 25 inputs land on 25 of the 81 outputs; the other 56 get nothing.
    # 25 multiplies, no adds (each reached output has one term): 25 FLOPs, never negative
    c = cost(nn.ConvTranspose2d(1, 1, 1, stride=2, bias=False), torch.randn(1, 1, 5, 5))
    assert (c.flops, c.macs) == (25, 25)


def test_conv_subclass_uses_base_rule():
    class MyConv(nn.Conv2d):
        pass

    assert cost(MyConv(3, 8, 3, padding=1), torch.randn(1, 3, 5, 5)).macs == 5400
