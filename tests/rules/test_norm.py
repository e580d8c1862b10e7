"""fxcost/rules/norm.py: one convention for every norm (2 per element to normalise, +3 computing
the statistics, +2 with an affine): batch norm 4 in eval and 7 in training with affine, layer,
group and instance norm 5 (+2), rms norm (3, +1 with a weight), local response norm, F.normalize."""

import pytest
import torch
import torch.nn.functional as F
from helpers import cost
from torch import nn

import fxcost


def test_batch_norm_eval_training_and_functional():
    x = torch.randn(2, 3, 4, 4)  # 96 elements
    # eval: subtract the running mean, multiply by 1/std (2), scale and shift (2)
    assert cost(nn.BatchNorm2d(3).eval(), x).flops == 4 * 96
    assert cost(nn.BatchNorm2d(3, affine=False).eval(), x).flops == 2 * 96
    # training: the batch's mean and variance first (a sum; a square and a sum: 3 more)
    assert cost(nn.BatchNorm2d(3).train(), x).flops == 7 * 96
    assert cost(nn.BatchNorm2d(3, affine=False).train(), x).flops == 5 * 96
    # no running statistics: the batch's, in eval too (as _BatchNorm.forward decides)
    assert cost(nn.BatchNorm2d(3, track_running_stats=False).eval(), x).flops == 7 * 96
    rm, rv = torch.zeros(3), torch.ones(3)
    assert cost(lambda a: F.batch_norm(a, rm, rv, weight=torch.ones(3), training=False), x).flops == 4 * 96
    assert cost(lambda a: F.batch_norm(a, rm, rv, weight=torch.ones(3), bias=torch.zeros(3)), x).flops == 4 * 96
    assert cost(lambda a: F.batch_norm(a, rm, rv), x).flops == 2 * 96
    assert cost(lambda a: F.batch_norm(a, rm, rv, training=True), x).flops == 5 * 96
    assert cost(lambda a: F.batch_norm(a, None, None, torch.ones(3), torch.zeros(3), True), x).flops == 7 * 96


@pytest.mark.parametrize("train", [True, False])
def test_batch_norm_in_a_training_step_follows_the_mode(train):
    """aten's kernels (``_native_batch_norm_legit`` / ``_no_training``) take the same convention."""
    m = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4)).train(train)
    r = fxcost.profile(m, (torch.randn(8, 4),), backward=True)
    (bn,) = [n for n in r.nodes if n.op == "batch_norm"]
    assert bn.cost.flops == (7 if train else 4) * 32


def test_instance_norm_with_running_statistics():
    x = torch.randn(2, 4, 8)  # 64 elements
    m = nn.InstanceNorm1d(4, track_running_stats=True, affine=True)
    assert cost(m.train(), x).flops == 7 * 64
    assert cost(m.eval(), x).flops == 4 * 64
    assert cost(lambda a: F.instance_norm(a, torch.zeros(4), torch.ones(4), use_input_stats=False), x).flops == 2 * 64


def test_layer_group_instance_rms_norm():
    x = torch.randn(2, 4, 8)  # 64 elements
    assert cost(nn.LayerNorm(8), x).flops == 7 * 64
    assert cost(nn.LayerNorm(8, elementwise_affine=False), x).flops == 5 * 64
    assert cost(lambda a: F.layer_norm(a, (8,)), x).flops == 5 * 64
    assert cost(lambda a: F.layer_norm(a, (8,), weight=torch.ones(8), bias=torch.zeros(8)), x).flops == 7 * 64
    assert cost(nn.GroupNorm(2, 4), x).flops == 7 * 64
    assert cost(lambda a: F.group_norm(a, 2), x).flops == 5 * 64
    assert cost(nn.InstanceNorm1d(4), x).flops == 5 * 64
    assert cost(nn.InstanceNorm1d(4, affine=True), x).flops == 7 * 64
    assert cost(nn.RMSNorm(8), x).flops == 4 * 64
    assert cost(lambda a: F.rms_norm(a, (8,)), x).flops == 3 * 64


def test_local_response_norm_and_normalize():
    x = torch.randn(1, 4, 3, 3)  # 36 elements; a window of 2 channels: (2*2 + 4) per element
    assert cost(nn.LocalResponseNorm(2), x).flops == 8 * 36
    assert cost(lambda a: F.local_response_norm(a, 3), x).flops == 10 * 36
    # square, sum and divide per element (the row's sqrt folded in)
    assert cost(lambda a: F.normalize(a, dim=1), torch.randn(2, 4)).flops == 3 * 8


@pytest.mark.parametrize("capture", ["symbolic_trace", "record"])
def test_parametrized_weight_norm_is_counted(capture):
    """weight_norm's parametrization computes the weight on every forward: ‖v‖ per output row
    (16 rows of 8: square and add each), a divide per row, a multiply per element: 3*128 + 16,
    before the Linear's own 16*4 outputs of 8 (MACs 512; 4*16*15 + 64 bias FLOPs)."""
    m = nn.utils.parametrizations.weight_norm(nn.Linear(8, 16))
    c = cost(m, torch.randn(4, 8), capture=capture)
    assert (c.flops, c.macs) == (3 * 128 + 16 + 64 * 15 + 64, 512)
