"""fxcost/rules/pool.py: max pools (seed: one per output), average pools (seed: (k+1) per
output), adaptive pools, lp pools and interpolation."""

import pytest
import torch
import torch.nn.functional as F
from helpers import CAPTURES, cost
from torch import nn


@pytest.mark.parametrize("capture", CAPTURES)
def test_pools(capture):
    x = torch.randn(1, 1, 4, 4)
    assert cost(nn.MaxPool2d(2), x, capture=capture).flops == 4  # out.numel
    assert cost(lambda a: F.max_pool2d(a, 2), x, capture=capture).flops == 4
    assert cost(lambda a: F.max_pool2d(a, kernel_size=2), x, capture=capture).flops == 4
    assert cost(nn.AvgPool2d(2), x, capture=capture).flops == (4 + 1) * 4
    assert cost(lambda a: F.avg_pool2d(a, (2, 2)), x, capture=capture).flops == 5 * 4
    y = torch.randn(1, 2, 7, 7)
    assert cost(nn.AdaptiveAvgPool2d(1), y, capture=capture).flops == (49 + 1) * 2
    assert cost(nn.AdaptiveMaxPool2d(1), y, capture=capture).flops == 2


def test_other_ranks_and_adaptive_windows():
    assert cost(nn.MaxPool1d(2), torch.randn(1, 2, 8)).flops == 8
    assert cost(nn.AvgPool3d(2), torch.randn(1, 1, 4, 4, 4)).flops == 9 * 8
    # 7 -> 3 adaptive windows of at most ceil(7/3) = 3 elements: (3 + 1) per output
    assert cost(nn.AdaptiveAvgPool1d(3), torch.randn(1, 1, 7)).flops == 4 * 3


def test_lp_pool():
    # a power per element of the window, a sum and a root: (2 * 4 + 1) per output
    assert cost(nn.LPPool2d(2, 2), torch.randn(1, 1, 4, 4)).flops == 9 * 4
    assert cost(lambda a: F.lp_pool1d(a, 2, 3), torch.randn(1, 2, 6)).flops == 7 * 4


def test_interpolate_modes():
    x = torch.randn(1, 1, 2, 2)  # to 4x4: 16 outputs
    assert cost(nn.Upsample(scale_factor=2), x).flops == 0  # nearest
    assert cost(lambda a: F.interpolate(a, scale_factor=2, mode="bilinear"), x).flops == 7 * 16
    assert cost(lambda a: F.interpolate(a, size=(4, 4), mode="bicubic"), x).flops == 31 * 16
    # 1-d linear: 2 neighbours, (2 * 2 - 1) per output
    assert cost(lambda a: F.interpolate(a, scale_factor=2, mode="linear"), torch.randn(1, 1, 4)).flops == 3 * 8
    # area is an adaptive average: 4x4 -> 2x2 windows of 4, (4 + 1) per output
    assert cost(lambda a: F.interpolate(a, size=(2, 2), mode="area"), torch.randn(1, 1, 4, 4)).flops == 5 * 4
    assert cost(nn.Upsample(scale_factor=2, mode="trilinear"), torch.randn(1, 1, 2, 2, 2)).flops == 15 * 64
