"""thop's own numeric expectations (ultralytics/thop: tests/test_conv2d.py, test_matmul.py,
test_relu.py, test_custom_ops.py), ported case by case; the random cases with a fixed seed.

thop counts MACs and leaves out the bias: its numbers are fxcost's ``macs``; parameters are
``report.params``. Not ported: ``test_utils.py`` (thop's ``clever_format`` string style) and the
checks that thop returns Python floats and that its ``stride=`` estimate equals a full profile
(options fxcost does not have: it counts the shapes it is given, in integers).
"""

import pytest
import torch
from torch import nn

import fxcost


def _profile(model, x, **kw):
    return fxcost.profile(model, (x,), strict=True, **kw)


@pytest.mark.parametrize("bias", [False, True])
def test_conv2d(bias):
    net = nn.Conv2d(3, 12, kernel_size=(5, 5), stride=1, padding=1, dilation=1, groups=1, bias=bias)
    assert _profile(net, torch.randn(1, 3, 32, 32)).total.macs == 810000


@pytest.mark.parametrize("root", ["conv", "sequential"])
def test_conv2d_params(root):
    conv = nn.Conv2d(3, 10, kernel_size=3, bias=True)
    net = conv if root == "conv" else nn.Sequential(conv)
    assert _profile(net, torch.randn(1, 3, 224, 224)).params == 3 * 10 * 9 + 10


def test_conv2d_random():
    gen = torch.Generator().manual_seed(0)
    for _ in range(10):
        out_c, kh, kw = torch.randint(1, 20, (3,), generator=gen).tolist()
        n, in_c, ih, iw = torch.randint(1, 20, (4,), generator=gen).tolist()
        ih, iw = ih + kh, iw + kw
        net = nn.Conv2d(in_c, out_c, kernel_size=(kh, kw), stride=1, padding=1, bias=False)
        oh, ow = ih + 2 - kh + 1, iw + 2 - kw + 1
        assert _profile(net, torch.randn(n, in_c, ih, iw)).total.macs == n * out_c * oh * ow * in_c * kh * kw


@pytest.mark.parametrize(
    "in_c, hw, out_c, k, s, p, g, bias",
    [
        (3, 2, 1, 2, 2, 0, 1, False),  # test_convtranspose2d_no_bias
        (3, 2, 1, 2, 2, 0, 1, True),  # test_convtranspose2d
        (8, 4, 4, 3, 1, 1, 2, False),  # test_convtranspose2d_groups
    ],
)
def test_convtranspose2d(in_c, hw, out_c, k, s, p, g, bias):
    net = nn.ConvTranspose2d(in_c, out_c, kernel_size=(k, k), stride=s, padding=p, groups=g, bias=bias)
    # thop: every input element scatters into out_c / groups channels over the kernel
    assert _profile(net, torch.randn(1, in_c, hw, hw)).total.macs == in_c * hw * hw * (out_c // g) * k * k


def test_convtranspose2d_random():
    gen = torch.Generator().manual_seed(0)
    for _ in range(10):
        out_c, kh, kw = torch.randint(1, 10, (3,), generator=gen).tolist()
        n, in_c = torch.randint(1, 5, (2,), generator=gen).tolist()
        stride = int(torch.randint(1, 3, (1,), generator=gen))
        padding = int(torch.randint(0, 2, (1,), generator=gen))
        low = max(3, (2 * padding + kh) // stride + 1, (2 * padding + kw) // stride + 1)
        ih, iw = torch.randint(low, low + 10, (2,), generator=gen).tolist()
        net = nn.ConvTranspose2d(in_c, out_c, kernel_size=(kh, kw), stride=stride, padding=padding, bias=False)
        macs = _profile(net, torch.randn(n, in_c, ih, iw)).total.macs
        assert macs == n * in_c * ih * iw * out_c * kh * kw


def test_conv_vs_convtranspose_symmetry():
    conv = _profile(nn.Conv2d(1, 3, kernel_size=2, stride=2, bias=False), torch.randn(1, 1, 4, 4)).total.macs
    convt = _profile(nn.ConvTranspose2d(3, 1, kernel_size=2, stride=2, bias=False), torch.randn(1, 3, 2, 2)).total.macs
    assert conv == convt == 3 * 2 * 2 * 1 * 2 * 2


def test_matmul():
    assert _profile(nn.Linear(100, 200), torch.randn(1, 100)).total.macs == 100 * 200
    gen = torch.Generator().manual_seed(0)
    for _ in range(10):
        n, in_c, out_c = torch.randint(1, 500, (3,), generator=gen).tolist()
        assert _profile(nn.Linear(in_c, out_c), torch.randn(n, in_c)).total.macs == n * in_c * out_c


def test_relu():
    # thop: 0 MACs; fxcost: no MACs either, one comparison (FLOP) per element
    total = _profile(nn.ReLU(), torch.randn(1, 100)).total
    assert (total.macs, total.flops) == (0, 100)


class CustomModule(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 64, kernel_size=3, padding=1)

    def forward(self, x):
        return self.conv(x)


def test_custom_ops():
    # thop's custom_ops={CustomModule: count}: a rule for the module type. thop expects
    # 173,408,256: its total adds the custom count (86,704,128) to its default count of the conv
    # inside, the same work again. In fxcost a module's rule costs the whole call, once: the
    # inside is not captured as well
    def count(call):
        conv = call.module.conv
        k_h, k_w = conv.kernel_size
        _, _, h, w = call.y.shape
        return fxcost.Cost(macs=k_h * k_w * conv.in_channels * conv.out_channels * h * w // conv.groups)

    reg = fxcost.REGISTRY.copy()
    reg.register(CustomModule)(count)
    r = fxcost.profile(CustomModule(), (torch.randn(1, 3, 224, 224),), registry=reg, strict=True)
    assert (2 * r.total.macs, r.params) == (173408256, 1792)
    assert len(r.nodes) == 1
    assert fxcost.profile(CustomModule(), (torch.randn(1, 3, 224, 224),)).total.macs == r.total.macs
