"""Tensors on real devices inside a meta count: what a forward makes or keeps on the CPU gets what
it would get in eager (RAFT's coordinate grids, SSD's default boxes), and errors name the cause."""

from __future__ import annotations

import pytest
import torch
from helpers import flop_counter_macs
from torch import nn

import fxcost
from fxcost.core.errors import explain_failure


class Grid(nn.Module):
    """RAFT's coords_grid: two aranges with an explicit CPU device, then meshgrid; at a square
    size the two calls are identical, and the second must be on the CPU too."""

    def __init__(self):
        super().__init__()
        self.proj = nn.Conv2d(2, 4, 1)

    def forward(self, x):
        h, w = x.shape[-2:]
        ys, xs = torch.meshgrid(torch.arange(h, device="cpu"), torch.arange(w, device="cpu"), indexing="ij")
        grid = torch.stack([xs, ys]).float()[None].to(x.device)
        return self.proj(grid + x[:, :2])


class DefaultBoxes(nn.Module):
    """SSD's DefaultBoxGenerator: a plain CPU tensor attribute (not a buffer) concatenated with
    tensors made in forward without a device."""

    def __init__(self):
        super().__init__()
        self.wh = torch.tensor([[0.1, 0.2], [0.2, 0.1]])
        self.head = nn.Linear(4, 8)

    def forward(self, x):
        n = x.shape[-1]
        shifts = ((torch.arange(0, n) + 0.5) / n).repeat_interleave(2)[:, None].expand(-1, 2)
        boxes = torch.cat((shifts, self.wh.repeat(n, 1)), dim=1).to(x.device)
        return self.head(boxes) * x.mean()


@pytest.mark.parametrize("capture", ["auto", "record"])
@pytest.mark.parametrize("size", [(8, 8), (8, 12)])
def test_identical_factory_calls_on_the_cpu_stay_on_the_cpu(size, capture):
    model, x = Grid(), torch.randn(1, 4, *size)
    h, w = size
    r = fxcost.profile(model, (x,), capture=capture)
    assert r.unsupported == []
    assert r.total.macs == 4 * 2 * h * w == flop_counter_macs(model, (x,))


@pytest.mark.parametrize("capture", ["auto", "record"])
def test_a_cpu_attribute_meeting_meta_activations_is_counted(capture):
    model, x = DefaultBoxes(), torch.randn(2, 6)
    r = fxcost.profile(model, (x,), capture=capture)
    assert r.total.macs == 12 * 8 * 4 == flop_counter_macs(model, (x,))
    assert fxcost.profile(model, (x,), backward=True).total.macs == 12 * 8 * 4 * 2  # no input grad: dW only
    assert model.wh.device.type == "cpu"


class Misfit(DefaultBoxes):
    def forward(self, x):
        return torch.cat((torch.zeros(2, 3), self.wh), dim=0) * x.mean()  # 3 columns against 2


def test_value_reads_and_device_mixes_are_named_not_shapes():
    with pytest.raises(fxcost.FxcostError, match="reads tensor values") as e:
        fxcost.profile(Gate(), (torch.randn(4),))
    assert "test_devices.py" in str(e.value) and "shapes" not in str(e.value)
    # a mix that fails on one device too: the error eager would give on one device
    with pytest.raises(fxcost.FxcostError, match="Sizes of tensors must match"):
        fxcost.profile(Misfit(), (torch.randn(2, 6),), capture="record")
    mix = RuntimeError("Expected all tensors to be on the same device, but found cpu and meta")
    message = str(explain_failure(mix, "the forward pass", real=False))
    assert "mixes tensors on different devices" in message and "register_buffer" in message


class Gate(nn.Module):
    def forward(self, x):
        return x * 2 if x.sum() > 0 else x
