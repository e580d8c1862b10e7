"""Quantized int8 ops count as their float ops (MACs and FLOPs), bytes at int8, names as
``quantized::op``; on meta, a clear error saying to count on real tensors."""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.ao.nn.intrinsic.quantized as nniq
import torch.ao.nn.quantized as nnq
from torch import nn

import fxcost
from fxcost.core.naming import target_name

warnings.filterwarnings("ignore", message=".*quantiz", category=UserWarning)


class Int8Block(nn.Module):
    """What eager-mode quantization makes of conv-bn-relu, a residual add, pooling and a linear."""

    def __init__(self):
        super().__init__()
        self.quant = nnq.Quantize(0.05, 64, torch.quint8)
        self.conv_relu = nniq.ConvReLU2d(3, 8, 3, padding=1)
        self.conv = nnq.Conv2d(8, 8, 3, padding=1, bias=False)
        self.add = nnq.QFunctional()
        self.cat = nnq.QFunctional()
        self.fc = nnq.Linear(16, 10)
        self.dequant = nnq.DeQuantize()

    def forward(self, x):
        y = self.conv_relu(self.quant(x))
        y = self.add.add_relu(self.conv(y), y)
        y = self.cat.cat([y, y], dim=1)
        y = torch.nn.functional.adaptive_avg_pool2d(y, 1).flatten(1)
        return self.dequant(self.fc(y))


def test_int8_ops_count_as_their_float_ops():
    x = torch.randn(2, 3, 6, 6)
    r = fxcost.profile(Int8Block(), (x,), real=True)
    assert r.unsupported == []
    ops = {row.op: row for row in r.by_operator()}
    out = 2 * 8 * 6 * 6
    conv_relu, conv = out * 3 * 9, out * 8 * 9
    assert ops["quantized_conv_relu"].cost.macs == conv_relu
    assert ops["quantized_conv_relu"].cost.flops == 2 * conv_relu - out + out + out  # dots, bias, relu
    assert ops["quantized_conv"].cost.flops == 2 * conv - out  # no bias
    assert ops["quantized_elementwise_relu"].cost.flops == 2 * out
    assert ops["quantized_cat"].cost.flops == 0 and ops["quantized_cat"].cost.bytes_written == 2 * out
    assert ops["quantized_linear"].cost.macs == 2 * 10 * 16
    assert ops["quantize"].cost.flops == 2 * x.numel() and ops["dequantize"].cost.flops == 2 * 2 * 10
    assert ops["adaptive_avg_pool"].cost.flops > 0  # a float rule on a quantized tensor
    assert r.total.macs == conv_relu + conv + 2 * 10 * 16
    # bytes at int8: the quantized input (1 byte each) and the packed int8 weight and float bias
    node = next(n for n in r.nodes if n.op == "quantized_conv_relu")
    assert node.cost.bytes_read == 2 * 3 * 36 + 8 * 3 * 9 + 8 * 4
    assert node.cost.bytes_written == out
    assert r.params == (8 * 3 * 9 + 8) + 8 * 8 * 9 + (10 * 16 + 10)


def test_dynamic_quantized_linear_counts_as_the_float_linear():
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
    x = torch.randn(4, 64)
    q = torch.ao.quantization.quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8)
    r, f = fxcost.profile(q, (x,), real=True), fxcost.profile(model, (x,))
    assert r.unsupported == []
    assert (r.total.macs, r.total.flops, r.params) == (f.total.macs, f.total.flops, f.params)
    first = next(n for n in r.nodes if "linear" in n.op)
    assert first.target == "quantized::linear_dynamic"
    assert first.cost.bytes_read == 4 * 64 * 4 + 128 * 64 + 128 * 4  # float input, int8 weight, float bias


def test_quantized_ops_are_named_as_operators():
    assert target_name(torch.ops.quantized.conv2d_relu) == "quantized::conv2d_relu"
    assert target_name(torch.ops.quantized.conv2d.new) == "quantized::conv2d.new"
    assert target_name(torch.ops.aten.mm.default) == "aten::mm"
    assert target_name(torch.quantize_per_tensor) == "torch.quantize_per_tensor"

    class Norm(nn.Module):  # a quantized op without a rule is reported by its operator name
        def forward(self, x):
            q = torch.quantize_per_tensor(x, 0.1, 0, torch.quint8)
            return torch.ops.quantized.batch_norm2d(
                q, torch.ones(3), torch.zeros(3), torch.zeros(3), torch.ones(3), 1e-5, 0.1, 0
            )

    r = fxcost.profile(Norm(), (torch.randn(1, 3, 4, 4),), real=True)
    assert [u.target for u in r.unsupported] == ["quantized::batch_norm2d"]


def test_on_meta_a_quantized_model_is_told_to_count_on_real_tensors():
    with pytest.raises(fxcost.FxcostError, match=r"module 'quant' \(Quantize\) is quantized.*real=True"):
        fxcost.profile(Int8Block(), (torch.randn(2, 3, 6, 6),))


def _q(*shape: int) -> torch.Tensor:
    return torch.quantize_per_tensor(torch.randn(*shape), 0.1, 64, torch.quint8)


PAIRS = {  # a quantized module and the float module it stands for
    "conv1d": (lambda: nnq.Conv1d(4, 6, 3), lambda: nn.Conv1d(4, 6, 3), (1, 4, 9)),
    "conv3d": (lambda: nnq.Conv3d(4, 6, 3), lambda: nn.Conv3d(4, 6, 3), (1, 4, 5, 5, 5)),
    "conv_transpose2d": (
        lambda: nnq.ConvTranspose2d(4, 6, 3, stride=2),
        lambda: nn.ConvTranspose2d(4, 6, 3, stride=2),
        (1, 4, 5, 5),
    ),
    "linear_relu": (lambda: nniq.LinearReLU(5, 7), lambda: nn.Sequential(nn.Linear(5, 7), nn.ReLU()), (3, 5)),
    "relu6": (lambda: nnq.ReLU6(), lambda: nn.ReLU6(), (2, 5)),
    "hardswish": (lambda: nnq.Hardswish(0.1, 0), lambda: nn.Hardswish(), (2, 5)),
}


@pytest.mark.parametrize("name", PAIRS)
def test_quantized_modules_cost_their_float_modules(name):
    make_q, make_f, shape = PAIRS[name]
    x = _q(*shape)
    r, f = fxcost.profile(make_q(), (x,), real=True), fxcost.profile(make_f(), (x.dequantize(),))
    assert r.unsupported == []
    assert (r.total.macs, r.total.flops) == (f.total.macs, f.total.flops)


class Functional(nn.Module):
    """The quantized operators as ``torch.ao.nn.quantized.functional`` and QFunctional call them."""

    def forward(self, a):
        ops = torch.ops.quantized
        y = ops.add(a, a, 0.1, 64)
        y = ops.mul(y, a, 0.1, 64)
        y = ops.add_scalar(y, 2.0)
        y = ops.mul_scalar(y, 2.0)
        y = ops.add_relu(y, a, 0.1, 64)
        y = ops.relu6(y)
        y = ops.hardswish(y, 0.1, 64)
        y = ops.sigmoid(y, 1 / 256, 0)
        return ops.leaky_relu(y, 0.01, False, 0.1, 64)


def test_quantized_elementwise_operators_per_element():
    x = _q(2, 5)
    r = fxcost.profile(Functional(), (x,), real=True)
    assert r.unsupported == []
    assert [n.cost.flops // 10 for n in r.nodes] == [1, 1, 1, 1, 2, 2, 5, 4, 2]


def test_fused_conv_add_relu_on_onednn():
    if "onednn" not in torch.backends.quantized.supported_engines:
        pytest.skip("quantized::conv2d_add_relu needs the onednn engine")
    before = torch.backends.quantized.engine
    torch.backends.quantized.engine = "onednn"
    try:
        x, extra = _q(1, 4, 5, 5), _q(1, 6, 3, 3)
        add = fxcost.profile(nniq.ConvAdd2d(4, 6, 3), (x, extra), real=True)
        add_relu = fxcost.profile(nniq.ConvAddReLU2d(4, 6, 3), (x, extra), real=True)
    finally:
        torch.backends.quantized.engine = before
    macs, out = 6 * 4 * 9 * 9, 6 * 9
    assert (add.total.macs, add.total.flops) == (macs, 2 * macs - out + out + out)  # dots, bias, add
    assert add_relu.total.flops == add.total.flops + out
    assert add_relu.total.bytes_read == x.numel() + extra.numel() + 6 * 4 * 9 + 6 * 4  # int8s, float bias
