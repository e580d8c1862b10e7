"""fxcost/rules/aten.py: aten-only ops of training steps, export programs and Inductor graphs:
``aten.convolution`` (plain and transposed), ``convolution_backward``, and the documented
per-element estimates of the other backward ops (MACs exact, FLOPs estimated)."""

import torch
from helpers import cost
from torch import nn

import fxcost

aten = torch.ops.aten


def test_convolution_plain_and_transposed():
    x, w = torch.randn(1, 3, 5, 5), torch.randn(8, 3, 3, 3)
    c = cost(lambda a, b: aten.convolution.default(a, b, None, [1, 1], [1, 1], [1, 1], False, [0, 0], 1), x, w)
    assert (c.flops, c.macs) == (53 * 200, 5400)  # as nn.Conv2d(3, 8, 3, padding=1)
    wt = torch.randn(2, 3, 2, 2)  # transposed: in 2 -> out 3 channels, stride 2 on 4x4
    f = lambda a, b: aten.convolution.default(a, b, None, [2, 2], [0, 0], [1, 1], True, [0, 0], 1)  # noqa: E731
    c = cost(f, torch.randn(1, 2, 4, 4), wt)
    assert (c.flops, c.macs) == (2 * 384 - 192, 384)


def test_convolution_backward_costs_each_gradient_asked_for():
    """grad_input and grad_weight each the forward's 5400 MACs (75 and 216 outputs), grad_bias a
    sum of grad_output (200); output_mask drops what is not asked for."""
    go, x, w = torch.randn(1, 8, 5, 5), torch.randn(1, 3, 5, 5), torch.randn(8, 3, 3, 3)

    def bwd(mask):
        return lambda g, a, b: aten.convolution_backward.default(
            g, a, b, [8], [1, 1], [1, 1], [1, 1], False, [0, 0], 1, mask
        )[1]

    c = cost(bwd([True, True, True]), go, x, w)
    assert (c.flops, c.macs) == ((2 * 5400 - 75) + (2 * 5400 - 216) + 200, 2 * 5400)
    c = cost(bwd([False, True, False]), go, x, w)
    assert (c.flops, c.macs) == (2 * 5400 - 216, 5400)


def test_per_element_backward_estimates():
    x = torch.randn(2, 3, 4, 4)  # 96 elements
    g = torch.randn(2, 3, 4, 4)
    assert cost(lambda a, b: aten.threshold_backward.default(a, b, 0.0), g, x).flops == 3 * 96
    assert cost(lambda a, b: aten.gelu_backward.default(a, b), g, x).flops == 10 * 96
    assert cost(lambda a, b: aten._softmax_backward_data.default(a, b, -1, torch.float32), g, x).flops == 4 * 96
    mask = torch.ones(2, 3, 4, 4, dtype=torch.bool)
    assert cost(lambda a, m: aten.native_dropout_backward.default(a, m, 2.0), g, mask).flops == 0
    # pool backward: one per element of the larger (the input), 96
    gp = torch.randn(2, 3, 2, 2)
    f = lambda a, b: aten.avg_pool2d_backward.default(a, b, [2, 2], [2, 2], [0, 0], False, True, None)  # noqa: E731
    assert cost(f, gp, x).flops == 96


def test_training_step_backward_nodes_follow_the_estimates():
    """A conv-BN-ReLU-pool-linear-GELU-LayerNorm step: every backward op has a rule, and each
    estimate is per element of the larger side (all outputs together: grad_input, grad_weight,
    grad_bias)."""
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(64, 8),
        nn.GELU(),
        nn.LayerNorm(8),
    )
    r = fxcost.profile(model, (torch.randn(2, 3, 8, 8),), backward=True, strict=True)
    bwd: dict[str, list[int]] = {}
    for n in r.nodes:
        if n.phase == "backward":
            bwd.setdefault(n.op, []).append(n.cost.flops)
    act = 2 * 4 * 8 * 8  # 512 activations of the conv block; 16 of the head
    assert sorted(bwd["norm_backward"]) == [10 * (16 + 8 + 8), 10 * (act + 4 + 4)]
    assert bwd["activation_backward"] == [3 * act]
    assert bwd["pool_backward"] == [act]
    assert bwd["gelu_backward"] == [10 * 16]


def test_long_tail_backward_kernels_have_rules():
    """The backward kernels autograd runs for softplus, logsigmoid, shrinks, glu, losses, pads and
    upsampling, each an estimate per element of the larger side."""
    model = nn.Sequential(
        nn.Softplus(),
        nn.LogSigmoid(),
        nn.Hardshrink(),
        nn.ReflectionPad1d(1),
        nn.Upsample(scale_factor=2, mode="linear"),
    )
    x = torch.randn(2, 3, 8, requires_grad=True)
    r = fxcost.profile(model, (x,), backward=True, strict=True)
    by_op: dict[str, int] = {}
    for n in r.nodes:
        if n.phase == "backward":
            by_op[n.op] = by_op.get(n.op, 0) + n.cost.flops
    assert by_op["activation_backward"] == 3 * (3 * 48)  # three activations of 48 elements
    # the upsample's (its 120-element grad_output) and the pad's (its 60-element grad_output)
    assert by_op["pool_backward"] == 120 + 60
