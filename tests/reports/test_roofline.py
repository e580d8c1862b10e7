"""The roofline (each node's bound and lower-bound time) and the device peaks table."""

import pytest
import torch
from torch import nn

import fxcost
from fxcost.reports.peaks import Peak, peak_for
from fxcost.reports.roofline import roofline


def test_roofline_arithmetic():
    model = nn.Sequential(nn.Linear(1024, 1024, bias=False), nn.ReLU())
    r = fxcost.profile(model, (torch.randn(1024, 1024),))
    peak = Peak("toy", {"float32": 100e12}, 1e12)  # ridge at 100 FLOP/byte
    lin, relu = roofline(r, peak)
    # linear: 2*1024^3 - 1024^2 FLOPs over 3 * 4 MiB (x, W, y): intensity ~ 170 -> compute-bound
    assert lin.flops == 2 * 1024**3 - 1024**2 and lin.bytes == 3 * 4 * 1024**2
    assert lin.bound == "compute" and lin.min_time_ms == pytest.approx(1e3 * lin.flops / 100e12)
    # relu: 1 FLOP per 8 bytes -> memory-bound
    assert relu.bound == "memory" and relu.min_time_ms == pytest.approx(1e3 * relu.bytes / 1e12)


def test_peak_table_lookup():
    assert peak_for("NVIDIA H100 80GB HBM3").name == "NVIDIA H100 SXM"
    assert peak_for("NVIDIA H100 PCIe").bandwidth == 2.0e12
    assert peak_for("NVIDIA H200").flops_for(torch.bfloat16) == pytest.approx(989.4e12)
    assert peak_for("NVIDIA A100-SXM4-80GB").flops_for("bfloat16") == 312e12
    assert peak_for("Some CPU") is None
